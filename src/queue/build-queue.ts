import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { QueuedBuild } from '../build-request.js';
import { QueueUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redisOptionsFromUrl } from './redis-options.js';

export interface BuildQueueOptions {
  redisUrl: string;
  name: string;
  prefix: string;
  maxConcurrentJobs: number;
  /** how long a succeeded entry is kept, so that an identical request is recognised as a duplicate */
  successDedupSeconds: number;
  logger: Logger;
}

/** What became of a submitted request. */
export type SubmitStatus =
  /** new entry in the queue */
  | 'queued'
  /** the same request (target + content hash) is already queued, running or just succeeded */
  | 'duplicate'
  /** the same request had failed for good; it is queued again */
  | 'requeued';

export interface SubmitResult {
  status: SubmitStatus;
  requestId: string;
}

const ONE_WEEK_SECONDS = 7 * 24 * 3600;

/**
 * The durable queue of build requests (BullMQ on Redis). The entry id is the request id, derived
 * from target and content hash, so a redelivered or re-sent message never makes a second entry.
 * The queue's global concurrency is the max-concurrent-jobs limit, shared by every replica.
 */
export class BuildQueue {
  private constructor(
    readonly queue: Queue<QueuedBuild>,
    /** kjl's own connection: health checks and the per-target records */
    private readonly redis: Redis,
    private readonly options: BuildQueueOptions,
  ) {}

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
      removeOnComplete: { age: Math.max(1, this.options.successDedupSeconds) },
      removeOnFail: { age: ONE_WEEK_SECONDS },
    };
  }

  /**
   * Adds a request durably (resolves once Redis has it). Throws QueueUnavailableError when Redis
   * cannot be reached: the caller must then keep the message.
   */
  async submit(build: QueuedBuild): Promise<SubmitResult> {
    const { requestId } = build;
    try {
      const existing = await this.queue.getJob(requestId);
      if (existing) {
        const state = await existing.getState();
        if (state === 'failed') {
          await existing.retry('failed');
          return { status: 'requeued', requestId };
        }
        if (state !== 'unknown') return { status: 'duplicate', requestId };
      }
      const name = `${build.request.thirdPartyId}/${build.request.parserId}`;
      const job = await this.queue.add(name, build, this.jobOptions(requestId));
      // BullMQ answers an add with an existing id by returning that entry: a concurrent submit won.
      const fresh =
        job.timestamp >= build.origin.receivedAt && job.data.origin.eventId === build.origin.eventId;
      return { status: fresh || !existing ? 'queued' : 'duplicate', requestId };
    } catch (error) {
      throw new QueueUnavailableError(`could not add request ${requestId} to queue ${this.options.name}`, {
        cause: error,
        context: { requestId, queue: this.options.name },
      });
    }
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

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.redis.quit()]);
  }
}
