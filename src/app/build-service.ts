import type { Notify } from '../build-notice.js';
import type { QueuedBuild } from '../build-request.js';
import { KjlError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  BUILD_STATES,
  describe,
  ENTRY_STATES_OF,
  summarize,
  type BuildState,
  type BuildStatus,
  type BuildSummary,
} from './build-views.js';
import { announce, type NoticeDetails } from './notices.js';
import type {
  BuildStore,
  ClusterView,
  DeadLetterFilter,
  DeadLetterQueuePort,
  EntryState,
  EntryView,
  ReplayProgress,
  SubmitResult,
} from './ports.js';

export interface BuildServiceOptions {
  store: BuildStore;
  notify: Notify;
  /** the cluster, read through the API (cancel, a running build's pod, logs); absent: no cluster access */
  cluster?: ClusterView;
  /** the SQS dead-letter queue; absent when none is configured */
  deadLetters?: DeadLetterQueuePort;
  /** the failure backoff, to tell how long a target still waits */
  failureBackoffMs: number;
  logger: Logger;
  now?: () => number;
}

export type CancelResult =
  | { outcome: 'queued' }
  | { outcome: 'running'; jobs: string[] }
  | { outcome: 'finished'; status: BuildStatus };

/** What `list` takes: states (default all), a target, builds queued since, a page. */
export interface BuildQuery {
  states?: readonly BuildState[];
  target?: string;
  /** epoch ms: only builds queued at or after */
  since?: number;
  /** at most this many (1–1000) */
  limit: number;
  /** where the previous page ended */
  cursor?: string;
}

export interface BuildPage {
  builds: BuildSummary[];
  /** the cursor of the next page, when there may be one */
  next?: string;
}

/** The fleet at a glance. */
export interface FleetStatus {
  entries: Record<EntryState, number>;
  limit: number;
  /** the deployment's unfinished Jobs in the cluster, when the cluster can be read */
  activeJobs?: number;
  /** targets still in their failure backoff, and until when (epoch ms) */
  backoff: { target: string; until: number }[];
  /** the oldest request waiting to start: its id and how long it has waited */
  oldestWaiting?: { requestId: string; waitingMs: number };
}

/** Where the log of `logs` came from. */
export type LogSource = 'live' | 'tail' | 'none';

const PAGE = 200;

/**
 * The use cases: submit, cancel, replay, status, list, logs, the fleet, the limit and the SQS
 * dead-letter queue. The intake, the command line and the HTTP API call these and nothing else;
 * every notice a use case sends goes through here.
 */
export class BuildService {
  private readonly now: () => number;

  constructor(private readonly options: BuildServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  /** True when a submit can succeed now. */
  ready(): Promise<boolean> {
    return this.options.store.ready();
  }

  /** Queues a request durably (resolves once Redis has it) and announces what became of it. */
  async submit(build: QueuedBuild): Promise<SubmitResult> {
    return (await this.submitAll([build]))[0]!;
  }

  /**
   * Queues a batch of requests durably (resolves once Redis has them all, in as few round trips as
   * the dedup allows) and announces what became of each.
   */
  async submitAll(builds: readonly QueuedBuild[]): Promise<SubmitResult[]> {
    const results = await this.options.store.submitAll(builds);
    await Promise.all(results.map((result, index) => this.announceSubmitted(builds[index]!, result)));
    return results;
  }

  private async announceSubmitted(build: QueuedBuild, result: SubmitResult): Promise<void> {
    const log = this.options.logger.child({ requestId: build.requestId });
    if (result.status === 'duplicate') return;
    const attempt = result.attempt ?? 1;
    const details: NoticeDetails =
      result.status === 'superseded'
        ? { phase: 'cancelled', reason: 'Superseded', message: `superseded by newer request ${result.by}` }
        : { phase: 'queued', ...(result.position ? { queuePosition: result.position } : {}) };
    await announce(this.options.notify, build, attempt, details, log);
  }

  /** The cluster, when this process can reach it (connected on first need). */
  private async cluster(): Promise<ClusterView | undefined> {
    const { cluster } = this.options;
    return cluster && (await cluster.open()) ? cluster : undefined;
  }

  private async entry(requestId: string): Promise<EntryView> {
    const entry = await this.options.store.entry(requestId);
    if (!entry) {
      throw new KjlError('KJL_UNKNOWN_REQUEST', `no request ${requestId} in the queue`, {
        context: { requestId },
      });
    }
    return entry;
  }

  /** Where a request stands, in words a caller can act on; a running one's pod read from the cluster. */
  async status(requestId: string): Promise<BuildStatus> {
    const { store } = this.options;
    const entry = await this.entry(requestId);
    const cancelled = entry.state !== 'completed' && (await store.isCancelled(requestId));
    if (entry.state === 'waiting') {
      const [position, counts, limit] = await Promise.all([
        store.position(requestId),
        store.counts(),
        store.limit(),
      ]);
      return describe(entry, { cancelled, ...(position ? { position } : {}), active: counts.active, limit });
    }
    const jobName = entry.progress?.state === 'running' ? entry.progress.jobName : entry.build.run?.jobName;
    const cluster = entry.state === 'active' && jobName ? await this.cluster() : undefined;
    const run = cluster && jobName ? await cluster.describeRun(jobName) : undefined;
    return describe(entry, { cancelled, ...(run ? { run } : {}) });
  }

  /** Builds, newest first, by state, target and time: the queue and the history. */
  async list(query: BuildQuery): Promise<BuildPage> {
    const states = query.states?.length ? query.states : BUILD_STATES;
    const entryStates = [...new Set(states.flatMap((state) => ENTRY_STATES_OF[state]))];
    const builds: BuildSummary[] = [];
    let cursor = query.cursor;
    for (;;) {
      // one entry at a time once the page is nearly full, so that the cursor lands right after it
      const limit = Math.min(PAGE, Math.max(1, query.limit - builds.length));
      const page = await this.options.store.entries({
        states: entryStates,
        limit,
        ...(cursor ? { cursor } : {}),
      });
      for (const entry of page.entries) {
        const summary = summarize(entry);
        const wanted =
          states.includes(summary.state) &&
          (query.target === undefined || summary.target === query.target) &&
          (query.since === undefined || summary.queuedAt >= query.since);
        if (wanted) builds.push(summary);
      }
      cursor = page.cursor;
      if (builds.length >= query.limit || !cursor) return { builds, ...(cursor ? { next: cursor } : {}) };
    }
  }

  /** The fleet at a glance: entries by state, the limit, active Jobs, targets in backoff, the oldest wait. */
  async fleet(): Promise<FleetStatus> {
    const { store, failureBackoffMs } = this.options;
    const now = this.now();
    const [entries, limit, failures, oldest, activeJobs] = await Promise.all([
      store.counts(),
      store.limit(),
      store.failures(),
      store.entries({ states: ['waiting'], limit: 1, oldestFirst: true }),
      this.cluster().then((cluster) => cluster?.unfinishedJobs()),
    ]);
    const backoff = failures
      .map(({ target, failedAt }) => ({ target, until: failedAt + failureBackoffMs }))
      .filter(({ until }) => until > now)
      .sort((a, b) => a.until - b.until);
    const first = oldest.entries[0];
    return {
      entries,
      limit,
      ...(activeJobs !== undefined ? { activeJobs } : {}),
      backoff,
      ...(first
        ? { oldestWaiting: { requestId: first.build.requestId, waitingMs: now - first.addedAt } }
        : {}),
    };
  }

  /**
   * A build's log: a running one's from its pod (followed until it ends with `follow`), else the
   * tail kept with its failure, else what its Job's pod still has. Returns where it came from.
   */
  async logs(
    requestId: string,
    options: { follow: boolean; signal?: AbortSignal },
    write: (chunk: string) => void,
  ): Promise<LogSource> {
    const entry = await this.entry(requestId);
    const outcome = entry.build.outcome;
    const jobName = entry.build.run?.jobName ?? outcome?.jobName;
    const live = entry.state === 'active' || outcome?.status === 'succeeded';
    const cluster = live && jobName ? await this.cluster() : undefined;
    if (cluster && jobName && (await cluster.streamLog(jobName, options, write))) return 'live';
    if (outcome?.status === 'failed' && outcome.logTail.length > 0) {
      write(`${outcome.logTail.join('\n')}\n`);
      return 'tail';
    }
    return 'none';
  }

  /**
   * Cancels a request. A queued one never starts a Job; a running one has its Job deleted, and its
   * worker records and announces the cancellation once the Job is gone.
   */
  async cancel(requestId: string): Promise<CancelResult> {
    const { store } = this.options;
    const before = await this.entry(requestId);
    if (before.state === 'completed' || before.state === 'failed') {
      return { outcome: 'finished', status: await this.status(requestId) };
    }
    const cluster = before.build.run ? await this.cluster() : undefined;
    if (before.build.run && !cluster) {
      // its Job must be deleted: without the cluster the cancellation would never take effect
      throw new KjlError(
        'KJL_K8S_CONFIG',
        `cannot cancel started build ${requestId}: no access to the cluster`,
        {
          context: { requestId },
        },
      );
    }
    // marked, then read again: a worker that looks after the mark sees it, and a Job a worker
    // created before it is found below
    await store.markCancelled(requestId);
    const entry = await this.entry(requestId);
    if (entry.state === 'completed' || entry.state === 'failed') {
      return { outcome: 'finished', status: await this.status(requestId) };
    }
    // a started build's Job may run whatever its entry's state (taken back, released at a stop,
    // waiting for a slot): delete it now; the worker that ends the entry announces the cancel
    const reach = entry.build.run ? (cluster ?? (await this.cluster())) : undefined;
    const jobs = reach ? await reach.deleteRequestJobs(requestId) : [];
    if (entry.state !== 'active') {
      // a worker ends it now rather than when it was due
      await store.promote(requestId);
      return jobs.length ? { outcome: 'running', jobs } : { outcome: 'queued' };
    }
    return { outcome: 'running', jobs };
  }

  /**
   * Puts a finished entry back with fresh attempts and announces it. Returns the run it will start
   * as, or undefined when it is not finished.
   */
  private async requeue(entry: EntryView): Promise<number | undefined> {
    const { store } = this.options;
    const requestId = entry.build.requestId;
    if (!(await store.requeue(requestId))) return undefined;
    const attempt = (await store.runCount(requestId)) + 1;
    await announce(
      this.options.notify,
      entry.build,
      attempt,
      { phase: 'queued' },
      this.options.logger.child({ requestId }),
    );
    return attempt;
  }

  /**
   * Queues finished builds again (failed, cancelled; succeeded or superseded ones too when named),
   * each with fresh attempts, and announces each. Returns the request ids replayed.
   */
  async replay(requestIds: readonly string[]): Promise<string[]> {
    const replayed: string[] = [];
    for (const requestId of requestIds) {
      const entry = await this.options.store.entry(requestId);
      if (entry && (await this.requeue(entry)) !== undefined) replayed.push(requestId);
    }
    return replayed;
  }

  /** Queues every build that failed for good (and every cancelled one) again; returns their ids. */
  async replayFailed(): Promise<string[]> {
    const { builds } = await this.list({ states: ['failed', 'cancelled'], limit: 10_000 });
    return this.replay(builds.map((build) => build.requestId));
  }

  /**
   * Queues one finished build again, with fresh attempts. Throws `KJL_UNKNOWN_REQUEST` for an
   * unknown request and `KJL_NOT_FINISHED` for one still queued, waiting or running.
   */
  async replayBuild(requestId: string): Promise<SubmitResult> {
    const entry = await this.entry(requestId);
    const attempt = await this.requeue(entry);
    if (attempt === undefined) {
      const { state } = summarize(entry);
      throw new KjlError(
        'KJL_NOT_FINISHED',
        `${requestId} is ${state}: only a finished build can be replayed`,
        {
          context: { requestId, state },
        },
      );
    }
    const position = await this.options.store.position(requestId);
    return { status: 'requeued', requestId, ...(position ? { position } : {}), attempt };
  }

  /** The fleet's concurrent-job limit in force. */
  limit(): Promise<number> {
    return this.options.store.limit();
  }

  /** Sets the fleet's limit (the one writer besides a starting launcher). */
  async setLimit(limit: number): Promise<void> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new KjlError('KJL_USAGE', `the limit must be a whole number from 1 to 10000 (got ${limit})`, {
        context: { limit },
      });
    }
    await this.options.store.setLimit(limit);
  }

  private deadLetterQueue(): DeadLetterQueuePort {
    if (!this.options.deadLetters) {
      throw new KjlError('KJL_NO_DLQ', 'no dead-letter queue is configured (KJL_SQS_DLQ_URL)');
    }
    return this.options.deadLetters;
  }

  /** The messages in the SQS dead-letter queue, without taking them. */
  deadLetters(filter: DeadLetterFilter = {}) {
    return this.deadLetterQueue().list(filter);
  }

  /** Moves dead-lettered messages back to their source queue (the intake checks them again). */
  replayDeadLetters(filter: DeadLetterFilter = {}, onProgress?: (progress: ReplayProgress) => void) {
    return this.deadLetterQueue().replay(filter, onProgress);
  }

  purgeDeadLetters(): Promise<void> {
    return this.deadLetterQueue().purge();
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
