import type { QueuedBuild } from '../build-request.js';
import type { RunDetail, RunOutcome, StartResult, StartedJob } from '../build-run.js';

/**
 * What the application layer needs from the adapters. The queue adapter (BullMQ on Redis) and the
 * cluster adapter (Kubernetes) implement these; the composition root hands them over.
 */

/** Where a queue entry stands. */
export type EntryState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

/** What a completed queue entry returns. */
export type EntryResult =
  | { status: 'succeeded'; attempt: number; jobName: string; image?: string; durationMs: number }
  | { status: 'superseded'; by: string };

/** A queue entry as read back: its record and where it stands. */
export interface EntryView {
  build: QueuedBuild;
  state: EntryState;
  /** failed attempts the queue has counted so far */
  attemptsMade: number;
  /** epoch ms: added, started (last time taken by a worker), finished */
  addedAt: number;
  processedAt?: number;
  finishedAt?: number;
  /** when a delayed entry is due */
  dueAt?: number;
  result?: EntryResult;
  /** why the queue failed it, when it did */
  failedReason?: string;
  /** what its worker last said it is doing */
  progress?: EntryProgress;
}

/** What a worker says an entry is doing (shown by `kjl status`). */
export type EntryProgress =
  | { state: 'waiting'; reason: string; until: number }
  | { state: 'running'; jobName: string; attempt: number };

/** A queue entry a worker holds. */
export interface ActiveEntry {
  /** the record as the worker took it, kept current by `save` */
  readonly build: QueuedBuild;
  /** failed attempts the queue has counted before this one */
  readonly attemptsMade: number;
  /** writes the record durably: resolves once Redis has it */
  save(build: QueuedBuild): Promise<void>;
  /**
   * Reads the record again from Redis: another worker may have written it meanwhile (one that took
   * the entry over while this one could not reach Redis to renew its lease).
   */
  reload(): Promise<QueuedBuild>;
  /** Throws when this worker no longer holds the entry's lease (another took it over). */
  assertLease(): Promise<void>;
  /** what the worker is doing (best effort, for status) */
  progress(progress: EntryProgress): Promise<void>;
}

/** What a worker does with the entry it held. */
export type Verdict =
  | { kind: 'completed'; result: EntryResult }
  /** look at it again at `until`: not an attempt */
  | { kind: 'delayed'; until: number; reason: string }
  /** a failed attempt: run again after the failure backoff */
  | { kind: 'retry'; reason: string }
  /** failed for good */
  | { kind: 'failed'; reason: string }
  /** the worker is stopping: back to the queue for another worker, as it is */
  | { kind: 'released' };

/** What the dedup and backoff policy reads about an entry's target and request. */
export interface TargetSnapshot {
  /** the request holding the target (its Job may be running) */
  holder?: string;
  /** whether the holder's entry is still waiting or running (else its hold is stale) */
  holderLive: boolean;
  /** the target's newest request, by send time */
  latest?: string;
  /** when the target last failed (epoch ms) */
  failedAt?: number;
  cancelled: boolean;
}

/** What became of a submitted request. */
export type SubmitStatus =
  /** a new entry in the queue */
  | 'queued'
  /** the same request (target + content hash) is already queued, running or just succeeded */
  | 'duplicate'
  /** the same request had finished (failed, cancelled or superseded): queued again, fresh attempts */
  | 'requeued'
  /** sent before the newest request of its target (`by`): nothing to build */
  | 'superseded';

export interface SubmitResult {
  status: SubmitStatus;
  requestId: string;
  /** place among the waiting entries (1 = next), when queued */
  position?: number;
  /**
   * queued: the run number the entry will start as (events of that run carry it); superseded: the
   * run number of its `cancelled` notice, one of its own
   */
  attempt?: number;
  /** the newer request that supersedes it */
  by?: string;
}

/** A page of entries of some states: newest first (or oldest first), after `cursor`. */
export interface EntryQuery {
  states: readonly EntryState[];
  /** where the previous page ended (opaque) */
  cursor?: string;
  limit: number;
  oldestFirst?: boolean;
}

export interface EntryPage {
  entries: EntryView[];
  /** the cursor of the next page, when there may be one */
  cursor?: string;
}

/**
 * The durable side: queue entries and kjl's records next to them. Transient Redis failures are
 * the store's to handle: a worker's store waits them out, an intake's or a command's reports
 * `QueueUnavailableError` at once.
 */
export interface BuildStore {
  /** True when Redis answers now. */
  ready(): Promise<boolean>;
  /** Adds a request durably (resolves once Redis has it), recording it as its target's newest. */
  /**
   * Queues requests durably (resolved once Redis has them all), in as few round trips as the
   * dedup allows: one result per build, in order. Fails as a whole when Redis does.
   */
  submitAll(builds: readonly QueuedBuild[]): Promise<SubmitResult[]>;
  entry(requestId: string): Promise<EntryView | undefined>;
  entries(query: EntryQuery): Promise<EntryPage>;
  /** 1-based place among the waiting entries, when waiting */
  position(requestId: string): Promise<number | undefined>;
  counts(): Promise<Record<EntryState, number>>;
  /** The fleet's concurrent-job limit in force. */
  limit(): Promise<number>;
  /** Sets the fleet's limit (`kjl limit N`). */
  setLimit(limit: number): Promise<void>;
  /** Every target's last failure (for the targets in failure backoff). */
  failures(): Promise<{ target: string; failedAt: number }[]>;

  snapshot(requestId: string, target: string): Promise<TargetSnapshot>;
  /** Takes the target for `requestId` when free, already its own, or held by `stale`. */
  acquire(target: string, requestId: string, stale?: string): Promise<boolean>;
  release(target: string, requestId: string): Promise<void>;
  recordFailure(target: string, at: number): Promise<void>;
  clearFailure(target: string): Promise<void>;

  /**
   * Reserves a slot under the fleet's limit for `requestId`, atomically across replicas: the held
   * reservations and the `unfinished` Jobs (request ids, from the cluster) together stay within the
   * limit. A request whose Job is among the unfinished ones always gets its slot (it runs already).
   * Reservations are leases the store renews while this process holds them.
   */
  reserve(requestId: string, unfinished: readonly string[]): Promise<boolean>;
  releaseSlot(requestId: string): Promise<void>;

  /**
   * The run number of a request's queue attempt (1, 2, … across retries and replays): the same for
   * every worker that claims the same attempt, a new one for a new attempt.
   */
  claimRun(requestId: string, queueAttempt: number | string): Promise<number>;
  runCount(requestId: string): Promise<number>;
  markCancelled(requestId: string): Promise<void>;
  isCancelled(requestId: string): Promise<boolean>;
  /** Makes a delayed entry due now (a cancelled one is then ended promptly). */
  promote(requestId: string): Promise<void>;
  /** Puts a finished entry back in the queue with fresh attempts; false when it is not finished. */
  requeue(requestId: string): Promise<boolean>;
}

/** The cluster side of a run (a worker process has one; it watches the cluster). */
export interface BuildCluster {
  start(build: QueuedBuild, run: number, options?: { adoptOnly?: boolean }): Promise<StartResult>;
  /** Resolves undefined when `signal` aborts first. */
  outcome(job: StartedJob, signal: AbortSignal): Promise<RunOutcome | undefined>;
  deleteJob(jobName: string): Promise<void>;
  /** Deletes a request's Job under its deterministic name, whatever run it belongs to (a cancel). */
  removeRun(build: QueuedBuild): Promise<void>;
  /** Deletes a finished run's Job; never throws (what is left is the sweep's). */
  /** (`uid`: only that Job, never a newer one of the same name) */
  cleanup(jobName: string, uid?: string): Promise<void>;
  /** Request ids of this deployment's unfinished Jobs, from the watch cache. */
  unfinishedRequests(): string[];
}

/** The cluster read through the API, for one-shot commands and the HTTP API (which run no watch). */
export interface ClusterView {
  /** Connects, once: false when this process has no usable Kubernetes configuration after all. */
  open(): Promise<boolean>;
  /** Deletes a request's Jobs (cancel); returns their names. */
  deleteRequestJobs(requestId: string): Promise<string[]>;
  /** The deployment's unfinished Jobs. */
  unfinishedJobs(): Promise<number>;
  describeRun(jobName: string): Promise<RunDetail>;
  /** Writes a run's log; with `follow`, until the container ends or `signal` aborts. False: nothing to read. */
  streamLog(
    jobName: string,
    options: { follow: boolean; signal?: AbortSignal },
    write: (chunk: string) => void,
  ): Promise<boolean>;
}

/** A message in the SQS dead-letter queue: one that never became a build request. */
export interface DeadLetter {
  messageId: string;
  /** `kjl-error-code`, when kjl dead-lettered it (the redrive policy moves messages without one) */
  code?: string;
  /** `kjl-error-message`: the field and the reason */
  reason?: string;
  /** the queue it came from (`kjl-source-queue`, else the configured one) */
  sourceQueue: string;
  sentAt?: number;
  receiveCount?: number;
  body: string;
}

export interface DeadLetterFilter {
  /** at most this many */
  max?: number;
  code?: string;
  messageId?: string;
}

export interface ReplayProgress {
  moved: number;
  /** messages left to move, when known */
  remaining?: number;
}

export interface ReplayResult {
  moved: number;
  /** `move-task`: SQS moved the whole queue itself; `copy`: received, sent back, deleted, one by one */
  method: 'move-task' | 'copy';
}

/** The SQS dead-letter queue. */
export interface DeadLetterQueuePort {
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  replay(filter?: DeadLetterFilter, onProgress?: (progress: ReplayProgress) => void): Promise<ReplayResult>;
  purge(): Promise<void>;
}
