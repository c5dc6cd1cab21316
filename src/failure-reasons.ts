/**
 * Why a build did not succeed: the one vocabulary kjl reports in events, in the failed set, in
 * `kjl status` and (as `metric`) in the `k8s_job_failures_total{reason}` label. Every failure the
 * cluster side or the application layer reports names one of these.
 */
export const FAILURE_REASONS = {
  BackoffLimitExceeded: {
    retryable: false,
    metric: 'error',
    doc: 'The Job failed and nothing more specific is known (its pods are gone).',
  },
  DeadlineExceeded: {
    retryable: false,
    metric: 'timeout',
    doc: 'The Job ran longer than `activeDeadlineSeconds`.',
  },
  OOMKilled: { retryable: false, metric: 'oom', doc: 'A container ran out of memory.' },
  Error: {
    retryable: false,
    metric: 'error',
    doc: 'A container exited non-zero (`exitCode` set), or could not be created past the start timeout.',
  },
  ImagePullBackOff: {
    retryable: false,
    metric: 'image_pull',
    doc: 'An image could not be pulled by the start timeout.',
  },
  Evicted: { retryable: true, metric: 'evicted', doc: 'The kubelet or the eviction API took the pod away.' },
  Preempted: { retryable: true, metric: 'preempted', doc: 'The scheduler preempted the pod.' },
  NodeLost: {
    retryable: true,
    metric: 'evicted',
    doc: 'The pod was deleted with its node (taint manager, pod GC).',
  },
  Unschedulable: {
    retryable: true,
    metric: 'unschedulable',
    doc: 'No node took the pod, or its pod could not be created, by the start timeout (a pod a ResourceQuota refuses waits instead).',
  },
  JobDeleted: {
    retryable: true,
    metric: 'deleted',
    doc: 'The Job was deleted before it finished, by something other than `kjl cancel`.',
  },
  ApiError: {
    retryable: true,
    metric: 'api_error',
    doc: 'The Kubernetes API could not be reached or kept failing (after its retries).',
  },
  ApiRejected: {
    retryable: false,
    metric: 'api_error',
    doc: 'The API server refused the Job (422 invalid, 403 forbidden): its message is kept.',
  },
  JobConflict: {
    retryable: false,
    metric: 'error',
    doc: "A Job with the build's name exists and belongs to another request or deployment.",
  },
  TemplateInvalid: {
    retryable: false,
    metric: 'error',
    doc: "The request's template is not loaded or does not validate.",
  },
  EnvNotAllowed: {
    retryable: false,
    metric: 'error',
    doc: "The request's `env` sets a variable its template sets, or one only a template may allow.",
  },
} as const satisfies Record<string, { retryable: boolean; metric: string; doc: string }>;

export type FailureReason = keyof typeof FAILURE_REASONS;

/** Why a build was cancelled: by `kjl cancel` (or the API), or by newer content for its target. */
export type CancelReason = 'Cancelled' | 'Superseded';

export function isRetryable(reason: FailureReason): boolean {
  return FAILURE_REASONS[reason].retryable;
}
