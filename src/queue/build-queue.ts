import { Queue, type Job, type JobsOptions, type JobType } from 'bullmq';
import { Redis } from 'ioredis';
import type {
  BuildStore,
  EntryPage,
  EntryProgress,
  EntryQuery,
  EntryResult,
  EntryState,
  EntryView,
  SubmitResult,
  TargetSnapshot,
} from '../app/ports.js';
import { targetKey, type QueuedBuild } from '../build-request.js';
import { KjlError, QueueUnavailableError, UsageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redisOptionsFor, type ConnectionMode } from './redis-options.js';
import { DashboardAdapter } from './dashboard-adapter.js';
import { durabilityProblems } from './redis-durability.js';
import { RedisRecords, type SubmissionRecord } from './redis-records.js';
import { isTransientRedisError, retryTransient } from './redis-retry.js';

export interface BuildQueueOptions {
  redisUrl: string;
  name: string;
  prefix: string;
  /**
   * `worker`: a service process that runs builds; waits out Redis blips. `intake`: a service
   * process that only takes requests in; fails fast (the message stays in SQS). `command`: a
   * one-shot command; fails fast and gives up connecting after a few seconds.
   */
  mode: ConnectionMode;
  /** the limit; written as the fleet's only when `ownsLimit`, else only a fallback */
  maxConcurrentJobs: number;
  /** true for the long-running processes that own the fleet's limit (`kjl start`, `kjl dev`, `kjl limit`) */
  ownsLimit: boolean;
  /** what to do when Redis could lose acknowledged requests; `skip`: do not look */
  durability: 'strict' | 'warn' | 'skip';
  /** how long after its success an identical request is a duplicate */
  successDedupSeconds: number;
  /** how long, and how many, finished entries are kept (the history) */
  history: { ageSeconds: number; count: number };
  /** attempts of a build whose failures are retryable */
  maxAttempts: number;
  /** delay before a retryable failure is tried again */
  failureBackoffSeconds: number;
  /** lease of a slot reservation, renewed while its process lives (the worker lock's length) */
  leaseSeconds: number;
  logger: Logger;
}

const STATE_OF: Partial<Record<string, EntryState>> = {
  waiting: 'waiting',
  prioritized: 'waiting',
  'waiting-children': 'waiting',
  delayed: 'delayed',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};
const BULL_TYPES: Record<EntryState, JobType[]> = {
  waiting: ['waiting', 'prioritized'],
  delayed: ['delayed'],
  active: ['active'],
  completed: ['completed'],
  failed: ['failed'],
};
const PENDING: ReadonlySet<EntryState> = new Set(['waiting', 'delayed', 'active']);

/** A page cursor: each BullMQ list's offset, as URL-safe base64 of JSON. */
function decodeCursor(cursor: string): Record<string, number> {
  try {
    const offsets: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const valid =
      offsets !== null &&
      typeof offsets === 'object' &&
      Object.values(offsets).every((offset) => Number.isSafeInteger(offset) && (offset as number) >= 0);
    if (valid) return offsets as Record<string, number>;
  } catch {
    // refused below
  }
  throw new UsageError('cursor: is not one a list gave (pass its `next` as it is)', {
    context: { field: 'cursor' },
  });
}

/** A Redis URL without its password, for messages. */
function hostOf(url: string): string {
  return new URL(url).host;
}

/**
 * The durable queue of build requests (BullMQ on Redis) and kjl's records next to it; implements
 * the application layer's `BuildStore`. BullMQ and the Redis connections stay inside. The entry id
 * is the request id, derived from target and content hash, so a redelivered or re-sent message
 * never makes a second entry. The queue's global concurrency is the fleet's max-concurrent-jobs
 * limit; only a process that owns it writes it.
 */
export class BuildQueue implements BuildStore {
  private readonly records: RedisRecords;
  private readonly held = new Set<string>();
  private readonly renewal: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly queue: Queue<QueuedBuild>,
    /** kjl's own connection: the records and health checks */
    private readonly redis: Redis,
    private readonly options: BuildQueueOptions,
  ) {
    this.records = new RedisRecords(
      redis,
      options.prefix,
      options.name,
      `${options.prefix}:${options.name}:meta`,
      options.history.ageSeconds * 1000,
    );
    const leaseMs = options.leaseSeconds * 1000;
    this.renewal = setInterval(() => {
      this.records
        .renew([...this.held], leaseMs)
        .catch((error: unknown) => options.logger.warn({ err: error }, 'could not renew slot reservations'));
    }, leaseMs / 3);
    this.renewal.unref();
  }

  static async open(options: BuildQueueOptions): Promise<BuildQueue> {
    const connection = redisOptionsFor(options.redisUrl, options.mode);
    const queue = new Queue<QueuedBuild>(options.name, { connection, prefix: options.prefix });
    const redis = new Redis({ ...connection, lazyConnect: true });
    const log = options.logger;
    queue.on('error', (error) => log.warn({ err: error }, 'queue connection error'));
    redis.on('error', (error) => log.debug({ err: error }, 'redis connection error'));
    const context = { queue: options.name, redis: hostOf(options.redisUrl) };
    try {
      await redis.connect();
      await queue.waitUntilReady();
    } catch (error) {
      queue.disconnect().catch(() => {});
      redis.disconnect();
      throw new QueueUnavailableError(`cannot reach Redis at ${hostOf(options.redisUrl)}`, {
        cause: error,
        context,
      });
    }
    const store = new BuildQueue(queue, redis, options);
    try {
      if (options.durability !== 'skip') await store.checkDurability();
      if (options.ownsLimit) await queue.setGlobalConcurrency(options.maxConcurrentJobs);
    } catch (error) {
      await store.close();
      if (error instanceof KjlError) throw error;
      throw new QueueUnavailableError(
        `cannot set up queue ${options.name} on Redis at ${hostOf(options.redisUrl)}`,
        {
          cause: error,
          context,
        },
      );
    }
    return store;
  }

  private async checkDurability(): Promise<void> {
    const problems = await durabilityProblems(this.redis);
    const context = { redis: hostOf(this.options.redisUrl) };
    if (problems === undefined) {
      this.options.logger.warn(
        context,
        'cannot read the Redis configuration (CONFIG disabled); make sure it persists every write and never evicts',
      );
      return;
    }
    if (problems.length === 0) return;
    const message = `Redis at ${context.redis} could lose acknowledged requests: ${problems.join('; ')}`;
    if (this.options.durability === 'strict') {
      throw new KjlError(
        'KJL_REDIS_NOT_DURABLE',
        `${message} (set KJL_REDIS_DURABILITY=warn to run anyway)`,
        {
          context,
        },
      );
    }
    this.options.logger.warn({ ...context, problems }, 'Redis could lose acknowledged requests');
  }

  /** Runs a Redis operation: waited out through blips in worker mode, reported at once otherwise. */
  private async call<T>(what: string, operation: () => Promise<T>, requestId?: string): Promise<T> {
    try {
      if (this.options.mode !== 'worker') return await operation();
      return await retryTransient(operation, {
        stopped: () => this.closed,
        onRetry: (error, attempt) =>
          this.options.logger.warn(
            { err: error, attempt, requestId },
            `${what}: Redis unavailable; retrying`,
          ),
      });
    } catch (error) {
      if (!isTransientRedisError(error) && !this.closed) throw error;
      throw new QueueUnavailableError(`${what}: Redis at ${hostOf(this.options.redisUrl)} is unavailable`, {
        cause: error,
        context: { queue: this.options.name, ...(requestId ? { requestId } : {}) },
      });
    }
  }

  private jobOptions(requestId: string): JobsOptions {
    return {
      jobId: requestId,
      attempts: this.options.maxAttempts,
      backoff: { type: 'fixed', delay: this.options.failureBackoffSeconds * 1000 },
      removeOnComplete: { age: this.options.history.ageSeconds, count: this.options.history.count },
      removeOnFail: { age: this.options.history.ageSeconds, count: this.options.history.count },
      // a failure keeps its reason and outcome; the worker's own stack says nothing about the build
      stackTraceLimit: 0,
    };
  }

  async submitAll(builds: readonly QueuedBuild[]): Promise<SubmitResult[]> {
    if (builds.length === 0) return [];
    return this.call(
      'submit',
      async () => {
        // The newest message wins, also when it repeats a request that is still queued.
        const wait = this.queue.keys.wait!;
        const { waiting, records } = await this.records.recordSubmissions(
          wait,
          builds.map((build) => ({
            target: targetKey(build.request),
            requestId: build.requestId,
            sentAt: build.origin.sentAt ?? build.origin.receivedAt,
            entryKey: this.queue.toKey(build.requestId),
          })),
        );
        // New entries are added in bulk, in the batch's order with the others
        const results: SubmitResult[] = [];
        let bulk: QueuedBuild[] = [];
        const flush = async () => {
          // an add with an id that exists meanwhile (a concurrent replica) is a no-op in BullMQ
          if (bulk.length > 0) {
            await this.queue.addBulk(
              bulk.map((build) => ({
                name: targetKey(build.request),
                data: build,
                opts: this.jobOptions(build.requestId),
              })),
            );
          }
          bulk = [];
        };
        for (const [index, build] of builds.entries()) {
          const record = records[index]!;
          const { requestId } = build;
          if (record.verdict === 'fresh') {
            bulk.push(build);
            results.push({ status: 'queued', requestId, attempt: record.runs + 1 });
          } else if (record.verdict === 'superseded') {
            results.push({ status: 'superseded', requestId, by: record.previous!, attempt: record.claimed });
          } else {
            await flush();
            results.push(await this.submitAgain(build, record));
          }
        }
        await flush();
        const queued = results.filter((result) => result.status === 'queued' || result.status === 'requeued');
        // A batch of only new requests went to the back of the line in its order, behind the
        // entries that waited before it (no second round trip to ask; a replica adding at the same
        // moment may put a few in between). Any other batch asks where each entry stands.
        const positions = records.every((record) => record.verdict === 'fresh')
          ? queued.map((_, index) => waiting + index + 1)
          : await this.positions(queued.map((result) => result.requestId));
        queued.forEach((result, index) => {
          if (positions[index]) result.position = positions[index];
        });
        return results;
      },
      builds.length === 1 ? builds[0]!.requestId : undefined,
    );
  }

  /**
   * A submission the batch could not simply add: its request has an entry already, is superseded,
   * or came earlier in the same batch.
   */
  private async submitAgain(build: QueuedBuild, record: SubmissionRecord): Promise<SubmitResult> {
    const { requestId } = build;
    const { previous, newest } = record;
    const existing = await this.queue.getJob(requestId);
    const state = existing ? STATE_OF[await existing.getState()] : undefined;
    const messageId = build.origin.messageId;
    const sameMessage = messageId !== undefined && existing?.data.origin.messageId === messageId;
    if (existing && state && PENDING.has(state)) {
      // The message that queued the entry, delivered again before a run began (Redis failed after
      // it took the batch): queued, and its notice sent again under the same id.
      const unstarted = sameMessage && state !== 'active' && !existing.data.run;
      return unstarted
        ? { status: 'queued', requestId, attempt: record.runs + 1 }
        : { status: 'duplicate', requestId };
    }
    // The very message that queued the entry, delivered again (SQS redelivers a message whose
    // delete was lost): never a new run, whatever became of the entry, unless it was bringing the
    // entry back when it was cut short.
    if (existing && sameMessage && !(await this.records.isRequeueing(requestId, messageId))) {
      return { status: 'duplicate', requestId };
    }
    // Sent before the target's newest request: it would only be superseded.
    if (!newest && previous !== requestId) {
      const sentAt = build.origin.sentAt ?? build.origin.receivedAt;
      // a run number of its own, so that its notice's id is never another life's
      const attempt = await this.records.claimRun(requestId, `superseded-${sentAt}`);
      return { status: 'superseded', requestId, by: previous!, attempt };
    }
    // Just succeeded and the target's newest content until now: nothing to build. A superseded
    // entry, or content the target had moved away from, is built again.
    if (existing && state === 'completed') {
      const result = existing.returnvalue as EntryResult | undefined;
      const recent = Date.now() - (existing.finishedOn ?? 0) < this.options.successDedupSeconds * 1000;
      if (result?.status !== 'superseded' && previous === requestId && recent) {
        return { status: 'duplicate', requestId };
      }
    }
    await this.records.clearCancelled(requestId);
    const again = existing !== undefined && (state === 'completed' || state === 'failed');
    if (again) await this.requeueJob(existing, state, build);
    else await this.queue.add(targetKey(build.request), build, this.jobOptions(requestId));
    return { status: again ? 'requeued' : 'queued', requestId, attempt: record.runs + 1 };
  }

  /** 1-based places among the waiting entries (1 = next), in one round trip. */
  private async positions(requestIds: readonly string[]): Promise<(number | undefined)[]> {
    if (requestIds.length === 0) return [];
    // BullMQ pushes new entries on the left of its wait list and takes the next from the right
    const wait = this.queue.keys.wait!;
    const pipeline = this.redis.pipeline().llen(wait);
    for (const requestId of requestIds) pipeline.lpos(wait, requestId);
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
    const length = Number(replies[0]?.[1] ?? 0);
    return requestIds.map((_, index) => {
      const at = replies[index + 1]?.[1];
      return typeof at === 'number' ? length - at : undefined;
    });
  }

  /**
   * A finished entry back in the queue as a new run: its record cleared (and, when a new message
   * brought it back, that message's origin kept), fresh attempts.
   */
  private async requeueJob(
    job: Job<QueuedBuild>,
    state: 'completed' | 'failed',
    build: QueuedBuild = job.data,
  ): Promise<void> {
    const { run: _run, outcome: _outcome, ...data } = build;
    const { requestId, origin } = build;
    // the data is rewritten before the entry moves: cut short in between, the same message resumes
    if (origin.messageId) await this.records.requeueing(requestId, origin.messageId);
    await job.updateData(data);
    await this.records.clearClaims(requestId);
    await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
    if (origin.messageId) await this.records.requeued(requestId);
  }

  async requeue(requestId: string): Promise<boolean> {
    return this.call(
      'requeue',
      async () => {
        const job = await this.queue.getJob(requestId);
        const state = job ? STATE_OF[await job.getState()] : undefined;
        if (!job || (state !== 'completed' && state !== 'failed')) return false;
        await this.records.clearCancelled(requestId);
        await this.records.recordLatest(targetKey(job.data.request), requestId, Date.now());
        await this.requeueJob(job, state);
        return true;
      },
      requestId,
    );
  }

  private async view(job: Job<QueuedBuild>): Promise<EntryView | undefined> {
    const state = STATE_OF[await job.getState()];
    if (!state) return undefined;
    return {
      build: job.data,
      state,
      attemptsMade: job.attemptsMade,
      addedAt: job.timestamp,
      ...(job.processedOn ? { processedAt: job.processedOn } : {}),
      ...(job.finishedOn ? { finishedAt: job.finishedOn } : {}),
      ...(state === 'delayed' ? { dueAt: job.timestamp + job.delay } : {}),
      ...(job.returnvalue ? { result: job.returnvalue as EntryResult } : {}),
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(job.progress && typeof job.progress === 'object'
        ? { progress: job.progress as EntryProgress }
        : {}),
    };
  }

  async entry(requestId: string): Promise<EntryView | undefined> {
    return this.call(
      'read entry',
      async () => {
        const job = await this.queue.getJob(requestId);
        return job ? this.view(job) : undefined;
      },
      requestId,
    );
  }

  /**
   * A page of entries of some states, newest first (or oldest first): each BullMQ list is read from
   * its own offset (kept in the cursor) and the pages are merged by time — finished entries by when
   * they finished, running ones by when they started, waiting ones by when they were queued.
   */
  async entries(query: EntryQuery): Promise<EntryPage> {
    return this.call('list entries', async () => {
      const types = [...new Set(query.states.flatMap((state) => BULL_TYPES[state]))];
      const offsets = query.cursor ? decodeCursor(query.cursor) : {};
      const fetched = await Promise.all(
        types.map(async (type) => {
          const start = offsets[type] ?? 0;
          const jobs = (await this.queue.getJobs(
            type,
            start,
            start + query.limit - 1,
            query.oldestFirst ?? false,
          )) as (Job<QueuedBuild> | undefined)[];
          return {
            type,
            jobs: jobs.filter((job): job is Job<QueuedBuild> => job !== undefined),
            full: jobs.length === query.limit,
          };
        }),
      );
      const timeOf = (job: Job<QueuedBuild>) => job.finishedOn ?? job.processedOn ?? job.timestamp;
      const merged = fetched
        .flatMap(({ type, jobs }) => jobs.map((job) => ({ type, job })))
        .sort((a, b) => (query.oldestFirst ? timeOf(a.job) - timeOf(b.job) : timeOf(b.job) - timeOf(a.job)))
        .slice(0, query.limit);
      const next = { ...offsets };
      for (const { type } of merged) next[type] = (next[type] ?? 0) + 1;
      const more = fetched.some(
        ({ type, jobs, full }) => full || (next[type] ?? 0) - (offsets[type] ?? 0) < jobs.length,
      );
      const views = await Promise.all(merged.map(({ job }) => this.view(job)));
      return {
        entries: views.filter((view): view is EntryView => view !== undefined),
        ...(more ? { cursor: Buffer.from(JSON.stringify(next)).toString('base64url') } : {}),
      };
    });
  }

  async failures(): Promise<{ target: string; failedAt: number }[]> {
    return this.call('read failures', () => this.records.failures());
  }

  async position(requestId: string): Promise<number | undefined> {
    return this.call('read position', async () => (await this.positions([requestId]))[0], requestId);
  }

  async counts(): Promise<Record<EntryState, number>> {
    return this.call('count entries', async () => {
      const counts = await this.queue.getJobCounts(
        'waiting',
        'prioritized',
        'delayed',
        'active',
        'completed',
        'failed',
      );
      return {
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        delayed: counts.delayed ?? 0,
        active: counts.active ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
      };
    });
  }

  async limit(): Promise<number> {
    return this.call(
      'read limit',
      async () => (await this.queue.getGlobalConcurrency()) ?? this.options.maxConcurrentJobs,
    );
  }

  /** Sets the fleet's limit (the queue's global concurrency): `kjl limit N`. */
  async setLimit(limit: number): Promise<void> {
    await this.call('set limit', () => this.queue.setGlobalConcurrency(limit));
  }

  async snapshot(requestId: string, target: string): Promise<TargetSnapshot> {
    return this.call(
      'read target',
      async () => {
        const [record, cancelled] = await Promise.all([
          this.records.target(target),
          this.records.isCancelled(requestId),
        ]);
        let holderLive = false;
        if (record.holder && record.holder !== requestId) {
          const holder = await this.queue.getJob(record.holder);
          const state = holder ? STATE_OF[await holder.getState()] : undefined;
          holderLive = state !== undefined && PENDING.has(state);
        }
        return { ...record, holderLive, cancelled };
      },
      requestId,
    );
  }

  acquire(target: string, requestId: string, stale?: string): Promise<boolean> {
    return this.call('acquire target', () => this.records.acquire(target, requestId, stale), requestId);
  }

  release(target: string, requestId: string): Promise<void> {
    return this.call('release target', () => this.records.release(target, requestId), requestId);
  }

  recordFailure(target: string, at: number): Promise<void> {
    return this.call('record failure', () => this.records.recordFailure(target, at));
  }

  clearFailure(target: string): Promise<void> {
    return this.call('clear failure', () => this.records.clearFailure(target));
  }

  async reserve(requestId: string, unfinished: readonly string[]): Promise<boolean> {
    const granted = await this.call(
      'reserve slot',
      () =>
        this.records.reserve(
          requestId,
          unfinished,
          this.options.leaseSeconds * 1000,
          this.options.maxConcurrentJobs,
        ),
      requestId,
    );
    if (granted) this.held.add(requestId);
    return granted;
  }

  async releaseSlot(requestId: string): Promise<void> {
    this.held.delete(requestId);
    await this.call('release slot', () => this.records.releaseSlot(requestId), requestId);
  }

  claimRun(requestId: string, queueAttempt: number | string): Promise<number> {
    return this.call('claim run', () => this.records.claimRun(requestId, queueAttempt), requestId);
  }

  runCount(requestId: string): Promise<number> {
    return this.call('run count', () => this.records.runCount(requestId), requestId);
  }

  markCancelled(requestId: string): Promise<void> {
    return this.call('mark cancelled', () => this.records.markCancelled(requestId), requestId);
  }

  isCancelled(requestId: string): Promise<boolean> {
    return this.call('read cancelled', () => this.records.isCancelled(requestId), requestId);
  }

  async promote(requestId: string): Promise<void> {
    await this.call(
      'promote',
      async () => {
        const job = await this.queue.getJob(requestId);
        if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => {});
      },
      requestId,
    );
  }

  /**
   * This worker process's fair share of the fleet's limit: the limit over the live worker processes,
   * plus one of slack, so that adding a worker adds capacity when the workers, not the limit, are
   * the bottleneck. Also marks this process alive.
   */
  async fairShare(workerId: string, ttlMs: number): Promise<number> {
    const [workers, limit] = await Promise.all([this.records.heartbeat(workerId, ttlMs), this.limit()]);
    return Math.min(limit, Math.ceil(limit / Math.max(1, workers)) + 1);
  }

  async leave(workerId: string): Promise<void> {
    await this.records.forgetWorker(workerId).catch(() => {});
  }

  /**
   * The queue for the dashboard (Bull Board), which reads it through BullMQ; read-only unless
   * `readOnly` is false.
   */
  dashboardAdapter(options: { readOnly: boolean; description: string }): DashboardAdapter {
    return new DashboardAdapter(this.queue, {
      readOnlyMode: options.readOnly,
      allowRetries: !options.readOnly,
      description: options.description,
    });
  }

  /** True when Redis answers now. */
  async ready(): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Closes the connections; pending calls end with QueueUnavailableError. Never hangs on a dead Redis. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewal);
    this.redis.disconnect();
    await Promise.race([
      this.queue.close().catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
    // BullMQ's disconnect waits for the client's `end` event, which an ioredis client still
    // reconnecting to a dead Redis (the intake's) never emits: bounded like the close.
    await Promise.race([
      this.queue.disconnect().catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
  }
}
