import { Queue, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { targetKey, type QueuedBuild } from '../build-request.js';
import { KjlError, QueueUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redisOptionsFromUrl } from './redis-options.js';
import { TargetRegistry } from './target-registry.js';

export interface BuildQueueOptions {
  redisUrl: string;
  name: string;
  prefix: string;
  maxConcurrentJobs: number;
  /** how long a succeeded entry is kept, so that an identical request is recognised as a duplicate */
  successDedupSeconds: number;
  /** attempts of a build whose failures are retryable */
  maxAttempts: number;
  /** delay before a retryable failure is tried again */
  failureBackoffSeconds: number;
  logger: Logger;
}

/** What became of a submitted request. */
export type SubmitStatus =
  /** new entry in the queue */
  | 'queued'
  /** the same request (target + content hash) is already queued, running or just succeeded */
  | 'duplicate'
  /** the same request had failed for good (or was cancelled); it is queued again */
  | 'requeued';

export interface SubmitResult {
  status: SubmitStatus;
  requestId: string;
  /** place among the waiting entries (1 = next), when queued */
  position?: number;
  /** the run number the entry will start as (events of that run carry it) */
  attempt?: number;
}

/** What a caller is told about a request. */
export interface BuildStatus {
  requestId: string;
  state: 'queued' | 'waiting' | 'running' | 'succeeded' | 'superseded' | 'failed' | 'cancelled';
  /** a sentence for people */
  message: string;
  position?: number;
  active: number;
  limit: number;
  attempt?: number;
  target: string;
  contentHash: string;
  result?: unknown;
  failure?: QueuedBuild['failure'];
}

const ONE_WEEK_SECONDS = 7 * 24 * 3600;

/**
 * The durable queue of build requests (BullMQ on Redis). The entry id is the request id, derived
 * from target and content hash, so a redelivered or re-sent message never makes a second entry.
 * The queue's global concurrency is the max-concurrent-jobs limit, shared by every replica.
 */
export class BuildQueue {
  readonly registry: TargetRegistry;

  private constructor(
    readonly queue: Queue<QueuedBuild>,
    /** kjl's own connection: health checks and the per-target records */
    private readonly redis: Redis,
    private readonly options: BuildQueueOptions,
  ) {
    this.registry = new TargetRegistry(redis, options.prefix, options.name);
  }

  static async open(options: BuildQueueOptions): Promise<BuildQueue> {
    const queue = new Queue<QueuedBuild>(options.name, {
      connection: redisOptionsFromUrl(options.redisUrl, true),
      prefix: options.prefix,
    });
    queue.on('error', (error) => options.logger.warn({ err: error }, 'queue connection error'));
    const redis = new Redis({ ...redisOptionsFromUrl(options.redisUrl, true), lazyConnect: true });
    redis.on('error', () => {}); // reported through the queue's listener and ready()
    try {
      await redis.connect();
      await queue.waitUntilReady();
      await queue.setGlobalConcurrency(options.maxConcurrentJobs);
    } catch (error) {
      await Promise.allSettled([queue.close(), redis.quit()]);
      throw new QueueUnavailableError(`cannot reach Redis at ${new URL(options.redisUrl).host}`, {
        cause: error,
        context: { queue: options.name },
      });
    }
    return new BuildQueue(queue, redis, options);
  }

  private jobOptions(requestId: string): JobsOptions {
    return {
      jobId: requestId,
      attempts: this.options.maxAttempts,
      backoff: { type: 'fixed', delay: this.options.failureBackoffSeconds * 1000 },
      removeOnComplete: { age: Math.max(1, this.options.successDedupSeconds) },
      removeOnFail: { age: ONE_WEEK_SECONDS },
    };
  }

  /**
   * Adds a request durably (resolves once Redis has it) and records it as its target's newest.
   * Throws QueueUnavailableError when Redis cannot be reached: the caller must then keep the message.
   */
  async submit(build: QueuedBuild): Promise<SubmitResult> {
    const { requestId } = build;
    const target = targetKey(build.request);
    try {
      const existing = await this.queue.getJob(requestId);
      const state = existing ? await existing.getState() : 'unknown';
      const finished = state === 'completed' || state === 'failed';
      if (existing && !finished && state !== 'unknown') return { status: 'duplicate', requestId };
      // Just succeeded and still the target's newest content: nothing to build. A superseded entry,
      // or content the target has moved away from since, is built again.
      if (existing && state === 'completed') {
        const result = existing.returnvalue as { status?: string } | undefined;
        if (result?.status !== 'superseded' && (await this.registry.latest(target)) === requestId) {
          return { status: 'duplicate', requestId };
        }
      }
      await Promise.all([
        this.registry.recordLatest(target, requestId, build.origin.sentAt ?? build.origin.receivedAt),
        this.registry.clearCancelled(requestId),
      ]);
      if (existing && finished) {
        await this.requeue(existing, state);
      } else {
        // An add with an id that exists meanwhile (a concurrent replica) is a no-op in BullMQ.
        await this.queue.add(target, build, this.jobOptions(requestId));
      }
      const [position, runs] = await Promise.all([
        this.queue.getJobCountByTypes('waiting', 'prioritized'),
        this.registry.runCount(requestId),
      ]);
      return { status: existing && finished ? 'requeued' : 'queued', requestId, position, attempt: runs + 1 };
    } catch (error) {
      throw new QueueUnavailableError(`could not add request ${requestId} to queue ${this.options.name}`, {
        cause: error,
        context: { requestId, queue: this.options.name },
      });
    }
  }

  /** Puts a finished entry back in the queue as a new run (replay, or content built again). */
  private async requeue(job: Job<QueuedBuild>, state: 'completed' | 'failed'): Promise<void> {
    const { run: _run, failure: _failure, ...data } = job.data;
    await job.updateData(data);
    await job.retry(state);
  }

  /** The queue entry of a request; KJL_UNKNOWN_REQUEST when there is none. */
  private async entry(requestId: string): Promise<Job<QueuedBuild>> {
    const job = await this.queue.getJob(requestId);
    if (!job) {
      throw new KjlError('KJL_UNKNOWN_REQUEST', `no request ${requestId} in queue ${this.options.name}`, {
        context: { requestId },
      });
    }
    return job;
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

  /** Where a request stands, in words a caller can act on. */
  async status(requestId: string): Promise<BuildStatus> {
    const job = await this.entry(requestId);
    const state = await job.getState();
    const cancelled = await this.registry.isCancelled(requestId);
    const active = await this.queue.getActiveCount();
    const limit = this.options.maxConcurrentJobs;
    const base = {
      requestId,
      active,
      limit,
      target: targetKey(job.data.request),
      contentHash: job.data.request.contentHash,
      ...(job.data.run ? { attempt: job.data.run.attempt } : {}),
    };
    if (cancelled && state !== 'completed') return { ...base, state: 'cancelled', message: 'cancelled' };
    if (state === 'waiting' || state === 'prioritized') {
      const waiting = await this.queue.getWaiting();
      const position = waiting.findIndex((entry) => entry.id === requestId) + 1 || undefined;
      const full = active >= limit ? `; the concurrent job limit (${active}/${limit}) is reached` : '';
      return {
        ...base,
        state: 'queued',
        ...(position ? { position } : {}),
        message: `queued${position ? ` at position ${position}` : ''}${full}`,
      };
    }
    if (state === 'delayed') {
      const progress = job.progress as { reason?: string; until?: number } | number;
      const why = typeof progress === 'object' && progress.reason ? progress.reason : 'retry backoff';
      const until =
        typeof progress === 'object' && progress.until
          ? ` until ${new Date(progress.until).toISOString()}`
          : '';
      return { ...base, state: 'waiting', message: `waiting (${why})${until}` };
    }
    if (state === 'active') {
      const progress = job.progress as { jobName?: string } | number;
      const name = typeof progress === 'object' && progress.jobName ? ` as Job ${progress.jobName}` : '';
      return { ...base, state: 'running', message: `running${name}` };
    }
    if (state === 'completed') {
      const result = job.returnvalue as { status?: string; by?: string } | undefined;
      if (result?.status === 'superseded') {
        return { ...base, state: 'superseded', result, message: `superseded by newer request ${result.by}` };
      }
      return { ...base, state: 'succeeded', result, message: 'succeeded' };
    }
    const failure = job.data.failure;
    if (failure?.reason === 'Cancelled') return { ...base, state: 'cancelled', message: 'cancelled' };
    return {
      ...base,
      state: 'failed',
      ...(failure ? { failure } : {}),
      message: `failed: ${failure ? `${failure.reason}: ${failure.message}` : job.failedReason}`,
    };
  }

  /**
   * Marks a request cancelled. A queued entry never starts a Job (`queued`: the caller announces
   * it); a running one is `running` (its worker ends it once the Job is deleted).
   */
  async cancel(
    requestId: string,
  ): Promise<{ outcome: 'queued' | 'running' | 'finished'; build: QueuedBuild; attempt: number }> {
    const job = await this.entry(requestId);
    const state = await job.getState();
    const attempt = job.data.run?.attempt ?? (await this.registry.runCount(requestId)) + 1;
    if (state === 'completed' || state === 'failed') return { outcome: 'finished', build: job.data, attempt };
    await this.registry.markCancelled(requestId);
    if (state === 'active') return { outcome: 'running', build: job.data, attempt };
    // The entry stays until a worker takes it and fails it as Cancelled without starting a Job.
    if (state === 'delayed') await job.promote().catch(() => {});
    return { outcome: 'queued', build: job.data, attempt };
  }

  /** Builds that failed for good (the dead-letter set), newest first. */
  async failed(limit = 100): Promise<Job<QueuedBuild>[]> {
    return this.queue.getFailed(0, limit - 1);
  }

  /** Queues failed builds again; returns what was requeued, with the run number each will start as. */
  async replay(requestIds: string[]): Promise<{ build: QueuedBuild; attempt: number }[]> {
    const done: { build: QueuedBuild; attempt: number }[] = [];
    for (const requestId of requestIds) {
      const job = await this.queue.getJob(requestId);
      if (!job || (await job.getState()) !== 'failed') continue;
      await Promise.all([
        this.registry.clearCancelled(requestId),
        this.registry.recordLatest(targetKey(job.data.request), requestId, Date.now()),
      ]);
      await this.requeue(job, 'failed');
      done.push({ build: job.data, attempt: (await this.registry.runCount(requestId)) + 1 });
    }
    return done;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.redis.quit()]);
  }
}
