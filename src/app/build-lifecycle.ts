import type { Notify } from '../build-notice.js';
import { targetKey, type QueuedBuild } from '../build-request.js';
import type { BuildOutcome, CancelledRun, StartedJob } from '../build-run.js';
import type { CancelReason } from '../failure-reasons.js';
import type { Logger } from '../logger.js';
import { decide } from './dedup-policy.js';
import { announce } from './notices.js';
import type { ActiveEntry, BuildCluster, BuildStore, Verdict } from './ports.js';

export interface BuildLifecycleOptions {
  store: BuildStore;
  cluster: BuildCluster;
  notify: Notify;
  failureBackoffMs: number;
  /** how soon an entry that waits for its target or for a slot is looked at again */
  pollMs: number;
  logger: Logger;
  now?: () => number;
}

type RecordedOutcome = BuildOutcome & { run: number };

/** How soon a run the API could not start, or an outcome the events sink did not take, is tried again. */
const RETRY_LATER_MS = 10_000;

/**
 * What a worker does with a queue entry: the dedup and backoff policy, a slot under the fleet's
 * limit, then the run itself, in the order that keeps "exactly once" through any crash:
 *
 * 1. the run number is recorded on the entry before its Job is created, so a worker that takes
 *    the entry over adopts that Job instead of creating another;
 * 2. the outcome is classified and the log tail captured, then the outcome is recorded on the
 *    entry, then the slot and the target are given back, then the outcome is announced, and only
 *    then is a failed Job deleted (a failed delete is the sweep's, never the build's outcome);
 * 3. an entry taken over with its outcome recorded is finished from that record: nothing is
 *    created, the announcements repeat with the same event ids.
 *
 * Redis blips are the store's to wait out; they never count as a failed build.
 */
export class BuildLifecycle {
  private readonly now: () => number;
  private readonly stopping = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: BuildLifecycleOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The queue worker's handler for one entry. */
  readonly handle = (entry: ActiveEntry, maxAttempts: number): Promise<Verdict> => {
    const work = this.process(entry, maxAttempts);
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => {});
    return work;
  };

  /**
   * Stops: runs waiting on their Jobs are released back to the queue at once (their Jobs go on
   * and are adopted); bookkeeping under way gets until `timeoutMs` to reach its end.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private async process(entry: ActiveEntry, maxAttempts: number): Promise<Verdict> {
    const { store, cluster } = this.options;
    const build = entry.build;
    const { requestId } = build;
    const target = targetKey(build.request);
    const log = this.options.logger.child({ requestId, target });
    const current = build.run?.queueAttempt === entry.attemptsMade ? build.run : undefined;
    if (current && build.outcome?.run === current.number) {
      log.info({ attempt: current.number }, 'resuming a build whose outcome is recorded');
      return this.finish(entry, build.outcome, maxAttempts, log);
    }

    const snapshot = await store.snapshot(requestId, target);
    const now = this.now();
    const decision = decide(
      { requestId, started: current !== undefined, ...snapshot },
      { failureBackoffMs: this.options.failureBackoffMs, pollMs: this.options.pollMs },
      now,
    );
    switch (decision.action) {
      case 'cancel': {
        const message = decision.running ? 'cancelled while running' : 'cancelled while queued';
        // a started run's Job may run (its name maybe not recorded yet): gone before the target is free
        if (current) await cluster.removeRun(build);
        const run = current?.number ?? (await store.claimRun(requestId, entry.attemptsMade));
        return this.conclude(entry, run, cancelled('Cancelled', message, now, current), maxAttempts, log);
      }
      case 'supersede': {
        log.info({ by: decision.by }, 'superseded by newer content');
        const run = await store.claimRun(requestId, entry.attemptsMade);
        const message = `superseded by newer request ${decision.by}`;
        await announce(
          this.options.notify,
          build,
          run,
          { phase: 'cancelled', reason: 'Superseded', message },
          log,
        );
        return { kind: 'completed', result: { status: 'superseded', by: decision.by } };
      }
      case 'wait':
        return this.delay(entry, decision.until, decision.reason);
    }

    if (!(await store.acquire(target, requestId, decision.takeOver))) {
      return this.delay(entry, now + this.options.pollMs, 'target taken');
    }
    if (!(await store.reserve(requestId, cluster.unfinishedRequests()))) {
      // A started run keeps its target while it waits for room; one that has not started lets go,
      // so that newer content can still supersede it.
      if (!current) await store.release(target, requestId);
      return this.delay(entry, now + this.options.pollMs, 'concurrent job limit reached');
    }

    const run = current ?? {
      number: await store.claimRun(requestId, entry.attemptsMade),
      queueAttempt: entry.attemptsMade,
    };
    if (!current) await entry.save({ ...entry.build, run });
    const started = await cluster.start(entry.build, run.number, {
      adoptOnly: current?.jobName !== undefined,
    });
    if (started.status === 'unavailable') {
      // the Job may exist: keep the target and the slot, and try the same run again (it adopts)
      log.warn({ reason: started.message }, 'the Kubernetes API could not start the run; trying again');
      return this.delay(entry, this.now() + RETRY_LATER_MS, `Kubernetes API unavailable: ${started.message}`);
    }
    if (started.status !== 'started') return this.conclude(entry, run.number, started, maxAttempts, log);
    const job = started.job;
    if (!current?.jobName) {
      await announce(
        this.options.notify,
        build,
        run.number,
        {
          phase: 'started',
          jobName: job.jobName,
          ...(job.image ? { image: job.image } : {}),
          adopted: job.adopted,
          ...(build.origin.sentAt ? { sentAt: build.origin.sentAt } : {}),
          ...(job.createdAt !== undefined ? { createdAt: job.createdAt } : {}),
        },
        log,
      );
      await entry.save({ ...entry.build, run: { ...run, jobName: job.jobName, startedAt: job.startedAt } });
    }
    await entry.progress({ state: 'running', jobName: job.jobName, attempt: run.number });
    // A cancel between the decision and the create found no Job to delete: delete it now.
    if (await store.isCancelled(requestId)) await cluster.deleteJob(job.jobName).catch(() => {});

    const outcome = await cluster.outcome(job, this.stopping.signal);
    if (!outcome) {
      log.info({ jobName: job.jobName }, 'stopping: the build goes back to the queue; its Job runs on');
      return { kind: 'released' };
    }
    if (outcome.status === 'failed' && outcome.reason === 'JobDeleted') {
      // Deleted by the worker that recorded this run's outcome (one that took the entry over while
      // this one could not renew its lease): that record is the outcome.
      const record = await entry.reload();
      if (record.outcome?.run === run.number) return this.finish(entry, record.outcome, maxAttempts, log);
    }
    if (
      outcome.status === 'failed' &&
      outcome.reason === 'JobDeleted' &&
      (await store.isCancelled(requestId))
    ) {
      return this.conclude(
        entry,
        run.number,
        cancelled('Cancelled', 'cancelled while running', outcome.finishedAt, run, job),
        maxAttempts,
        log,
      );
    }
    return this.conclude(entry, run.number, outcome, maxAttempts, log);
  }

  private async delay(entry: ActiveEntry, until: number, reason: string): Promise<Verdict> {
    await entry.progress({ state: 'waiting', reason, until });
    return { kind: 'delayed', until, reason };
  }

  /** Records the run's outcome on the entry (durably), then finishes it. */
  private async conclude(
    entry: ActiveEntry,
    run: number,
    outcome: BuildOutcome,
    maxAttempts: number,
    log: Logger,
  ): Promise<Verdict> {
    // a failure that will be retried keeps no log tail: live entries stay small
    const kept =
      outcome.status === 'failed' && this.willRetry(outcome, entry, maxAttempts)
        ? { ...outcome, logTail: [] }
        : outcome;
    const recorded: RecordedOutcome = { ...kept, run };
    await entry.save({ ...entry.build, outcome: recorded });
    return this.finish(entry, recorded, maxAttempts, log);
  }

  private willRetry(outcome: { retryable: boolean }, entry: ActiveEntry, maxAttempts: number): boolean {
    return outcome.retryable && entry.attemptsMade + 1 < maxAttempts;
  }

  /**
   * Finishes a recorded outcome: gives back the slot and the target at once (the Job has ended, its
   * outcome is durable), announces it, then deletes a failed Job.
   */
  private async finish(
    entry: ActiveEntry,
    outcome: RecordedOutcome,
    maxAttempts: number,
    log: Logger,
  ): Promise<Verdict> {
    const { store, cluster, notify } = this.options;
    const build = entry.build;
    const { requestId } = build;
    const target = targetKey(build.request);
    const { run } = outcome;
    // what follows frees the target and deletes Jobs: only the worker that holds the entry may
    await entry.assertLease();
    // a cancelled run's Job may still run: gone first, then its target is free for the next one
    if (outcome.status === 'cancelled' && outcome.jobName)
      await cluster.cleanup(outcome.jobName, outcome.jobUid);
    await Promise.all([
      store.releaseSlot(requestId),
      store.release(target, requestId),
      outcome.status === 'succeeded'
        ? store.clearFailure(target)
        : outcome.status === 'failed'
          ? store.recordFailure(target, outcome.finishedAt)
          : undefined,
    ]);
    let verdict: Verdict;
    let sent: boolean;
    if (outcome.status === 'succeeded') {
      const { status: _status, run: _run, ...details } = outcome;
      sent = await announce(notify, build, run, { phase: 'succeeded', ...details }, log);
      verdict = {
        kind: 'completed',
        result: {
          status: 'succeeded',
          attempt: run,
          jobName: outcome.jobName,
          ...(outcome.image ? { image: outcome.image } : {}),
          durationMs: outcome.finishedAt - outcome.startedAt,
        },
      };
    } else if (outcome.status === 'cancelled') {
      const { status: _status, run: _run, ...details } = outcome;
      sent = await announce(notify, build, run, { phase: 'cancelled', ...details }, log);
      verdict = { kind: 'failed', reason: `Cancelled: ${outcome.message}` };
    } else {
      const willRetry = this.willRetry(outcome, entry, maxAttempts);
      const { status: _status, run: _run, logTail: _logTail, ...details } = outcome;
      log.info(
        { reason: outcome.reason, willRetry, attempt: run },
        willRetry ? 'build failed; will retry after the backoff' : 'build failed for good',
      );
      sent = await announce(notify, build, run, { phase: 'failed', ...details, willRetry }, log);
      const text = `${outcome.reason}: ${outcome.message}`;
      verdict = willRetry ? { kind: 'retry', reason: text } : { kind: 'failed', reason: text };
    }
    if (outcome.status === 'failed' && outcome.jobName)
      await cluster.cleanup(outcome.jobName, outcome.jobUid);
    // the final event did not go out: the entry waits (not an attempt) and, taken again, finishes
    // from its record, announcing again under the same id
    if (!sent)
      return this.delay(entry, this.now() + RETRY_LATER_MS, 'the events sink did not take the outcome');
    return verdict;
  }
}

function cancelled(
  reason: CancelReason,
  message: string,
  finishedAt: number,
  run?: QueuedBuild['run'],
  job?: StartedJob,
): CancelledRun {
  const jobName = job?.jobName ?? run?.jobName;
  const startedAt = job?.startedAt ?? run?.startedAt;
  return {
    status: 'cancelled',
    reason,
    message,
    finishedAt,
    ...(jobName ? { jobName } : {}),
    ...(job ? { jobUid: job.uid } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
  };
}
