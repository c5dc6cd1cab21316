import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { SimClock } from './clock.js';
import { deletionComplete, requestDeletion, type DeleteOptions, type PropagationPolicy } from './deletion.js';
import { parseJsonObject } from './http-io.js';
import { paginate, type ListPage } from './list-pages.js';
import { generateName } from './names.js';
import { applyPatch, patchTypeOf } from './patch.js';
import { admitCreate, validateQuota } from './quota.js';
import { prepareRbacObject } from './rbac-validation.js';
import type { ObjectFilter } from './selectors.js';
import { StatusError, conflict, notFound } from './status.js';
import { RESOURCES, type KubeObject, type ObjectStore, type ResourceKey } from './store.js';
import {
  dnsLabelProblems,
  invalid,
  prepareJobForCreate,
  prepareJobForUpdate,
  subdomainProblems,
  validateObjectMeta,
} from './validation.js';

/** The object a request addresses: `/…/namespaces/{namespace}/{resource}/{name}/{subresource}`. */
export interface Target {
  resource: ResourceKey;
  namespace: string | undefined;
  name?: string;
  subresource?: 'status' | 'log';
}

/** A handler's answer: HTTP code, body, extra headers. */
export interface Reply {
  code: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** The warning kube-apiserver adds when a Job is deleted without a propagation policy (`pkg/registry/batch/job/storage`). */
export const ORPHAN_WARNING =
  '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"';

/** Resources whose main endpoint ignores `status` (it is written through `/status`). */
const HAS_STATUS = new Set<ResourceKey>(['jobs', 'pods', 'namespaces', 'resourcequotas']);

/** Metadata the server owns: whatever a client sends there is dropped on create. */
const SERVER_METADATA = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
];

function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

/** The body's kind/apiVersion, when given, must be the endpoint's. */
function checkKind(obj: KubeObject, resource: ResourceKey): void {
  const type = RESOURCES[resource];
  if (obj.apiVersion !== undefined && obj.apiVersion !== type.apiVersion) {
    throw badRequest(
      `the API version in the data (${obj.apiVersion}) does not match the expected API version (${type.apiVersion})`,
    );
  }
  if (obj.kind !== undefined && obj.kind !== type.kind) {
    throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${type.kind})`);
  }
}

export class ResourceHandlers {
  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
  ) {}

  get(target: Target): KubeObject {
    return this.store.get(target.resource, target.namespace, target.name!);
  }

  /** One page of matching objects (decorated with kind/apiVersion; the caller shapes the list). */
  list(target: Target, filter: ObjectFilter, query: URLSearchParams): ListPage {
    const { items, resourceVersion } = this.store.list(target.resource, target.namespace, filter.matches);
    return paginate(query, {
      items,
      resourceVersion,
      oldestVersion: this.store.oldestWatchableVersion,
      exactCount: filter.empty,
    });
  }

  create(target: Target, body: string): KubeObject {
    const input = parseJsonObject<KubeObject>(body);
    checkKind(input, target.resource);
    input.metadata = { ...input.metadata };
    this.placeInNamespace(input, target);
    for (const field of SERVER_METADATA) delete input.metadata[field];
    const name =
      input.metadata.name || (input.metadata.generateName ? generateName(input.metadata.generateName) : '');
    const uid = randomUUID();
    const prepared = this.prepareForCreate(target.resource, input, name, uid);
    prepared.metadata.name = name;
    prepared.metadata.uid = uid;
    admitCreate(this.store, target.resource, prepared, this.clock.now());
    return this.store.create(target.resource, prepared);
  }

  /** PUT of the object or of its `/status`. */
  update(target: Target, body: string): KubeObject {
    const input = parseJsonObject<KubeObject>(body);
    checkKind(input, target.resource);
    input.metadata = { ...input.metadata };
    if (input.metadata.name !== target.name) {
      throw badRequest(
        `the name of the object (${input.metadata.name ?? ''}) does not match the name on the URL (${target.name})`,
      );
    }
    this.placeInNamespace(input, target);
    return this.write(target, this.get(target), input);
  }

  patch(target: Target, contentType: string | undefined, body: string): KubeObject {
    const type = patchTypeOf(contentType);
    const current = this.get(target);
    const patched = applyPatch(type, current, body);
    if (typeof patched !== 'object' || patched === null || Array.isArray(patched) || !patched.metadata) {
      throw new StatusError(422, 'Invalid', 'the patch did not produce an object with metadata');
    }
    if (patched.metadata.name !== target.name) {
      throw badRequest(
        `the name of the object (${patched.metadata.name ?? ''}) does not match the name on the URL (${target.name})`,
      );
    }
    this.placeInNamespace(patched, target);
    return this.write(target, current, patched);
  }

  /**
   * DELETE. Jobs without a propagation policy are orphaned and the reply warns about it, as the
   * batch/v1 REST strategy does. The object itself is answered while it lingers (finalizers or a
   * grace period) and always for pods; otherwise a Status Success.
   */
  delete(target: Target, body: string, query: URLSearchParams): Reply {
    if (target.resource === 'namespaces') {
      throw new StatusError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    }
    const options = deleteOptionsOf(body, query);
    const headers: Record<string, string> = {};
    if (target.resource === 'jobs' && !options.propagationPolicy) {
      options.propagationPolicy = 'Orphan';
      headers.warning = ORPHAN_WARNING;
    }
    const { removed, object } = requestDeletion(
      this.store,
      this.clock,
      target.resource,
      target.namespace,
      target.name!,
      options,
    );
    if (!removed || target.resource === 'pods') return { code: 200, body: object, headers };
    const type = RESOURCES[target.resource];
    const details = {
      name: target.name,
      ...(type.group ? { group: type.group } : {}),
      kind: type.resource,
      uid: object.metadata.uid,
    };
    return {
      code: 200,
      body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details },
      headers,
    };
  }

  private placeInNamespace(obj: KubeObject, target: Target): void {
    if (!RESOURCES[target.resource].namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    if (obj.metadata.namespace && obj.metadata.namespace !== target.namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    obj.metadata.namespace = target.namespace;
    if (!this.store.tryGet('namespaces', undefined, target.namespace!)) {
      throw notFound(RESOURCES.namespaces, target.namespace!);
    }
  }

  /** Defaults and validation of a new object (the registry strategies' PrepareForCreate and Validate). */
  private prepareForCreate(resource: ResourceKey, input: KubeObject, name: string, uid: string): KubeObject {
    if (resource === 'jobs') return prepareJobForCreate(input, name, uid);
    if (resource === 'roles' || resource === 'rolebindings') {
      return prepareRbacObject(resource, { ...input, metadata: { ...input.metadata, name } });
    }
    const obj = structuredClone(input);
    const type = RESOURCES[resource];
    const nameProblems = resource === 'namespaces' ? dnsLabelProblems : subdomainProblems;
    const errors = validateObjectMeta({ ...obj, metadata: { ...obj.metadata, name } }, nameProblems);
    if (errors.length) throw invalid({ group: type.group, kind: type.kind }, name, errors);
    if (resource === 'pods') obj.status = { phase: 'Pending' };
    if (resource === 'resourcequotas') {
      validateQuota(obj);
      obj.status = {};
    }
    if (resource === 'namespaces') {
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name };
      obj.spec = { finalizers: ['kubernetes'] };
      obj.status = { phase: 'Active' };
    }
    return obj;
  }

  /**
   * Writes an update of the object (status kept from the stored one) or of its status (everything
   * else kept). A no-op update is not written, so it keeps its resourceVersion, as in the API server.
   */
  private write(target: Target, current: KubeObject, input: KubeObject): KubeObject {
    let next: KubeObject;
    if (target.subresource === 'status') {
      next = { ...current, status: input.status };
      next.metadata = { ...current.metadata, resourceVersion: input.metadata.resourceVersion };
    } else {
      next = { ...input, metadata: { ...input.metadata } };
      if (HAS_STATUS.has(target.resource)) next.status = current.status;
      next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      next.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
      next = prepareForUpdate(target.resource, current, next);
    }
    for (const obj of [current, next]) {
      delete obj.kind;
      delete obj.apiVersion;
    }
    const unchanged = isDeepStrictEqual(
      withoutVersion(JSON.parse(JSON.stringify(current)) as KubeObject),
      withoutVersion(JSON.parse(JSON.stringify(next)) as KubeObject),
    );
    const stale =
      !!next.metadata.resourceVersion && next.metadata.resourceVersion !== current.metadata.resourceVersion;
    if (unchanged && !stale) return this.get(target);
    // dropping the last finalizer of an object being deleted removes it (`shouldDeleteDuringUpdate`)
    if (deletionComplete(target.resource, next)) {
      if (stale) throw conflict(RESOURCES[target.resource], target.name!);
      return this.store.remove(target.resource, target.namespace, target.name!);
    }
    return this.store.update(target.resource, next);
  }
}

/** Defaults and validation of an update (the registry strategies' PrepareForUpdate and ValidateUpdate). */
function prepareForUpdate(resource: ResourceKey, current: KubeObject, next: KubeObject): KubeObject {
  switch (resource) {
    case 'jobs':
      return prepareJobForUpdate(current, next);
    case 'roles':
    case 'rolebindings':
      return prepareRbacObject(resource, next, current);
    case 'resourcequotas':
      validateQuota(next);
      return next;
    default:
      return next;
  }
}

function withoutVersion(obj: KubeObject): KubeObject {
  delete obj.metadata.resourceVersion;
  return obj;
}

const POLICIES: readonly PropagationPolicy[] = ['Orphan', 'Background', 'Foreground'];

/** DeleteOptions from the body (JSON, possibly empty) and the query string, the query winning. */
export function deleteOptionsOf(body: string, query: URLSearchParams): DeleteOptions {
  const fromBody = body.trim()
    ? parseJsonObject<DeleteOptions & { orphanDependents?: boolean }>(body)
    : ({} as DeleteOptions & { orphanDependents?: boolean });
  const policy = query.get('propagationPolicy') ?? fromBody.propagationPolicy;
  const grace = query.get('gracePeriodSeconds') ?? fromBody.gracePeriodSeconds;
  const orphan = query.get('orphanDependents') ?? fromBody.orphanDependents;
  if (policy !== undefined && !POLICIES.includes(policy as PropagationPolicy)) {
    throw invalid({ group: '', kind: 'DeleteOptions' }, '', [
      {
        reason: 'FieldValueNotSupported',
        field: 'propagationPolicy',
        message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
      },
    ]);
  }
  const options: DeleteOptions = {};
  // the deprecated orphanDependents maps onto a policy when no policy is given
  if (policy) options.propagationPolicy = policy as PropagationPolicy;
  else if (orphan !== undefined)
    options.propagationPolicy = String(orphan) === 'true' ? 'Orphan' : 'Background';
  if (grace !== undefined && grace !== null) options.gracePeriodSeconds = Number(grace);
  if (fromBody.preconditions) options.preconditions = fromBody.preconditions;
  return options;
}
