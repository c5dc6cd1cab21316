import { forbidden } from './status.js';
import { RESOURCES, type KubeObject, type ObjectStore, type ResourceKey } from './store.js';
import { invalid, invalidValue, type FieldError } from './validation.js';

/** What the simulator counts against a ResourceQuota's `spec.hard`; other names are kept but not counted. */
const COUNTED = ['count/jobs.batch', 'pods'] as const;
export type Counted = (typeof COUNTED)[number];

/** The quota resource a new object of `resource` consumes one of. */
const CHARGED: Partial<Record<ResourceKey, Counted>> = { pods: 'pods', jobs: 'count/jobs.batch' };

export interface ResourceQuota extends KubeObject {
  spec?: { hard?: Record<string, string | number> };
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

interface PodShape {
  status?: { phase?: string };
}

/**
 * Whether a pod is charged to `pods` (the quota pod evaluator's `QuotaV1Pod`): not once it is
 * Succeeded or Failed, nor once it has been terminating for its grace period past its
 * deletionTimestamp (stuck on a lost node).
 */
function chargesPod(pod: KubeObject, now: number): boolean {
  const phase = (pod as PodShape).status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  const { deletionTimestamp, deletionGracePeriodSeconds } = pod.metadata;
  if (deletionTimestamp === undefined || deletionGracePeriodSeconds === undefined) return true;
  return now <= Date.parse(deletionTimestamp) + deletionGracePeriodSeconds * 1000;
}

/** A namespace's usage of every counted quota resource at simulated time `now`. */
export function quotaUsage(store: ObjectStore, namespace: string, now: number): Record<Counted, number> {
  return {
    pods: store.list('pods', namespace, (pod) => chargesPod(pod, now)).items.length,
    'count/jobs.batch': store.list('jobs', namespace).items.length,
  };
}

/** The limit a quota sets on a counted resource, if it sets one. */
function hardOf(quota: ResourceQuota, resource: Counted): number | undefined {
  const value = quota.spec?.hard?.[resource];
  return value === undefined ? undefined : Number(value);
}

/**
 * ResourceQuota admission of a new object (the apiserver's resourcequota plugin): the first quota
 * of the namespace, by name, whose limit the object would exceed refuses it with
 * `403 <resource> "<name>" is forbidden: exceeded quota: <quota>, requested: pods=1, used: pods=N, limited: pods=N`.
 * `obj` carries its final name (generateName already resolved).
 */
export function admitCreate(store: ObjectStore, resource: ResourceKey, obj: KubeObject, now: number): void {
  const charged = CHARGED[resource];
  const namespace = obj.metadata.namespace;
  if (!charged || !namespace) return;
  const quotas = store.list('resourcequotas', namespace).items as ResourceQuota[];
  const limited = quotas.filter((quota) => hardOf(quota, charged) !== undefined);
  if (!limited.length) return;
  const used = quotaUsage(store, namespace, now)[charged];
  for (const quota of limited) {
    const hard = hardOf(quota, charged)!;
    if (used + 1 <= hard) continue;
    throw forbidden(
      RESOURCES[resource],
      obj.metadata.name ?? '',
      `exceeded quota: ${quota.metadata.name}, requested: ${charged}=1, used: ${charged}=${used}, limited: ${charged}=${hard}`,
    );
  }
}

/** Validates a ResourceQuota being stored: counted limits must be non-negative integers. Throws 422 Invalid. */
export function validateQuota(quota: ResourceQuota): void {
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(quota.spec?.hard ?? {})) {
    if ((COUNTED as readonly string[]).includes(name) && !/^\d+$/.test(String(value))) {
      errors.push(invalidValue(`spec.hard[${name}]`, value, 'must be a non-negative integer'));
    }
  }
  if (errors.length) throw invalid({ group: '', kind: 'ResourceQuota' }, quota.metadata.name ?? '', errors);
}

/** The status the quota controller keeps: `hard` as in the spec, `used` for the counted resources it limits. */
export function quotaStatus(quota: ResourceQuota, usage: Record<Counted, number>): ResourceQuota['status'] {
  const hard = Object.fromEntries(Object.entries(quota.spec?.hard ?? {}).map(([k, v]) => [k, String(v)]));
  const used = Object.fromEntries(
    COUNTED.filter((resource) => resource in hard).map((resource) => [resource, String(usage[resource])]),
  );
  return { hard, used };
}

/** When the next terminating pod of a namespace stops being charged (a quota's usage drops without a write). */
export function nextUsageDrop(store: ObjectStore, namespace: string, now: number): number | undefined {
  const ends = store
    .list('pods', namespace, (pod) => chargesPod(pod, now) && pod.metadata.deletionTimestamp !== undefined)
    .items.map(
      (pod) =>
        Date.parse(pod.metadata.deletionTimestamp!) + (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000,
    );
  return ends.length ? Math.min(...ends) : undefined;
}
