import { DelayedError, Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ActiveEntry, EntryResult, Verdict } from '../app/ports.js';
import type { QueuedBuild } from '../build-request.js';
import { KjlError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redisOptionsFor } from './redis-options.js';
import { retryTransient } from './redis-retry.js';

export interface BuildWorkerOptions {
  redisUrl: string;
  name: string;
  prefix: string;
  /** local concurrency at start; the queue's global concurrency caps all replicas together */
  concurrency: number;
  /** this process's fair share of the limit now (asked every few seconds; it keeps the process alive in Redis) */
  fairShare?: () => Promise<number>;
  /** lease of an active entry; a stopped worker's entries are picked up again after about this long */
  lockSeconds: number;
  logger: Logger;
}

// KEYS: the job's hash, its lock; ARGV: the lock token, the record (JSON)
const FENCED_SAVE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -6 end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 0`;

interface FencedClient {
  kjlFencedSave?: (jobKey: string, lockKey: string, token: string, data: string) => Promise<number>;
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
}

/** The entry's lease (its BullMQ lock) is another worker's now: this one must stop acting on it. */
export class LeaseLostError extends KjlError {
  override readonly name = 'LeaseLostError';
  constructor(requestId: string, why = 'its lease went to another worker') {
    super('KJL_LEASE_LOST', `queue entry ${requestId}: ${why}`, { context: { requestId } });
  }
}

/** How often a worker re-reads its fair share of the limit (and says it is alive). */
export const SHARE_INTERVAL_MS = 5000;

/** What the worker runs for each entry it takes: the application layer's build lifecycle. */
export type EntryHandler = (entry: ActiveEntry, maxAttempts: number) => Promise<Verdict>;

/**
 * The BullMQ worker that hands queue entries to the application layer and carries out its verdict.
 * A crashed worker's entries stall and come back to the queue however often that happens
 * (maxStalledCount is high): a crash must never fail a build.
 */
export class BuildWorker {
  private readonly worker: Worker<QueuedBuild, EntryResult>;
  private stopping = false;
  /** entries this process is handling now */
  private handling = 0;
  private shareTimer: NodeJS.Timeout | undefined;

  constructor(
    handler: EntryHandler,
    private readonly options: BuildWorkerOptions,
  ) {
    const lockMs = options.lockSeconds * 1000;
    const log = options.logger;
    this.worker = new Worker<QueuedBuild, EntryResult>(
      options.name,
      (job, token) => this.process(handler, job, token),
      {
        connection: redisOptionsFor(options.redisUrl, 'worker'),
        prefix: options.prefix,
        concurrency: options.concurrency,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        maxStalledCount: 1000,
        autorun: false,
      },
    );
    this.worker.on('error', (error) => log.warn({ err: error }, 'worker error'));
    this.worker.on('failed', (job, error) =>
      log.info(
        { requestId: job?.id, reason: error.message, attemptsMade: job?.attemptsMade },
        'queue entry failed',
      ),
    );
    this.worker.on('stalled', (requestId) =>
      log.warn({ requestId }, 'build stalled (its worker stopped); picked up again'),
    );
    this.worker.on('completed', () => this.wakeAnother());
    this.worker.on('failed', () => this.wakeAnother());
  }

  /**
   * An entry has ended here and given back its place under the fleet's limit. A worker process
   * that found the limit reached waits on the queue's marker (BullMQ wakes it for new or delayed
   * entries, not for room); one below its own concurrency takes the next entry itself, but one
   * still at or above its fair share (it took more before another worker joined) does not. Then,
   * with other worker processes alive (a share below the limit), a marker wakes one of them to take
   * the room now, instead of after its block timeout or this process's next build end.
   */
  private wakeAnother(): void {
    const { concurrency } = this.worker;
    if (this.stopping || concurrency >= this.options.concurrency || this.handling < concurrency) return;
    void (async () => {
      const client = (await this.worker.backend.client) as unknown as Redis;
      await client.zadd(this.worker.keys.marker!, 0, '0');
    })().catch((error: unknown) =>
      this.options.logger.debug({ err: error }, 'could not wake another worker'),
    );
  }

  private async process(handler: EntryHandler, job: Job<QueuedBuild>, token?: string): Promise<EntryResult> {
    this.handling++;
    try {
      return await this.handle(handler, job, token);
    } finally {
      this.handling--;
    }
  }

  private async handle(handler: EntryHandler, job: Job<QueuedBuild>, token?: string): Promise<EntryResult> {
    const stopped = () => this.stopping;
    let current = job;
    const entry: ActiveEntry = {
      get build() {
        return current.data;
      },
      attemptsMade: job.attemptsMade,
      save: (build) => retryTransient(() => this.fencedSave(current, token, build), { stopped }),
      reload: async () => {
        const fresh = await retryTransient(() => Job.fromId<QueuedBuild, EntryResult>(this.worker, job.id!), {
          stopped,
        });
        if (fresh) current = fresh;
        return current.data;
      },
      progress: (progress) => current.updateProgress(progress).catch(() => {}),
      assertLease: async () => {
        const client = await this.worker.backend.client;
        const holder = await retryTransient(() => client.get(`${this.worker.toKey(job.id!)}:lock`), {
          stopped,
        });
        if (holder !== token) throw new LeaseLostError(job.id!);
      },
    };
    let verdict: Verdict;
    try {
      verdict = await handler(entry, job.opts.attempts ?? 1);
    } catch (error) {
      // Stopping (Redis calls cut short), or the lease went to another worker meanwhile: leave the
      // entry as it is; whoever holds it goes on from its record.
      if (this.stopping || error instanceof LeaseLostError) throw new WaitingError();
      throw error;
    }
    switch (verdict.kind) {
      case 'completed':
        return verdict.result;
      case 'delayed':
        await retryTransient(() => job.moveToDelayed(verdict.until, token), { stopped });
        throw new DelayedError(verdict.reason);
      case 'retry':
        throw new Error(verdict.reason);
      case 'failed':
        throw new UnrecoverableError(verdict.reason);
      case 'released':
        await job.moveToWait(token).catch(() => {});
        throw new WaitingError();
    }
  }

  /**
   * Writes an entry's record only while this worker still holds its lease (the BullMQ lock): a
   * worker that lost it — paused, or cut off from Redis longer than the lease — and comes back must
   * not overwrite what the worker that took the entry over has recorded since. BullMQ's own
   * `updateData` does not check the lock.
   */
  private async fencedSave(
    job: Job<QueuedBuild>,
    token: string | undefined,
    build: QueuedBuild,
  ): Promise<void> {
    const client = (await this.worker.backend.client) as unknown as FencedClient;
    if (!client.kjlFencedSave) client.defineCommand('kjlFencedSave', { numberOfKeys: 2, lua: FENCED_SAVE });
    const jobKey = this.worker.toKey(job.id!);
    const result = await client.kjlFencedSave!(jobKey, `${jobKey}:lock`, token ?? '', JSON.stringify(build));
    if (result === -6) throw new LeaseLostError(job.id!);
    if (result === -1) throw new LeaseLostError(job.id!, 'the entry is gone');
    job.data = build;
  }

  start(): void {
    const { fairShare } = this.options;
    if (fairShare) {
      const adjust = () =>
        fairShare().then(
          (share) => {
            if (!this.stopping && share !== this.worker.concurrency) this.worker.concurrency = share;
          },
          (error: unknown) => this.options.logger.debug({ err: error }, 'could not read the fair share'),
        );
      void adjust();
      this.shareTimer = setInterval(() => void adjust(), SHARE_INTERVAL_MS);
      this.shareTimer.unref();
    }
    void this.worker.run();
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /**
   * Stops taking entries, lets `drain` end the ones in hand (the application layer releases them
   * back to the queue), then closes. Never waits on a dead Redis for more than a few seconds.
   */
  async close(drain: () => Promise<void> = async () => {}): Promise<void> {
    this.stopping = true;
    clearInterval(this.shareTimer);
    await Promise.race([
      this.worker.pause(true),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
    await drain();
    await Promise.race([
      this.worker.close(true).catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ]);
  }
}
