import type {
  V1ContainerStatus,
  V1Job,
  V1JobCondition,
  V1Pod,
  V1PodCondition,
} from '@kubernetes/client-node';
import { FAILURE_REASONS, type FailureReason } from '../failure-reasons.js';
import { millis, newestFirst, trueCondition } from './kube-objects.js';
import { describeCreationFailure, type PodCreationFailure } from './pod-creation.js';

export type JobState = 'running' | 'pending' | 'succeeded' | 'failed';

export interface JobOutcome {
  state: JobState;
  /** set when failed */
  reason?: FailureReason;
  /** set when failed: whether the request is requeued (after the failure backoff) */
  retryable?: boolean;
  message?: string;
  exitCode?: number;
  /** the pod the cause was read from */
  podName?: string;
  /** the container the cause was read from */
  container?: string;
}

export interface ClassifyOptions {
  /** a pod still Pending (unschedulable, image not pulled) after this long fails the Job */
  startTimeoutSeconds: number;
  /** why the Job's pod could not be created, from its Events, when they were read */
  podCreation?: PodCreationFailure;
}

const IMAGE_PULL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
]);
const CREATE_WAITING = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);
const EVICTION = new Set(['TerminationByKubelet', 'EvictionByEvictionAPI']);
const NODE_LOST = new Set(['DeletionByTaintManager', 'DeletionByPodGC']);

function failed(
  reason: FailureReason,
  fields: Omit<JobOutcome, 'state' | 'reason' | 'retryable'>,
): JobOutcome {
  const outcome: JobOutcome = { state: 'failed', reason, retryable: FAILURE_REASONS[reason].retryable };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (outcome as unknown as Record<string, unknown>)[key] = value;
  }
  return outcome;
}

/** A container status with the pod and whether it is a native sidecar (restartPolicy Always). */
interface ContainerRef {
  pod: V1Pod;
  status: V1ContainerStatus;
  sidecar: boolean;
}

/** Regular containers first, then init containers; native sidecars last (they never decide). */
function containersOf(pod: V1Pod): ContainerRef[] {
  const sidecars = new Set(
    (pod.spec?.initContainers ?? [])
      .filter((container) => container.restartPolicy === 'Always')
      .map((container) => container.name),
  );
  const regular = (pod.status?.containerStatuses ?? []).map((status) => ({ pod, status, sidecar: false }));
  const init = (pod.status?.initContainerStatuses ?? []).map((status) => ({
    pod,
    status,
    sidecar: sidecars.has(status.name),
  }));
  return [...regular, ...init.filter((ref) => !ref.sidecar), ...init.filter((ref) => ref.sidecar)];
}

function disruption(pod: V1Pod): V1PodCondition | undefined {
  return pod.status?.conditions?.find(
    (condition) => condition.type === 'DisruptionTarget' && condition.status === 'True',
  );
}

/** Only the pods of this Job incarnation: a recreated Job (same name) must not inherit old pods. */
export function ownPods(job: V1Job, pods: readonly V1Pod[]): V1Pod[] {
  const uid = job.metadata?.uid;
  const own = uid
    ? pods.filter((pod) => {
        const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller);
        const label = pod.metadata?.labels?.['batch.kubernetes.io/controller-uid'];
        return (owner ? owner.uid === uid : true) && (label ? label === uid : true);
      })
    : [...pods];
  // newest first: the last attempt tells the most
  return own.sort(newestFirst);
}

/** The cause of a failed Job, read from its pods first, then from its condition. */
function failureCause(condition: V1JobCondition, pods: V1Pod[]): JobOutcome {
  const containers = pods.flatMap(containersOf);
  for (const { pod, status, sidecar } of containers) {
    const terminated = status.state?.terminated ?? status.lastState?.terminated;
    // a native sidecar is restarted after an OOM kill: it never fails the pod
    if (!sidecar && terminated?.reason === 'OOMKilled') {
      return failed('OOMKilled', {
        message: `OOMKilled (exit ${terminated.exitCode}) in container ${status.name}`,
        exitCode: terminated.exitCode,
        podName: pod.metadata?.name,
        container: status.name,
      });
    }
  }
  for (const pod of pods) {
    const target = disruption(pod);
    const podName = pod.metadata?.name;
    if (pod.status?.reason === 'Evicted' || (target && EVICTION.has(target.reason ?? ''))) {
      return failed('Evicted', {
        message: pod.status?.message || target?.message || `pod ${podName} was evicted`,
        podName,
      });
    }
    if (target?.reason === 'PreemptionByScheduler') {
      return failed('Preempted', { message: target.message || `pod ${podName} was preempted`, podName });
    }
    if (target && NODE_LOST.has(target.reason ?? '')) {
      return failed('NodeLost', {
        message: target.message || `pod ${podName} was deleted with its node (${target.reason})`,
        podName,
      });
    }
  }
  if (condition.reason === 'DeadlineExceeded') {
    return failed('DeadlineExceeded', {
      message: condition.message || 'Job was active longer than specified deadline',
    });
  }
  const deadlinePod = pods.find((pod) => pod.status?.reason === 'DeadlineExceeded');
  if (deadlinePod) {
    return failed('DeadlineExceeded', {
      message: deadlinePod.status?.message || 'Pod was active longer than specified deadline',
      podName: deadlinePod.metadata?.name,
    });
  }
  for (const { pod, status, sidecar } of containers) {
    const terminated = status.state?.terminated ?? status.lastState?.terminated;
    if (!sidecar && terminated && terminated.exitCode !== 0) {
      const detail = terminated.message?.trim();
      return failed('Error', {
        message: `container ${status.name} exited with code ${terminated.exitCode}${detail ? `: ${detail}` : ''}`,
        exitCode: terminated.exitCode,
        podName: pod.metadata?.name,
        container: status.name,
      });
    }
  }
  if (condition.reason && condition.reason !== 'BackoffLimitExceeded' && condition.message) {
    // PodFailurePolicy, MaxFailedIndexesExceeded, … with no pod left to read: the condition says it
    return failed('Error', { message: `${condition.reason}: ${condition.message}` });
  }
  return failed('BackoffLimitExceeded', {
    message: condition.message || 'Job has reached the specified backoff limit',
  });
}

/**
 * What state a Job is in, and why it failed. Pure: `now` (epoch ms) is the clock.
 *
 * Terminal from the Job's conditions, both before 1.31 (Complete / Failed written directly) and
 * after (SuccessCriteriaMet then Complete; FailureTarget then Failed): the first True one decides.
 * The cause of a failure is read from the pods first (OOMKilled, Evicted, Preempted, NodeLost),
 * then from the Job condition (DeadlineExceeded), then from a non-zero exit code (Error), and is
 * BackoffLimitExceeded when nothing more is known.
 *
 * Not terminal: a Job being deleted (deletionTimestamp set) is JobDeleted; a suspended Job is
 * `pending` with no start timeout; a pod Pending longer than the start
 * timeout (from its creationTimestamp) because its image cannot be pulled fails as
 * ImagePullBackOff, because it cannot be scheduled as Unschedulable, because its container cannot
 * be created as Error. A Job with no pod at all whose pod a ResourceQuota refused (its FailedCreate
 * events, `options.podCreation`) is `pending`, waiting for capacity, with no start timeout (its
 * `activeDeadlineSeconds` still runs); with no pod for another reason past the start timeout it
 * fails as Unschedulable. Otherwise `pending` while no pod has left Pending, `running` after.
 */
export function classifyJob(
  job: V1Job,
  pods: readonly V1Pod[],
  now: number,
  options: ClassifyOptions,
): JobOutcome {
  const conditions = job.status?.conditions ?? [];
  const own = ownPods(job, pods);

  if (trueCondition(conditions, 'Complete', 'SuccessCriteriaMet')) {
    const pod = own.find((candidate) => candidate.status?.phase === 'Succeeded');
    return pod?.metadata?.name ? { state: 'succeeded', podName: pod.metadata.name } : { state: 'succeeded' };
  }
  const failure = trueCondition(conditions, 'Failed', 'FailureTarget');
  if (failure) {
    const ordered = [
      ...own.filter((pod) => pod.status?.phase === 'Failed'),
      ...own.filter((pod) => pod.status?.phase !== 'Failed'),
    ];
    return failureCause(failure, ordered);
  }

  if (job.metadata?.deletionTimestamp) {
    return failed('JobDeleted', { message: 'the Job was deleted before it finished' });
  }
  // suspended (by an operator, or created suspended for a queueing system such as Kueue): waiting,
  // with no start timeout, since its pods are not meant to exist yet
  const suspended = trueCondition(conditions, 'Suspended');
  if (suspended || job.spec?.suspend === true) {
    return { state: 'pending', message: suspended?.message || 'Job suspended' };
  }

  const timeoutMs = options.startTimeoutSeconds * 1000;
  const live = own.filter((pod) => !pod.metadata?.deletionTimestamp);
  for (const pod of live) {
    if (pod.status?.phase !== 'Pending' && pod.status?.phase !== undefined) continue;
    const created = millis(pod.metadata?.creationTimestamp);
    if (created === undefined || now - created <= timeoutMs) continue;
    const pendingFor = `pending for ${Math.round((now - created) / 1000)}s`;
    const podName = pod.metadata?.name;
    for (const { status, sidecar } of containersOf(pod)) {
      const waiting = status.state?.waiting;
      if (waiting?.reason && IMAGE_PULL_WAITING.has(waiting.reason)) {
        return failed('ImagePullBackOff', {
          message: `${waiting.reason} in container ${status.name}${sidecar ? ' (sidecar)' : ''}: ${waiting.message ?? 'image cannot be pulled'} (${pendingFor})`,
          podName,
          container: status.name,
        });
      }
      if (waiting?.reason && CREATE_WAITING.has(waiting.reason)) {
        return failed('Error', {
          message: `${waiting.reason} in container ${status.name}: ${waiting.message ?? 'container cannot be created'} (${pendingFor})`,
          podName,
          container: status.name,
        });
      }
    }
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      return failed('Unschedulable', {
        message: `${scheduled.message || 'pod cannot be scheduled'} (${pendingFor})`,
        podName,
      });
    }
  }

  if (own.length === 0) {
    const creation = options.podCreation;
    if (creation?.quota) return { state: 'pending', message: describeCreationFailure(creation) };
    const created = millis(job.metadata?.creationTimestamp);
    if (created !== undefined && now - created > timeoutMs && !(job.status?.active ?? 0)) {
      const within = `no pod was created within ${options.startTimeoutSeconds}s`;
      return failed('Unschedulable', {
        message: creation
          ? `${within}: ${creation.message}`
          : `${within} (see the Job's FailedCreate events)`,
      });
    }
    return { state: 'pending' };
  }
  const started = own.some((pod) => pod.status?.phase !== undefined && pod.status.phase !== 'Pending');
  return { state: started ? 'running' : 'pending' };
}
