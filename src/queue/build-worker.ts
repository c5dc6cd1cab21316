import { Worker } from 'bullmq';
import type { QueuedBuild } from '../build-request.js';
import type { Logger } from '../logger.js';
import type { BuildProcessor, BuildResult } from './build-processor.js';
import { redisOptionsFromUrl } from './redis-options.js';

export interface BuildWorkerOptions {
  redisUrl: string;
  name: string;
  prefix: string;
  /** local concurrency; the queue's global concurrency caps all replicas together */
  concurrency: number;
  /** lease of an active entry; a crashed worker's entries are picked up again after about this long */
  lockSeconds: number;
  logger: Logger;
}

/**
 * The BullMQ worker that runs builds. A crashed worker's entries stall and come back to the queue
 * however often that happens (maxStalledCount is high): a crash must never fail a build.
 */
export class BuildWorker {
  readonly worker: Worker<QueuedBuild, BuildResult>;

  constructor(processor: BuildProcessor, options: BuildWorkerOptions) {
    const lockMs = options.lockSeconds * 1000;
    this.worker = new Worker<QueuedBuild, BuildResult>(
      options.name,
      (job, token) => processor.process(job, token),
      {
        connection: redisOptionsFromUrl(options.redisUrl, false),
        prefix: options.prefix,
        concurrency: options.concurrency,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        maxStalledCount: 1000,
        autorun: false,
      },
    );
    const log = options.logger;
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
  }

  start(): void {
    void this.worker.run();
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Stops taking entries and waits for the running ones (their Jobs keep running in the cluster). */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
  }
}
