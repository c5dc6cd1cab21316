import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { SimClock } from './clock.js';
import { generateName } from './names.js';
import { alreadyExists, conflict, expired, notFound, type ResourceName } from './status.js';

/** The object metadata the store manages; the rest of an object is opaque to it. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/**
 * A resource the store holds: `jobs` (group batch), `pods`, `events`, `namespaces`, `resourcequotas`
 * (core group ''), `roles` and `rolebindings` (group rbac.authorization.k8s.io).
 */
export interface ResourceType extends ResourceName {
  kind: string;
  apiVersion: string;
  namespaced: boolean;
}

export const RESOURCES = {
  jobs: { resource: 'jobs', group: 'batch', kind: 'Job', apiVersion: 'batch/v1', namespaced: true },
  pods: { resource: 'pods', group: '', kind: 'Pod', apiVersion: 'v1', namespaced: true },
  events: { resource: 'events', group: '', kind: 'Event', apiVersion: 'v1', namespaced: true },
  namespaces: { resource: 'namespaces', group: '', kind: 'Namespace', apiVersion: 'v1', namespaced: false },
  resourcequotas: {
    resource: 'resourcequotas',
    group: '',
    kind: 'ResourceQuota',
    apiVersion: 'v1',
    namespaced: true,
  },
  roles: {
    resource: 'roles',
    group: 'rbac.authorization.k8s.io',
    kind: 'Role',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    namespaced: true,
  },
  rolebindings: {
    resource: 'rolebindings',
    group: 'rbac.authorization.k8s.io',
    kind: 'RoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;
export type ResourceKey = keyof typeof RESOURCES;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as recorded in the bounded history and delivered to watchers. */
export interface StoreChange {
  type: WatchEventType;
  resource: ResourceKey;
  /** the cluster-wide resourceVersion of this change */
  resourceVersion: number;
  /** full object with kind and apiVersion (a private copy: never mutate) */
  object: KubeObject;
  /** MODIFIED only: the object before the change, so that filtered watches can tell an object
   * that stopped matching their selector from one that started to (the watch cache's prevObject) */
  previous?: KubeObject;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

export interface StoreOptions {
  clock: SimClock;
  /** how many changes the watch history keeps; a watch from an older version gets 410 Expired */
  historySize?: number;
}

const clone = <T>(value: T): T => structuredClone(value);

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/**
 * The simulated cluster's storage (etcd's role): objects by resource, a cluster-wide monotonic
 * resourceVersion, optimistic concurrency and a bounded change history for watches.
 * Every object handed in or out is a copy. Emits `change` (StoreChange) after each write.
 */
export class ObjectStore extends EventEmitter<{ change: [StoreChange] }> {
  private readonly objects = new Map<ResourceKey, Map<string, KubeObject>>();
  private readonly history: StoreChange[] = [];
  private readonly historySize: number;
  private readonly clock: SimClock;
  private rv = 1;

  constructor(options: StoreOptions) {
    super();
    this.setMaxListeners(0);
    this.clock = options.clock;
    this.historySize = options.historySize ?? 1000;
    for (const key of Object.keys(RESOURCES) as ResourceKey[]) this.objects.set(key, new Map());
  }

  /** The current cluster-wide resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** The oldest resourceVersion a watch may resume from without 410 Expired. */
  get oldestWatchableVersion(): number {
    return this.history.length ? this.history[0]!.resourceVersion - 1 : this.rv;
  }

  private bucket(resource: ResourceKey): Map<string, KubeObject> {
    return this.objects.get(resource)!;
  }

  private decorate(resource: ResourceKey, obj: KubeObject): KubeObject {
    const type = RESOURCES[resource];
    return { ...obj, apiVersion: type.apiVersion, kind: type.kind };
  }

  private record(
    type: WatchEventType,
    resource: ResourceKey,
    stored: KubeObject,
    previous?: KubeObject,
  ): void {
    const change: StoreChange = {
      type,
      resource,
      resourceVersion: Number(stored.metadata.resourceVersion),
      object: this.decorate(resource, clone(stored)),
      ...(previous ? { previous: this.decorate(resource, clone(previous)) } : {}),
    };
    this.history.push(change);
    if (this.history.length > this.historySize) this.history.shift();
    this.emit('change', change);
  }

  get(resource: ResourceKey, namespace: string | undefined, name: string): KubeObject {
    const found = this.bucket(resource).get(keyOf(namespace, name));
    if (!found) throw notFound(RESOURCES[resource], name);
    return this.decorate(resource, clone(found));
  }

  tryGet(resource: ResourceKey, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.bucket(resource).get(keyOf(namespace, name));
    return found ? this.decorate(resource, clone(found)) : undefined;
  }

  /**
   * Items (with kind/apiVersion) of one namespace, or of all when namespace is undefined, sorted by
   * key. `filter` must not change what it is given.
   */
  list(resource: ResourceKey, namespace?: string, filter?: (obj: KubeObject) => boolean): ListResult {
    const items: KubeObject[] = [];
    const keys = [...this.bucket(resource).keys()].sort();
    for (const key of keys) {
      const obj = this.bucket(resource).get(key)!;
      if (namespace !== undefined && obj.metadata.namespace !== namespace) continue;
      // The filter sees the stored object (read only); only the matches are copied, so a selective
      // list over many objects stays cheap.
      if (filter && !filter(this.decorate(resource, obj))) continue;
      items.push(this.decorate(resource, clone(obj)));
    }
    return { items, resourceVersion: String(this.rv) };
  }

  /**
   * Stores a new object: resolves generateName, sets uid (unless the caller chose one: the API layer
   * strips client-sent uids and may pre-assign one to derive labels from it), creationTimestamp,
   * resourceVersion and generation. Throws 409 AlreadyExists. `createdAt` backdates the object (a
   * test's stand-in for one left over from long ago); the API layer never passes it.
   */
  create(resource: ResourceKey, input: KubeObject, createdAt?: number): KubeObject {
    const obj = clone(input);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) {
      do {
        meta.name = generateName(meta.generateName);
      } while (this.bucket(resource).has(keyOf(meta.namespace, meta.name)));
    }
    const name = meta.name!;
    const key = keyOf(meta.namespace, name);
    if (this.bucket(resource).has(key)) throw alreadyExists(RESOURCES[resource], name);
    meta.uid ??= randomUUID();
    meta.creationTimestamp = this.clock.timestamp(createdAt);
    meta.resourceVersion = String(++this.rv);
    if (resource === 'jobs') meta.generation = 1;
    delete obj.apiVersion;
    delete obj.kind;
    this.bucket(resource).set(key, obj);
    this.record('ADDED', resource, obj);
    return this.decorate(resource, clone(obj));
  }

  /**
   * Replaces an object. When `obj.metadata.resourceVersion` is set and differs from the stored one,
   * throws 409 Conflict. Bumps `generation` when `spec` changed (jobs).
   */
  update(resource: ResourceKey, input: KubeObject): KubeObject {
    const obj = clone(input);
    const name = obj.metadata.name!;
    const key = keyOf(obj.metadata.namespace, name);
    const current = this.bucket(resource).get(key);
    if (!current) throw notFound(RESOURCES[resource], name);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(RESOURCES[resource], name);
    }
    obj.metadata.uid = current.metadata.uid;
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp;
    if (current.metadata.generation !== undefined) {
      const specChanged = JSON.stringify(current.spec) !== JSON.stringify(obj.spec);
      obj.metadata.generation = current.metadata.generation + (specChanged ? 1 : 0);
    }
    obj.metadata.resourceVersion = String(++this.rv);
    delete obj.apiVersion;
    delete obj.kind;
    this.bucket(resource).set(key, obj);
    this.record('MODIFIED', resource, obj, current);
    return this.decorate(resource, clone(obj));
  }

  /** Reads, changes and writes back an object in one step (controllers' status writes). */
  mutate(
    resource: ResourceKey,
    namespace: string | undefined,
    name: string,
    change: (obj: KubeObject) => void,
  ): KubeObject {
    const current = this.get(resource, namespace, name);
    change(current);
    current.metadata.resourceVersion = undefined;
    return this.update(resource, current);
  }

  /** Removes an object now (finalizers and propagation are the API layer's and controllers' job). */
  remove(resource: ResourceKey, namespace: string | undefined, name: string): KubeObject {
    const key = keyOf(namespace, name);
    const current = this.bucket(resource).get(key);
    if (!current) throw notFound(RESOURCES[resource], name);
    this.bucket(resource).delete(key);
    current.metadata.resourceVersion = String(++this.rv);
    this.record('DELETED', resource, current);
    return this.decorate(resource, clone(current));
  }

  /**
   * Changes of `resource` after `fromVersion` still in the history. Throws 410 Expired when
   * `fromVersion` is older than the history reaches.
   */
  changesSince(resource: ResourceKey, fromVersion: number): StoreChange[] {
    if (fromVersion < this.oldestWatchableVersion) {
      throw expired(`too old resource version: ${fromVersion} (${this.oldestWatchableVersion + 1})`);
    }
    return this.history.filter((c) => c.resource === resource && c.resourceVersion > fromVersion).map(clone);
  }
}
