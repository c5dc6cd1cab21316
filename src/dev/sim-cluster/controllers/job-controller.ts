import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import { removeFinalizer, requestDeletion } from '../deletion.js';
import { generateName } from '../names.js';
import { admitCreate } from '../quota.js';
import type { ObjectStore, StoreChange } from '../store.js';
import type { ClusterSettings } from './cluster-settings.js';
import type { EventRecorder } from './event-recorder.js';
import { nextBackoffRecord, remainingBackoff, type BackoffRecord } from './job-backoff.js';
import {
  completionIndex,
  finishedAt,
  formatIndexes,
  isActive,
  isPodFailed,
  isReady,
  isTerminating,
  JOB_TRACKING_FINALIZER,
  onlyReplaceFailedPods,
  parseIndexes,
  podForJob,
} from './job-pods.js';
import {
  findCondition,
  isConditionTrue,
  keyOf,
  splitKey,
  type Condition,
  type Job,
  type JobStatus,
  type Pod,
} from './kube-types.js';
import { matchPodFailurePolicy } from './pod-failure-policy.js';
import { WorkQueue } from './work-queue.js';

const SUCCESS = { reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' };
const BACKOFF_LIMIT = {
  reason: 'BackoffLimitExceeded',
  message: 'Job has reached the specified backoff limit',
};
const DEADLINE = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };

export interface JobControllerOptions {
  store: ObjectStore;
  clock: SimClock;
  recorder: EventRecorder;
  logger: Logger;
  settings: () => ClusterSettings;
}

/** Newly finished pods of one sync, and the pods whose tracking finalizer can go. */
interface Finished {
  succeeded: Pod[];
  failed: Pod[];
  release: Pod[];
}

function controllerUid(pod: Pod): string | undefined {
  return pod.metadata.ownerReferences?.find((ref) => ref.controller && ref.kind === 'Job')?.uid;
}

function isFinished(status: JobStatus | undefined): boolean {
  return isConditionTrue(status?.conditions, 'Complete') || isConditionTrue(status?.conditions, 'Failed');
}

function hasTrackingFinalizer(pod: Pod): boolean {
  return !!pod.metadata.finalizers?.includes(JOB_TRACKING_FINALIZER);
}

/** With restartPolicy OnFailure, container restarts of pending and running pods count against backoffLimit. */
function pastBackoffLimitOnFailure(job: Job, pods: Pod[]): boolean {
  if (job.spec.template.spec.restartPolicy !== 'OnFailure') return false;
  const restarts = pods
    .filter((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending')
    .flatMap((p) => p.status?.containerStatuses ?? [])
    .reduce((sum, s) => sum + s.restartCount, 0);
  const limit = job.spec.backoffLimit ?? 6;
  return limit === 0 ? restarts > 0 : restarts >= limit;
}

/**
 * Sets a condition's status, reason and message; a new lastTransitionTime only when one of them
 * changes. A False condition that does not exist yet is not added (`ensureJobConditionStatus`).
 */
function ensureCondition(
  conditions: Condition[],
  type: string,
  status: 'True' | 'False',
  text: typeof SUCCESS,
  now: string,
): boolean {
  const existing = findCondition(conditions, type);
  if (
    existing &&
    existing.status === status &&
    existing.reason === text.reason &&
    existing.message === text.message
  ) {
    return false;
  }
  if (!existing && status === 'False') return false;
  const condition: Condition = { type, status, lastProbeTime: now, lastTransitionTime: now, ...text };
  if (existing) conditions.splice(conditions.indexOf(existing), 1, condition);
  else conditions.push(condition);
  return true;
}

function trueCondition(type: string, text: typeof SUCCESS, now: string): Condition {
  return { type, status: 'True', lastProbeTime: now, lastTransitionTime: now, ...text };
}

/** Pods to delete when there are too many: unscheduled first, then not ready, then the newest. */
function byRemovalPreference(a: Pod, b: Pod): number {
  const rank = (p: Pod) => (p.spec.nodeName ? 2 : 0) + (isReady(p) ? 1 : 0);
  return (
    rank(a) - rank(b) ||
    (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '')
  );
}

/**
 * The Job controller (kubernetes `pkg/controller/job/job_controller.go`, 1.31+ behaviour, or 1.30's
 * condition order with settings `jobConditions: 1.30`): creates
 * and deletes a Job's pods, counts them through the `job-tracking` finalizer, applies back-off,
 * podFailurePolicy, backoffLimit, activeDeadlineSeconds and suspend, and writes status and Events.
 */
export class JobController {
  private readonly jobs: WorkQueue;
  private readonly orphans: WorkQueue;
  /** per Job uid: failures since the last success, for the replacement back-off (in memory, as upstream) */
  private readonly backoff = new Map<string, BackoffRecord>();
  private readonly store: ObjectStore;
  private readonly clock: SimClock;
  private readonly recorder: EventRecorder;
  private readonly settings: () => ClusterSettings;

  constructor(options: JobControllerOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.recorder = options.recorder;
    this.settings = options.settings;
    const logger = options.logger.child({ controller: 'job' });
    this.jobs = new WorkQueue(this.clock, (key) => this.syncJob(key), logger);
    this.orphans = new WorkQueue(this.clock, (key) => this.syncOrphanPod(key), logger);
    this.store.on('change', this.onChange);
    for (const job of this.store.list('jobs').items) this.jobs.add(keyOf(job));
    for (const pod of this.store.list('pods').items) this.onPod(pod as Pod);
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.jobs.stop();
    this.orphans.stop();
  }

  private readonly onChange = (change: StoreChange): void => {
    if (change.resource === 'jobs') {
      this.jobs.add(keyOf(change.object));
      if (change.type === 'DELETED') {
        this.backoff.delete(change.object.metadata.uid!);
        const pods = this.store.list(
          'pods',
          change.object.metadata.namespace,
          (p) => controllerUid(p as Pod) === change.object.metadata.uid,
        );
        for (const pod of pods.items) this.orphans.add(keyOf(pod));
      }
    } else if (change.resource === 'pods' && change.type !== 'DELETED') {
      this.onPod(change.object as Pod);
    } else if (change.resource === 'pods') {
      const owner = change.object.metadata.ownerReferences?.find((ref) => ref.controller);
      if (owner) this.jobs.add(`${change.object.metadata.namespace}/${owner.name}`);
    }
  };

  private onPod(pod: Pod): void {
    const owner = pod.metadata.ownerReferences?.find((ref) => ref.controller && ref.kind === 'Job');
    if (owner) this.jobs.add(`${pod.metadata.namespace}/${owner.name}`);
    if (hasTrackingFinalizer(pod)) this.orphans.add(keyOf(pod));
  }

  /** A pod whose Job is gone (deleted, or orphaned by an Orphan delete) loses its tracking finalizer. */
  private syncOrphanPod(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.store.tryGet('pods', namespace, name) as Pod | undefined;
    if (!pod || !hasTrackingFinalizer(pod)) return;
    const uid = controllerUid(pod);
    const owner = pod.metadata.ownerReferences?.find((ref) => ref.uid === uid);
    if (owner && this.store.tryGet('jobs', namespace, owner.name)?.metadata.uid === uid) return;
    removeFinalizer(this.store, 'pods', namespace, name, JOB_TRACKING_FINALIZER);
  }

  private syncJob(key: string): void {
    const [namespace, name] = splitKey(key);
    const job = this.store.tryGet('jobs', namespace, name) as Job | undefined;
    if (!job) return;
    const pods = this.store.list('pods', namespace, (p) => controllerUid(p as Pod) === job.metadata.uid)
      .items as Pod[];
    if (isFinished(job.status)) {
      this.release(pods.filter(hasTrackingFinalizer));
      return;
    }

    const spec = job.spec;
    const now = this.clock.now();
    const nowStamp = this.clock.timestamp(now);
    const status: JobStatus = structuredClone(job.status ?? {});
    const conditions = (status.conditions ??= []);
    const suspended = !!spec.suspend;
    if (!status.startTime && !suspended) status.startTime = nowStamp;

    const legacy = this.settings().jobConditions === '1.30';
    const interim =
      findCondition(conditions, 'FailureTarget')?.status === 'True'
        ? findCondition(conditions, 'FailureTarget')
        : findCondition(conditions, 'SuccessCriteriaMet')?.status === 'True'
          ? findCondition(conditions, 'SuccessCriteriaMet')
          : undefined;
    let finished = this.newlyFinished(job, pods, interim?.type === 'FailureTarget');
    let counts = this.tally(job, status, finished, now);

    let target: Condition | undefined = interim;
    if (!target) {
      const failure = this.failureOf(job, pods, counts.failed, now);
      if (failure) target = trueCondition('FailureTarget', failure, nowStamp);
    }
    // 1.30 writes the terminal condition at once, without an interim one (but for a podFailurePolicy
    // FailJob match), so a failing Job's pods are all counted and released in this sync
    const atOnce = (t: Condition) => legacy && !interim && t.reason !== 'PodFailurePolicy';
    if (target?.type === 'FailureTarget' && atOnce(target)) {
      finished = this.newlyFinished(job, pods, true);
      counts = this.tally(job, status, finished, now);
    }
    const { completedIndexes, succeeded, failed, record } = counts;

    let active = pods.filter(isActive);
    let terminating = pods.filter(isTerminating).length;
    let createFailure: unknown;
    if (target?.type === 'FailureTarget') {
      terminating += this.deletePods(job, active);
      active = [];
    } else if (!target) {
      const manageable = !job.metadata.deletionTimestamp;
      if (manageable) {
        const managed = this.manage(job, active, { succeeded, completedIndexes, terminating, record, now });
        active = managed.active;
        terminating += managed.deleted;
        createFailure = managed.failure;
      }
      const complete =
        spec.completions === undefined || spec.completions === null
          ? succeeded > 0 && active.length === 0
          : succeeded >= spec.completions && active.length === 0;
      if (complete) {
        target = trueCondition('SuccessCriteriaMet', SUCCESS, nowStamp);
      } else if (manageable) {
        this.updateSuspended(job, conditions, status, nowStamp);
      }
    }
    if (target && !atOnce(target) && !findCondition(conditions, target.type)) conditions.push(target);

    const next: JobStatus = {
      ...(conditions.length ? { conditions } : {}),
      ...(status.startTime ? { startTime: status.startTime } : {}),
      ...(active.length ? { active: active.length } : {}),
      ...(succeeded ? { succeeded } : {}),
      ...(failed ? { failed } : {}),
      terminating,
      ...(spec.completionMode === 'Indexed' ? { completedIndexes: formatIndexes(completedIndexes) } : {}),
      uncountedTerminatedPods: {},
      ready: active.filter(isReady).length,
    };
    this.writeStatus(job, next);
    this.release(finished.release);
    this.backoff.set(job.metadata.uid!, record);

    // 1.31+ (delayed terminal condition): the terminal condition waits for the pods of a finishing
    // Job to be gone; 1.30 writes it once the finished pods' finalizers are removed (just above)
    if (target && (legacy ? atOnce(target) || !!interim : terminating === 0)) this.finish(job, next, target);
    // a pod that could not be created (quota) is neither a failure nor a condition: the sync is retried with back-off
    if (createFailure) throw createFailure;
  }

  /** The Job's counters with the newly finished pods folded in, and its replacement back-off record. */
  private tally(job: Job, status: JobStatus, finished: Finished, now: number) {
    const completedIndexes = parseIndexes(status.completedIndexes);
    for (const pod of finished.succeeded) completedIndexes.add(completionIndex(pod)!);
    const indexed = job.spec.completionMode === 'Indexed';
    return {
      completedIndexes,
      succeeded: indexed ? completedIndexes.size : (status.succeeded ?? 0) + finished.succeeded.length,
      failed: (status.failed ?? 0) + finished.failed.length,
      record: nextBackoffRecord(
        this.backoff.get(job.metadata.uid!) ?? { failuresAfterLastSuccess: 0 },
        finished.succeeded.map((p) => finishedAt(p, now)),
        finished.failed.map((p) => finishedAt(p, now)),
      ),
    };
  }

  /**
   * Pods that finished since the last sync (they still carry the tracking finalizer). With a
   * podFailurePolicy a failing pod is only judged once it reached phase Failed; once the Job is
   * failing or being deleted every pod's finalizer goes, and a failing Job counts its unfinished pods as failed.
   */
  private newlyFinished(job: Job, pods: Pod[], failing: boolean): Finished {
    const result: Finished = { succeeded: [], failed: [], release: [] };
    const deleting = !!job.metadata.deletionTimestamp;
    const completions = job.spec.completions ?? undefined;
    const indexed = job.spec.completionMode === 'Indexed';
    const seenIndexes = parseIndexes(job.status?.completedIndexes);
    for (const pod of pods.filter(hasTrackingFinalizer)) {
      const phase = pod.status?.phase;
      const podFailed = isPodFailed(pod, job);
      const judged =
        phase === 'Succeeded' || (podFailed && (!job.spec.podFailurePolicy || phase === 'Failed'));
      if (!judged && !deleting && !failing) continue;
      result.release.push(pod);
      const index = completionIndex(pod);
      const validIndex = !indexed || (index !== undefined && index < (completions ?? 0));
      if (phase === 'Succeeded') {
        if (validIndex && !(indexed && seenIndexes.has(index!))) {
          result.succeeded.push(pod);
          if (indexed) seenIndexes.add(index!);
        }
      } else if ((podFailed || failing) && validIndex && matchPodFailurePolicy(job.spec, pod).countFailed) {
        result.failed.push(pod);
      }
    }
    return result;
  }

  /** podFailurePolicy FailJob, then backoffLimit, then activeDeadlineSeconds, in `syncJob`'s order. */
  private failureOf(job: Job, pods: Pod[], failed: number, now: number): typeof SUCCESS | undefined {
    if (job.spec.podFailurePolicy) {
      for (const pod of pods.filter((p) => isPodFailed(p, job))) {
        const message = matchPodFailurePolicy(job.spec, pod).failJobMessage;
        if (message) return { reason: 'PodFailurePolicy', message };
      }
    }
    if (failed > (job.spec.backoffLimit ?? 6) || pastBackoffLimitOnFailure(job, pods)) return BACKOFF_LIMIT;
    const deadline = job.spec.activeDeadlineSeconds;
    if (deadline === undefined || job.spec.suspend || !job.status?.startTime) return undefined;
    const remaining = Date.parse(job.status.startTime) + deadline * 1000 - now;
    if (remaining <= 0) return DEADLINE;
    this.jobs.addAfter(keyOf(job), remaining);
    return undefined;
  }

  /** Brings the number of active pods to the target (`manageJob`); returns the active pods and how many were deleted. */
  private manage(
    job: Job,
    active: Pod[],
    state: {
      succeeded: number;
      completedIndexes: Set<number>;
      terminating: number;
      record: BackoffRecord;
      now: number;
    },
  ): { active: Pod[]; deleted: number; failure?: unknown } {
    const spec = job.spec;
    if (spec.suspend) return { active: [], deleted: this.deletePods(job, active) };
    const parallelism = spec.parallelism ?? 1;
    const completions = spec.completions ?? undefined;
    const wantActive =
      completions === undefined
        ? state.succeeded > 0
          ? active.length
          : parallelism
        : Math.max(0, Math.min(completions - state.succeeded, parallelism));

    if (active.length > wantActive) {
      const excess = [...active].sort(byRemovalPreference).slice(0, active.length - wantActive);
      const deleted = this.deletePods(job, excess);
      return { active: active.filter((p) => !excess.includes(p)), deleted };
    }
    const missing = wantActive - active.length - (onlyReplaceFailedPods(job) ? state.terminating : 0);
    if (missing <= 0) return { active, deleted: 0 };
    const wait = remainingBackoff(state.record, state.now);
    if (wait > 0) {
      this.jobs.addAfter(keyOf(job), wait);
      return { active, deleted: 0 };
    }
    const indexes =
      spec.completionMode === 'Indexed'
        ? this.pendingIndexes(completions ?? 0, state.completedIndexes, active, missing)
        : Array.from({ length: missing }, () => undefined);
    const created: Pod[] = [];
    for (const index of indexes) {
      try {
        created.push(this.createPod(job, index));
      } catch (failure) {
        // the rest are skipped until the retry
        return { active: [...active, ...created], deleted: 0, failure };
      }
    }
    return { active: [...active, ...created], deleted: 0 };
  }

  /** The lowest indexes neither completed nor held by an active pod. */
  private pendingIndexes(
    completions: number,
    completed: Set<number>,
    active: Pod[],
    count: number,
  ): number[] {
    const taken = new Set([...completed, ...active.map(completionIndex)]);
    const indexes: number[] = [];
    for (let i = 0; i < completions && indexes.length < count; i++) if (!taken.has(i)) indexes.push(i);
    return indexes;
  }

  /**
   * Creates a pod as the controller does through the API server, ResourceQuota admission included
   * (its generated name is chosen first, so a refusal names it); a failure is a `FailedCreate`
   * Event on the Job and is thrown.
   */
  private createPod(job: Job, index: number | undefined): Pod {
    const pod = podForJob(job, index);
    pod.metadata.name = generateName(pod.metadata.generateName!);
    try {
      admitCreate(this.store, 'pods', pod, this.clock.now());
      const created = this.store.create('pods', pod) as Pod;
      this.recorder.record(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
      return created;
    } catch (err) {
      this.recorder.record(job, 'Warning', 'FailedCreate', `Error creating: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Deletes pods gracefully, as the controller's pod control does; returns how many it deleted. */
  private deletePods(job: Job, pods: Pod[]): number {
    for (const pod of pods) {
      requestDeletion(this.store, this.clock, 'pods', pod.metadata.namespace, pod.metadata.name!, {});
      this.recorder.record(job, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
    }
    return pods.length;
  }

  /** Suspended True on suspend; False (JobResumed) on resume, which restarts the activeDeadlineSeconds clock. */
  private updateSuspended(job: Job, conditions: Condition[], status: JobStatus, now: string): void {
    if (job.spec.suspend) {
      if (
        ensureCondition(
          conditions,
          'Suspended',
          'True',
          { reason: 'JobSuspended', message: 'Job suspended' },
          now,
        )
      ) {
        this.recorder.record(job, 'Normal', 'Suspended', 'Job suspended');
      }
    } else if (
      ensureCondition(conditions, 'Suspended', 'False', { reason: 'JobResumed', message: 'Job resumed' }, now)
    ) {
      this.recorder.record(job, 'Normal', 'Resumed', 'Job resumed');
      status.startTime = now;
    }
  }

  /** Adds Failed or Complete after the interim condition (completionTime only on success) and records the Event. */
  private finish(job: Job, status: JobStatus, target: Condition): void {
    const now = this.clock.timestamp();
    const success = target.type === 'SuccessCriteriaMet';
    const final: Condition = {
      type: success ? 'Complete' : 'Failed',
      status: 'True',
      lastProbeTime: now,
      lastTransitionTime: now,
      reason: target.reason,
      message: target.message,
    };
    this.writeStatus(job, {
      ...status,
      conditions: [...(status.conditions ?? []), final],
      ...(success ? { completionTime: now } : {}),
    });
    if (success) this.recorder.record(job, 'Normal', 'Completed', 'Job completed');
    else this.recorder.record(job, 'Warning', target.reason!, target.message!);
  }

  private writeStatus(job: Job, status: JobStatus): void {
    const current = this.store.tryGet('jobs', job.metadata.namespace, job.metadata.name!);
    if (!current || current.metadata.uid !== job.metadata.uid) return;
    if (JSON.stringify(current.status) === JSON.stringify(status)) return;
    this.store.mutate('jobs', job.metadata.namespace, job.metadata.name!, (obj) => {
      obj.status = status;
    });
  }

  private release(pods: Pod[]): void {
    for (const pod of pods) {
      removeFinalizer(this.store, 'pods', pod.metadata.namespace, pod.metadata.name!, JOB_TRACKING_FINALIZER);
    }
  }
}
