import type { V1Job, V1JobCondition, V1ObjectMeta } from '@kubernetes/client-node';

/** Epoch ms of an API timestamp: a Date from client-node's deserializer, or the raw string. */
export function millis(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The first condition of one of `types` that is True. */
export function trueCondition(
  conditions: readonly V1JobCondition[],
  ...types: string[]
): V1JobCondition | undefined {
  return conditions.find((condition) => types.includes(condition.type) && condition.status === 'True');
}

/** True when a Job has reached Complete or Failed, in either condition order (before or after 1.31). */
export function isFinished(job: V1Job): boolean {
  return (
    trueCondition(
      job.status?.conditions ?? [],
      'Complete',
      'SuccessCriteriaMet',
      'Failed',
      'FailureTarget',
    ) !== undefined
  );
}

/** Sort order of API objects, newest first (by creationTimestamp). */
export function newestFirst(a: { metadata?: V1ObjectMeta }, b: { metadata?: V1ObjectMeta }): number {
  return (millis(b.metadata?.creationTimestamp) ?? 0) - (millis(a.metadata?.creationTimestamp) ?? 0);
}
