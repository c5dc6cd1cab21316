import { DelayedError, type Job, type Queue } from 'bullmq';
import { targetKey, type FailureRecord, type QueuedBuild } from '../build-request.js';
import { KjlError, PermanentBuildError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { FailedRun, RunResult } from '../build-run.js';
import { decide, type EntryState } from './dedup-policy.js';
import { noticeOf, type BuildNotice, type BuildNotifier, type BuildRunner } from './ports.js';
import type { TargetRegistry } from './target-registry.js';

export interface BuildProcessorOptions {
  queue: Queue<QueuedBuild>;
  registry: TargetRegistry;
  runner: BuildRunner;
  notify: BuildNotifier;
  maxAttempts: number;
  failureBackoffMs: number;
  maxConcurrentJobs: number;
  /** how soon a request that waits for its target or for room is looked at again */
  pollMs: number;
  logger: Logger;
  now?: () => number;
}

/** What a completed queue entry returns (Bull Board shows it). */
export type BuildResult =
  | { status: 'succeeded'; attempt: number; jobName: string; image?: string; durationMs: number }
  | { status: 'superseded'; by: string };

const LIVE_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Decides and runs one queue entry: dedup per target (superseded by newer content, never two Jobs
 * for one target, failure backoff), the concurrent-job limit from the watch cache, then the Job
 * itself; reports each step and turns the outcome into a retry (after the failure backoff) or a
 * final failure.
 */
export class BuildProcessor {
  private readonly now: () => number;

  constructor(private readonly options: BuildProcessorOptions) {
    this.now = options.now ?? Date.now;
  }

  async process(job: Job<QueuedBuild>, token?: string): Promise<BuildResult> {
    const { registry, runner } = this.options;
    const build = job.data;
    const { requestId } = build;
    const target = targetKey(build.request);
    const log = this.options.logger.child({ requestId, target });
    const [holder, latest, cancelled, failedAt] = await Promise.all([
      registry.holder(target),
      registry.latest(target),
      registry.isCancelled(requestId),
      registry.failedAt(target),
    ]);
    const state: EntryState = {
      requestId,
      holder,
      holderLive: holder !== undefined && holder !== requestId && (await this.isLive(holder)),
      latest,
      cancelled,
      failedAt,
      activeJobs: runner.activeJobCount(requestId),
    };
    const decision = decide(state, this.options, this.now());
    const nextAttempt = async () => build.run?.attempt ?? (await registry.runCount(requestId)) + 1;
    switch (decision.action) {
      case 'cancel':
        // Cancelled while queued: whoever cancelled it announced it. While running (this entry held
        // its target, its worker stopped before seeing the Job go): announced here.
        if (decision.running) await registry.release(target, requestId);
        throw await this.cancelled(
          job,
          await nextAttempt(),
          decision.running ? 'cancelled while running' : 'cancelled while queued',
          decision.running,
        );
      case 'supersede':
        log.info({ by: decision.by }, 'superseded by newer content');
        await this.notice(build, 'cancelled', await nextAttempt(), {
          reason: 'Superseded',
          message: `superseded by newer request ${decision.by}`,
        });
        return { status: 'superseded', by: decision.by };
      case 'wait':
        return this.wait(job, token, decision.until, decision.reason);
    }
    if (!(await registry.acquire(target, requestId, decision.takeOver))) {
      return this.wait(job, token, this.now() + this.options.pollMs, 'target taken');
    }

    const attempt = await this.attemptOf(job);
    let result: RunResult;
    try {
      result = await runner.run(build, attempt, async (start) => {
        await job.updateProgress({ state: 'running', jobName: start.jobName, attempt });
        await this.notice(build, 'started', attempt, {
          jobName: start.jobName,
          ...(start.image ? { image: start.image } : {}),
        });
      });
    } catch (error) {
      await registry.release(target, requestId);
      throw await this.unexpected(job, attempt, error, log);
    }
    await registry.release(target, requestId);
    if (result.status === 'succeeded') {
      await registry.clearFailure(target);
      await this.notice(build, 'succeeded', attempt, {
        jobName: result.jobName,
        ...(result.image ? { image: result.image } : {}),
        startedAt: result.startedAt,
        finishedAt: result.finishedAt,
      });
      return {
        status: 'succeeded',
        attempt,
        jobName: result.jobName,
        ...(result.image ? { image: result.image } : {}),
        durationMs: result.finishedAt - result.startedAt,
      };
    }
    throw await this.failed(job, attempt, result, log);
  }

  /** A holder is live while its queue entry is active or waiting (a stalled one is picked up again). */
  private async isLive(requestId: string): Promise<boolean> {
    const entry = await this.options.queue.getJob(requestId);
    return entry !== undefined && LIVE_STATES.has(await entry.getState());
  }

  private async wait(
    job: Job<QueuedBuild>,
    token: string | undefined,
    until: number,
    reason: string,
  ): Promise<never> {
    await job.updateProgress({ state: 'waiting', reason, until });
    await job.moveToDelayed(until, token);
    throw new DelayedError(reason);
  }

  /** The run number: kept when a crashed worker's entry is picked up again, new for each attempt. */
  private async attemptOf(job: Job<QueuedBuild>): Promise<number> {
    const run = job.data.run;
    if (run && run.queueAttempt === job.attemptsMade) return run.attempt;
    const attempt = await this.options.registry.nextRun(job.data.requestId);
    await job.updateData({ ...job.data, run: { attempt, queueAttempt: job.attemptsMade } });
    return attempt;
  }

  private async failed(job: Job<QueuedBuild>, attempt: number, run: FailedRun, log: Logger): Promise<Error> {
    const build = job.data;
    if (run.vanished && (await this.options.registry.isCancelled(build.requestId))) {
      return this.cancelled(job, attempt, 'cancelled while running', true, run);
    }
    const { status: _status, vanished, ...details } = run;
    const outcome = vanished
      ? { reason: 'JobDeleted', message: 'the Job was deleted before it finished', retryable: true }
      : { reason: run.reason, message: run.message, retryable: run.retryable };
    return this.fail(job, attempt, { ...details, ...outcome }, log);
  }

  /** Records a cancellation on the entry (the failed set shows it), announces it when asked. */
  private async cancelled(
    job: Job<QueuedBuild>,
    attempt: number,
    message: string,
    announce: boolean,
    run?: FailedRun,
  ): Promise<Error> {
    const build = job.data;
    await this.record(job, {
      reason: 'Cancelled',
      message,
      attempt,
      retryable: false,
      logTail: [],
      ...(run ? { jobName: run.jobName } : {}),
    });
    if (announce) {
      await this.notice(build, 'cancelled', attempt, {
        reason: 'Cancelled',
        message,
        ...(run ? { jobName: run.jobName, startedAt: run.startedAt, finishedAt: run.finishedAt } : {}),
      });
    }
    return new PermanentBuildError('Cancelled', message, { context: { requestId: build.requestId } });
  }

  /** An error from the cluster side (API unreachable after retries, a conflicting Job, a template). */
  private async unexpected(
    job: Job<QueuedBuild>,
    attempt: number,
    error: unknown,
    log: Logger,
  ): Promise<Error> {
    const permanent = error instanceof PermanentBuildError;
    const code = permanent ? error.code : error instanceof KjlError ? error.code : 'Error';
    const reason = permanent ? code : code === 'KJL_K8S_API' ? 'ApiError' : code;
    const retryable = !permanent && !(error instanceof KjlError && error.code === 'KJL_TEMPLATE_INVALID');
    return this.fail(
      job,
      attempt,
      { reason, message: (error as Error).message, retryable, logTail: [] },
      log,
    );
  }

  private async fail(
    job: Job<QueuedBuild>,
    attempt: number,
    failure: {
      reason: string;
      message: string;
      retryable: boolean;
      logTail: string[];
      jobName?: string;
      exitCode?: number;
      image?: string;
      startedAt?: number;
      finishedAt?: number;
    },
    log: Logger,
  ): Promise<Error> {
    const build = job.data;
    const target = targetKey(build.request);
    await this.options.registry.recordFailure(target, this.now());
    const willRetry = failure.retryable && job.attemptsMade + 1 < this.options.maxAttempts;
    await this.record(job, {
      reason: failure.reason,
      message: failure.message,
      attempt,
      retryable: failure.retryable,
      logTail: failure.logTail,
      ...(failure.jobName ? { jobName: failure.jobName } : {}),
      ...(failure.exitCode !== undefined ? { exitCode: failure.exitCode } : {}),
    });
    log.info(
      { reason: failure.reason, willRetry, attempt },
      willRetry ? 'build failed; will retry after the backoff' : 'build failed for good',
    );
    const { logTail: _logTail, ...details } = failure;
    await this.notice(build, 'failed', attempt, { ...details, willRetry });
    const text = `${failure.reason}: ${failure.message}`;
    return willRetry
      ? new Error(text)
      : new PermanentBuildError(failure.reason, text, { context: { requestId: build.requestId } });
  }

  /** Keeps why a build ended on its entry (the failed set shows it). */
  private async record(job: Job<QueuedBuild>, failure: Omit<FailureRecord, 'at'>): Promise<void> {
    await job.updateData({ ...job.data, failure: { ...failure, at: this.now() } });
  }

  private async notice(
    build: QueuedBuild,
    phase: BuildNotice['phase'],
    attempt: number,
    details: Partial<BuildNotice>,
  ): Promise<void> {
    try {
      await this.options.notify(noticeOf(build, phase, attempt, details));
    } catch (error) {
      // An event that cannot be delivered must not fail or repeat a build.
      this.options.logger.warn(
        { err: error, requestId: build.requestId, phase },
        'could not send build event',
      );
    }
  }
}
