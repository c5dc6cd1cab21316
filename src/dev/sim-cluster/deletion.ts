import type { SimClock } from './clock.js';
import { qualified, StatusError } from './status.js';
import { RESOURCES, type KubeObject, type ObjectStore, type ResourceKey } from './store.js';

export type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground';

export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeletionResult {
  /** true when the object left the store (DELETED watch event); false while finalizers or a grace period hold it */
  removed: boolean;
  /** the object as removed, or as it stays with its deletionTimestamp */
  object: KubeObject;
}

export const FOREGROUND_DELETION = 'foregroundDeletion';
const DEFAULT_POD_GRACE_SECONDS = 30;

interface PodShape {
  spec?: { nodeName?: string; terminationGracePeriodSeconds?: number };
  status?: { phase?: string };
}

function preconditionFailed(resource: ResourceKey, name: string, detail: string): StatusError {
  const type = RESOURCES[resource];
  return new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(type)} "${name}": Precondition failed: ${detail}`,
    { name, ...(type.group ? { group: type.group } : {}), kind: type.resource },
  );
}

function checkPreconditions(
  resource: ResourceKey,
  obj: KubeObject,
  preconditions: DeleteOptions['preconditions'],
): void {
  const meta = obj.metadata;
  if (preconditions?.uid !== undefined && preconditions.uid !== meta.uid) {
    throw preconditionFailed(
      resource,
      meta.name!,
      `UID in precondition: ${preconditions.uid}, UID in object meta: ${meta.uid}`,
    );
  }
  if (
    preconditions?.resourceVersion !== undefined &&
    preconditions.resourceVersion !== meta.resourceVersion
  ) {
    throw preconditionFailed(
      resource,
      meta.name!,
      `ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`,
    );
  }
}

/**
 * True when a deleting object has nothing left to wait for, so the API server removes it instead of
 * storing it (the registry's `shouldDeleteDuringUpdate`): no finalizers and, for pods, the kubelet has
 * given up the grace period (deletionGracePeriodSeconds 0). The API server's update path calls this too.
 */
export function deletionComplete(resource: ResourceKey, obj: KubeObject): boolean {
  const meta = obj.metadata;
  if (!meta.deletionTimestamp || meta.finalizers?.length) return false;
  return resource !== 'pods' || meta.deletionGracePeriodSeconds === 0;
}

/** Writes `obj` back, or removes it (a single DELETED event) when that write would complete its deletion. */
export function writeOrRemove(store: ObjectStore, resource: ResourceKey, obj: KubeObject): DeletionResult {
  if (deletionComplete(resource, obj)) {
    return { removed: true, object: store.remove(resource, obj.metadata.namespace, obj.metadata.name!) };
  }
  return {
    removed: false,
    object: store.update(resource, { ...obj, metadata: { ...obj.metadata, resourceVersion: undefined } }),
  };
}

/** Takes a finalizer off an object; completes its deletion when that was the last thing holding it. */
export function removeFinalizer(
  store: ObjectStore,
  resource: ResourceKey,
  namespace: string | undefined,
  name: string,
  finalizer: string,
): DeletionResult | undefined {
  const obj = store.tryGet(resource, namespace, name);
  if (!obj?.metadata.finalizers?.includes(finalizer)) return undefined;
  const finalizers = obj.metadata.finalizers.filter((f) => f !== finalizer);
  obj.metadata.finalizers = finalizers.length ? finalizers : undefined;
  return writeOrRemove(store, resource, obj);
}

/** Pods whose ownerReferences point at `ownerUid`. */
export function dependentsOf(
  store: ObjectStore,
  namespace: string | undefined,
  ownerUid: string,
): KubeObject[] {
  return store.list(
    'pods',
    namespace,
    (pod) => !!pod.metadata.ownerReferences?.some((ref) => ref.uid === ownerUid),
  ).items;
}

function orphanDependents(store: ObjectStore, owner: KubeObject): void {
  for (const pod of dependentsOf(store, owner.metadata.namespace, owner.metadata.uid!)) {
    store.mutate('pods', pod.metadata.namespace, pod.metadata.name!, (p) => {
      const refs = p.metadata.ownerReferences?.filter((ref) => ref.uid !== owner.metadata.uid);
      p.metadata.ownerReferences = refs?.length ? refs : undefined;
    });
  }
}

/**
 * Pod deletion (pod strategy `CheckGracefulDelete`): unscheduled or terminated pods go at once; others
 * get `deletionTimestamp` = now + grace and wait for the kubelet to stop their containers, which then
 * deletes them again with grace 0. Finalizers hold the object after that.
 */
function deletePod(store: ObjectStore, clock: SimClock, pod: KubeObject, requested?: number): DeletionResult {
  const { spec, status } = pod as PodShape;
  const terminal = status?.phase === 'Succeeded' || status?.phase === 'Failed';
  let grace = requested ?? spec?.terminationGracePeriodSeconds ?? DEFAULT_POD_GRACE_SECONDS;
  if (!spec?.nodeName || terminal) grace = 0;
  const meta = pod.metadata;
  // a repeated delete may only shorten a grace period already running
  if (
    meta.deletionTimestamp &&
    meta.deletionGracePeriodSeconds !== undefined &&
    grace >= meta.deletionGracePeriodSeconds
  ) {
    return { removed: false, object: pod };
  }
  meta.deletionTimestamp = clock.timestamp(clock.now() + grace * 1000);
  meta.deletionGracePeriodSeconds = grace;
  return writeOrRemove(store, 'pods', pod);
}

/**
 * The DELETE verb with the API server's garbage-collection semantics (propagation policies,
 * finalizers, graceful pod deletion). The caller passes the
 * effective propagation policy (the API server applies the Orphan default of batch/v1 Jobs); without
 * one, dependents are deleted in the background. Throws 404, or 409 for a failed precondition.
 */
export function requestDeletion(
  store: ObjectStore,
  clock: SimClock,
  resource: ResourceKey,
  namespace: string | undefined,
  name: string,
  options: DeleteOptions,
): DeletionResult {
  const obj = store.get(resource, namespace, name);
  checkPreconditions(resource, obj, options.preconditions);
  if (resource === 'pods') return deletePod(store, clock, obj, options.gracePeriodSeconds);
  if (obj.metadata.deletionTimestamp) return { removed: false, object: obj };

  const policy = options.propagationPolicy ?? 'Background';
  if (policy === 'Orphan') orphanDependents(store, obj);
  obj.metadata.deletionTimestamp = clock.timestamp();
  obj.metadata.deletionGracePeriodSeconds = 0;
  // Foreground: the garbage collector deletes the dependents, then drops this finalizer
  if (policy === 'Foreground')
    obj.metadata.finalizers = [...(obj.metadata.finalizers ?? []), FOREGROUND_DELETION];
  // Background: the garbage collector deletes dependents whose owner is gone
  return writeOrRemove(store, resource, obj);
}
