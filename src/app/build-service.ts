import type { Notify } from '../build-notice.js';
import { targetKey, type QueuedBuild } from '../build-request.js';
import type { BuildOutcome } from '../build-run.js';
import { KjlError } from '../errors.js';
import type { Logger } from '../logger.js';
import { announce } from './notices.js';
import type { BuildStore, DeleteRequestJobs, EntryResult, EntryView, SubmitResult } from './ports.js';

export interface BuildServiceOptions {
  store: BuildStore;
  notify: Notify;
  /** deletes a request's Jobs (cancel); absent where the process has no cluster access */
  deleteJobs?: DeleteRequestJobs;
  logger: Logger;
}

/** What a caller is told about a request. */
export interface BuildStatus {
  requestId: string;
  state: 'queued' | 'waiting' | 'running' | 'succeeded' | 'superseded' | 'failed' | 'cancelled';
  /** a sentence for people */
  message: string;
  target: string;
  contentHash: string;
  /** the current (or last) run number */
  attempt?: number;
  position?: number;
  jobName?: string;
  /** when a waiting request is looked at again (epoch ms) */
  until?: number;
  result?: EntryResult;
  /** how the last run ended (a failure keeps its reason and log tail) */
  outcome?: BuildOutcome & { run: number };
}

export type CancelResult =
  | { outcome: 'queued' }
  | { outcome: 'running'; jobs: string[] }
  | { outcome: 'finished'; status: BuildStatus };

/** A request's entry in the failed set. */
export interface FailedBuild {
  requestId: string;
  target: string;
  contentHash: string;
  failedAt: number;
  outcome?: BuildOutcome & { run: number };
  failedReason?: string;
}

/**
 * The use cases: submit, cancel, replay, status, list. The intake, the command line and the HTTP
 * API call these and nothing else; every notice a use case sends goes through here.
 */
export class BuildService {
  constructor(private readonly options: BuildServiceOptions) {}

  /** True when a submit can succeed now. */
  ready(): Promise<boolean> {
    return this.options.store.ready();
  }

  /** Queues a request durably (resolves once Redis has it) and announces it unless it is a duplicate. */
  async submit(build: QueuedBuild): Promise<SubmitResult> {
    const result = await this.options.store.submit(build);
    if (result.status !== 'duplicate') {
      await announce(
        this.options.notify,
        build,
        result.attempt ?? 1,
        { phase: 'queued', ...(result.position ? { queuePosition: result.position } : {}) },
        this.options.logger.child({ requestId: build.requestId }),
      );
    }
    return result;
  }

  private async view(requestId: string): Promise<EntryView> {
    const entry = await this.options.store.entry(requestId);
    if (!entry) {
      throw new KjlError('KJL_UNKNOWN_REQUEST', `no request ${requestId} in the queue`, {
        context: { requestId },
      });
    }
    return entry;
  }

  /** Where a request stands, in words a caller can act on. */
  async status(requestId: string): Promise<BuildStatus> {
    const entry = await this.view(requestId);
    const { store } = this.options;
    const build = entry.build;
    const cancelled = entry.state !== 'completed' && (await store.isCancelled(requestId));
    const outcome = build.outcome;
    const base = {
      requestId,
      target: targetKey(build.request),
      contentHash: build.request.contentHash,
      ...(build.run ? { attempt: build.run.number } : {}),
      ...(outcome ? { outcome } : {}),
    };
    if (cancelled || (outcome?.status === 'cancelled' && entry.state === 'failed')) {
      return {
        ...base,
        state: 'cancelled',
        message: entry.state === 'active' ? 'cancelled; its Job is being deleted' : 'cancelled',
      };
    }
    switch (entry.state) {
      case 'waiting': {
        const [position, counts, limit] = await Promise.all([
          store.position(requestId),
          store.counts(),
          store.limit(),
        ]);
        const full =
          counts.active >= limit ? `; the concurrent job limit (${counts.active}/${limit}) is reached` : '';
        return {
          ...base,
          state: 'queued',
          ...(position ? { position } : {}),
          message: `queued${position ? ` at position ${position}` : ''}${full}`,
        };
      }
      case 'delayed': {
        const progress = entry.progress?.state === 'waiting' ? entry.progress : undefined;
        const why =
          progress?.reason ??
          (outcome?.status === 'failed' ? `retry after ${outcome.reason}` : 'retry backoff');
        const until = progress?.until ?? entry.dueAt;
        return {
          ...base,
          state: 'waiting',
          ...(until ? { until } : {}),
          message: `waiting (${why})${until ? ` until ${new Date(until).toISOString()}` : ''}`,
        };
      }
      case 'active': {
        const jobName = entry.progress?.state === 'running' ? entry.progress.jobName : build.run?.jobName;
        return {
          ...base,
          state: 'running',
          ...(jobName ? { jobName } : {}),
          message: `running${jobName ? ` as Job ${jobName}` : ''}`,
        };
      }
      case 'completed': {
        const result = entry.result;
        if (result?.status === 'superseded') {
          return {
            ...base,
            state: 'superseded',
            result,
            message: `superseded by newer request ${result.by}`,
          };
        }
        return { ...base, state: 'succeeded', ...(result ? { result } : {}), message: 'succeeded' };
      }
      case 'failed':
        return {
          ...base,
          state: 'failed',
          message: `failed: ${outcome && outcome.status === 'failed' ? `${outcome.reason}: ${outcome.message}` : (entry.failedReason ?? 'unknown')}`,
        };
    }
  }

  /**
   * Cancels a request. A queued one never starts a Job; a running one has its Job deleted, and its
   * worker records and announces the cancellation once the Job is gone.
   */
  async cancel(requestId: string): Promise<CancelResult> {
    const { store } = this.options;
    const entry = await this.view(requestId);
    if (entry.state === 'completed' || entry.state === 'failed') {
      return { outcome: 'finished', status: await this.status(requestId) };
    }
    await store.markCancelled(requestId);
    if (entry.state !== 'active') {
      // a worker ends it now (and announces it) rather than when it was due
      await store.promote(requestId);
      return { outcome: 'queued' };
    }
    const jobs = this.options.deleteJobs ? await this.options.deleteJobs(requestId) : [];
    return { outcome: 'running', jobs };
  }

  /** Builds that failed for good (and cancelled ones), newest first. */
  async failed(limit = 100): Promise<FailedBuild[]> {
    const entries = await this.options.store.entries({ states: ['failed'], limit });
    return entries.map((entry) => ({
      requestId: entry.build.requestId,
      target: targetKey(entry.build.request),
      contentHash: entry.build.request.contentHash,
      failedAt: entry.finishedAt ?? entry.addedAt,
      ...(entry.build.outcome ? { outcome: entry.build.outcome } : {}),
      ...(entry.failedReason ? { failedReason: entry.failedReason } : {}),
    }));
  }

  /**
   * Queues failed builds again, each with fresh attempts, and announces each. Returns the request
   * ids replayed; an id that is not in the failed set is left out.
   */
  async replay(requestIds: readonly string[]): Promise<string[]> {
    const { store } = this.options;
    const replayed: string[] = [];
    for (const requestId of requestIds) {
      const entry = await store.entry(requestId);
      if (entry?.state !== 'failed' || !(await store.requeue(requestId))) continue;
      const attempt = (await store.runCount(requestId)) + 1;
      await announce(
        this.options.notify,
        entry.build,
        attempt,
        { phase: 'queued' },
        this.options.logger.child({ requestId }),
      );
      replayed.push(requestId);
    }
    return replayed;
  }

  /**
   * Whether a Job of `requestId` made for run `run` is still wanted (the sweep asks about every
   * Job that has not succeeded): not when its request is gone or finished, when a later run has
   * replaced it, or when its run's outcome is recorded (its own delete failed).
   */
  async jobDisposition(requestId: string, run: number | undefined): Promise<'keep' | 'delete'> {
    const entry = await this.options.store.entry(requestId);
    if (!entry || entry.state === 'completed' || entry.state === 'failed') return 'delete';
    const current = entry.build.run;
    if (!current || run === undefined || current.number !== run) return 'delete';
    return entry.build.outcome?.run === run ? 'delete' : 'keep';
  }
}
