import type { V1Job } from '@kubernetes/client-node';
import type { QueuedBuild } from '../build-request.js';
import type { FailedRun, RunOutcome, StartResult, StartedJob } from '../build-run.js';
import { KubeApiError, PermanentBuildError, TemplateError } from '../errors.js';
import { FAILURE_REASONS, type FailureReason } from '../failure-reasons.js';
import type { Logger } from '../logger.js';
import { callApi } from './api-retry.js';
import { jobNameFor } from './job-name.js';
import { buildJob, imageOf, mainContainerOf, type JobSpecOptions } from './job-spec.js';
import type { JobWatcher } from './job-watcher.js';
import { isFinished, millis, newestFirst } from './kube-objects.js';
import type { KubeClients } from './kube-client.js';
import { labelKeys, labelValue } from './labels.js';
import { boundLogTail, type LogTailLimits } from './log-tail.js';
import { classifyJob, ownPods, type JobOutcome } from './outcome.js';
import { readPodCreationFailure, type PodCreationFailure } from './pod-creation.js';
import type { TemplateCatalog } from './template-catalog.js';

export interface JobRunnerOptions {
  clients: KubeClients;
  watcher: JobWatcher;
  /** the templates in force (reloaded while the process runs) */
  catalog: Pick<TemplateCatalog, 'get'>;
  spec: JobSpecOptions;
  startTimeoutSeconds: number;
  logTail: LogTailLimits;
  logger: Logger;
  now?: () => number;
  /** how often waiting runs are re-judged without a watch event (start timeouts, missing Jobs) */
  recheckMs?: number;
  /**
   * Told how each create attempt ended, after the API retries: `success` (the Job was created) or
   * `failure` (no Job for this run: refused, unreachable, a conflicting Job). A 409 that ends in
   * adoption, in the result of an earlier run or in replacing an earlier run's Job is neither.
   */
  onCreate?: (result: 'success' | 'failure') => void;
}

/** Statuses that mean the API server refused the Job itself: retrying sends the same refusal. */
const REFUSED = new Set([400, 403, 422]);
/** Attempts at replacing a stale Job of an earlier run before giving up (the next attempt goes on). */
const MAX_REPLACEMENTS = 5;

interface Waiter {
  job: StartedJob;
  seen: boolean;
  /** the last judgement: a running Job changes only with watch events, a pending one also with time */
  state: JobOutcome['state'] | undefined;
  since: number;
  verifying: boolean;
  /** why its pod could not be created, from the Job's Events, and when they were last read */
  creation: PodCreationFailure | undefined;
  creationReadAt: number;
  probing: boolean;
  settle: (outcome: JobOutcome | 'vanished') => void;
}

/** A Job with no pod this long is asked about (its Events), and again this often while it has none. */
const NO_POD_PROBE_MS = 5000;
const NO_POD_REPROBE_MS = 30_000;

function failure(
  reason: FailureReason,
  message: string,
  finishedAt: number,
  extra: Partial<FailedRun> = {},
): FailedRun {
  return {
    status: 'failed',
    reason,
    message,
    retryable: FAILURE_REASONS[reason].retryable,
    logTail: [],
    finishedAt,
    ...extra,
  };
}

/**
 * The cluster side of a build run: builds the Job from its template, creates it under its
 * deterministic name (a 409 for a Job of the same run is adoption: how a worker that takes over a
 * stalled build picks it up), waits on the shared watch cache for the outcome and captures the log
 * tail of a failure. Every outcome is a result; only bugs throw.
 */
export class JobRunner {
  private readonly now: () => number;
  private readonly labels;
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: JobRunnerOptions) {
    this.now = options.now ?? Date.now;
    this.labels = labelKeys(options.spec.labelPrefix);
  }

  private get namespace(): string {
    return this.options.spec.namespace;
  }

  /** True while the watch cache follows the cluster (readiness). */
  get live(): boolean {
    return this.options.watcher.live;
  }

  /**
   * Creates the run's Job, or adopts it when it exists; an outcome when there is nothing to wait
   * for; `unavailable` when the API could not tell (the Job may exist: try again later, same run).
   * With `adoptOnly` (the run had its Job already) nothing is created: a Job that is gone is
   * `JobDeleted`.
   */
  async start(build: QueuedBuild, run: number, options: { adoptOnly?: boolean } = {}): Promise<StartResult> {
    let manifest: V1Job;
    try {
      const template = this.options.catalog.get(build.request.template);
      manifest = buildJob(build.request, template, this.options.spec);
    } catch (error) {
      if (error instanceof TemplateError) return failure('TemplateInvalid', error.message, this.now());
      if (error instanceof PermanentBuildError) return failure('EnvNotAllowed', error.message, this.now());
      throw error;
    }
    manifest.metadata!.labels![this.labels.attempt] = String(run);
    const jobName = manifest.metadata!.name!;
    const image = imageOf(manifest, this.options.spec.labelPrefix);
    const log = this.options.logger.child({ requestId: build.requestId, jobName, attempt: run });
    const context = { namespace: this.namespace, jobName, requestId: build.requestId };
    for (let replaced = 0; ; replaced++) {
      try {
        if (options.adoptOnly) throw new KubeApiError('adopting', { status: 409 });
        const job = await callApi(
          'create job',
          () => this.options.clients.batch.createNamespacedJob({ namespace: this.namespace, body: manifest }),
          context,
          this.options.clients.retry,
        );
        const createdAt = this.now();
        log.info('job created');
        this.options.onCreate?.('success');
        return { status: 'started', job: { ...this.started(job, image, false), createdAt } };
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error;
        if (error.status !== 409) {
          const refused = error.status !== undefined && REFUSED.has(error.status);
          log.warn({ err: error }, refused ? 'the API server refused the job' : 'could not create the job');
          this.options.onCreate?.('failure');
          // refused: no Job was made; otherwise one may have been (an answer lost): adopt it later
          return refused
            ? failure('ApiRejected', error.message, this.now())
            : { status: 'unavailable', message: error.message };
        }
      }
      const existing = await this.read(jobName, context).catch((error: unknown) => error as KubeApiError);
      if (existing instanceof KubeApiError) {
        if (existing.status === 404 && options.adoptOnly) {
          return failure(
            'JobDeleted',
            `the run's Job ${jobName} was gone when a worker took the build over`,
            this.now(),
          );
        }
        if (existing.status === 404) continue; // deleted meanwhile: create again
        this.options.onCreate?.('failure');
        return { status: 'unavailable', message: existing.message };
      }
      const labels = existing.metadata?.labels ?? {};
      const owner = labels[this.labels.instance];
      if (
        labels[this.labels.requestId] !== labelValue(build.requestId) ||
        owner !== labelValue(this.options.spec.instance)
      ) {
        const belongs = labels[this.labels.requestId]
          ? `request ${labels[this.labels.requestId]} of deployment ${owner ?? '(none)'}`
          : 'something other than kjl';
        // no jobName: the Job is not this run's, nothing of kjl's may delete it
        this.options.onCreate?.('failure');
        return failure(
          'JobConflict',
          `Job ${this.namespace}/${jobName} already exists and belongs to ${belongs}`,
          this.now(),
        );
      }
      if (labels[this.labels.attempt] === String(run)) {
        log.info('job adopted');
        return { status: 'started', job: this.started(existing, image, true) };
      }
      if (isFinished(existing) && (existing.status?.succeeded ?? 0) > 0) {
        // an earlier run of the same content succeeded: that image is the result
        log.info('an earlier run of this request succeeded; its Job is the result');
        const started = this.started(existing, image, true);
        return {
          status: 'succeeded',
          jobName,
          ...(image ? { image } : {}),
          ...this.timesOf(existing, started),
        };
      }
      if (replaced >= MAX_REPLACEMENTS) {
        this.options.onCreate?.('failure');
        return { status: 'unavailable', message: `Job ${jobName} of an earlier run is still being deleted` };
      }
      log.info({ previousAttempt: labels[this.labels.attempt] }, 'replacing the Job of an earlier run');
      await this.deleteJob(jobName, existing.metadata?.uid).catch((error: unknown) =>
        log.warn({ err: error }, 'could not delete the Job of an earlier run'),
      );
    }
  }

  private started(job: V1Job, image: string | undefined, adopted: boolean): StartedJob {
    return {
      jobName: job.metadata!.name!,
      uid: job.metadata!.uid!,
      ...(image ? { image } : {}),
      adopted,
      startedAt: millis(job.metadata?.creationTimestamp) ?? this.now(),
    };
  }

  /** When the Job ran, from its own status: `startTime` and `completionTime`. */
  private timesOf(job: V1Job | undefined, started: StartedJob): { startedAt: number; finishedAt: number } {
    return {
      startedAt: millis(job?.status?.startTime) ?? started.startedAt,
      finishedAt: millis(job?.status?.completionTime) ?? this.now(),
    };
  }

  private read(name: string, context: Record<string, string>): Promise<V1Job> {
    return callApi(
      'read job',
      () => this.options.clients.batch.readNamespacedJob({ name, namespace: this.namespace }),
      context,
      this.options.clients.retry,
    );
  }

  /**
   * Waits for the Job's outcome; captures the log tail of a failure. Resolves undefined when
   * `signal` aborts first (the process is stopping: the Job goes on and is adopted later).
   */
  async outcome(job: StartedJob, signal: AbortSignal): Promise<RunOutcome | undefined> {
    const terminal = await this.awaitTerminal(job, signal);
    if (terminal === undefined) return undefined;
    const cached = this.options.watcher.job(job.jobName);
    const result = await this.confirmCause(terminal, cached, job);
    const image = job.image ? { image: job.image } : {};
    if (result === 'vanished') {
      return failure('JobDeleted', 'the Job was deleted before it finished', this.now(), {
        jobName: job.jobName,
        jobUid: job.uid,
        ...image,
        startedAt: job.startedAt,
      });
    }
    const times = this.timesOf(cached?.metadata?.uid === job.uid ? cached : undefined, job);
    if (result.state === 'succeeded') {
      this.options.logger.info(
        { jobName: job.jobName, durationMs: times.finishedAt - times.startedAt },
        'build succeeded',
      );
      return { status: 'succeeded', jobName: job.jobName, ...image, ...times };
    }
    const reason = result.reason ?? 'Error';
    const container =
      result.container ?? (cached ? mainContainerOf(cached, this.options.spec.labelPrefix) : undefined);
    const logTail = reason === 'JobDeleted' ? [] : await this.logTail(job.jobName, result.podName, container);
    this.options.logger.info({ jobName: job.jobName, reason, message: result.message }, 'build failed');
    return failure(reason, result.message ?? 'the Job failed', times.finishedAt, {
      jobName: job.jobName,
      jobUid: job.uid,
      ...image,
      startedAt: times.startedAt,
      logTail,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    });
  }

  /**
   * A failure whose cause the cached pods do not tell (BackoffLimitExceeded) may come from a pod
   * watch that lags the Job watch: the Job's pods are then read from the API, and the Job judged
   * again with them (and with what the watch kept of pods already gone).
   */
  private async confirmCause(
    result: JobOutcome | 'vanished',
    cached: V1Job | undefined,
    job: StartedJob,
  ): Promise<JobOutcome | 'vanished'> {
    if (
      result === 'vanished' ||
      result.reason !== 'BackoffLimitExceeded' ||
      cached?.metadata?.uid !== job.uid
    ) {
      return result;
    }
    try {
      const { items } = await callApi(
        'list pods',
        () =>
          this.options.clients.core.listNamespacedPod({
            namespace: this.namespace,
            labelSelector: `batch.kubernetes.io/controller-uid=${job.uid}`,
          }),
        { namespace: this.namespace, jobName: job.jobName },
        this.options.clients.retry,
      );
      const fresh = new Set(items.map((pod) => pod.metadata?.name));
      const kept = this.options.watcher.podsOf(job.jobName).filter((pod) => !fresh.has(pod.metadata?.name));
      return classifyJob(cached, [...items, ...kept], this.now(), {
        startTimeoutSeconds: this.options.startTimeoutSeconds,
      });
    } catch (error) {
      this.options.logger.warn(
        { err: error, jobName: job.jobName },
        'could not read the pods of a failed Job',
      );
      return result;
    }
  }

  private awaitTerminal(job: StartedJob, signal: AbortSignal): Promise<JobOutcome | 'vanished' | undefined> {
    const { watcher } = this.options;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(undefined);
      const waiter: Waiter = {
        job,
        seen: false,
        state: undefined,
        since: this.now(),
        verifying: false,
        creation: undefined,
        creationReadAt: 0,
        probing: false,
        settle: (outcome) => {
          this.waiters.delete(waiter);
          unsubscribe();
          signal.removeEventListener('abort', onAbort);
          if (this.waiters.size === 0) this.stopTimer();
          resolve(outcome);
        },
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        unsubscribe();
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const unsubscribe = watcher.onChange(job.jobName, () => this.check(waiter));
      this.waiters.add(waiter);
      this.startTimer();
      this.check(waiter);
    });
  }

  /** Judges a waiting run from the cache; settles it when its Job ended or vanished. */
  private check(waiter: Waiter): void {
    const { watcher } = this.options;
    const job = watcher.job(waiter.job.jobName);
    if (!job || job.metadata?.uid !== waiter.job.uid) {
      if (waiter.seen) waiter.settle('vanished');
      return;
    }
    waiter.seen = true;
    const pods = watcher.podsOf(waiter.job.jobName);
    const now = this.now();
    const noPod = ownPods(job, pods).length === 0;
    if (noPod) this.probeCreation(waiter, job, now);
    const outcome = classifyJob(job, pods, now, {
      startTimeoutSeconds: this.options.startTimeoutSeconds,
      ...(waiter.creation ? { podCreation: waiter.creation } : {}),
    });
    // A Job with no pod fails only on Events read after its start timeout: it may be waiting for quota.
    if (outcome.reason === 'Unschedulable' && noPod && waiter.creationReadAt <= this.startDeadline(job))
      return;
    waiter.state = outcome.state;
    if (outcome.state === 'succeeded' || outcome.state === 'failed') waiter.settle(outcome);
  }

  private startDeadline(job: V1Job): number {
    return (millis(job.metadata?.creationTimestamp) ?? 0) + this.options.startTimeoutSeconds * 1000;
  }

  /**
   * Reads the Events of a Job that has had no pod for a while (then every 30 s, and once more
   * after its start timeout), to learn whether a ResourceQuota refuses its pod: such a Job waits
   * for capacity instead of failing as Unschedulable. The run is judged again once they are read.
   */
  private probeCreation(waiter: Waiter, job: V1Job, now: number): void {
    if (waiter.probing) return;
    const created = millis(job.metadata?.creationTimestamp) ?? waiter.since;
    const timeoutMs = this.options.startTimeoutSeconds * 1000;
    const due =
      waiter.creationReadAt === 0
        ? now - created >= Math.min(NO_POD_PROBE_MS, timeoutMs / 2)
        : now - waiter.creationReadAt >= NO_POD_REPROBE_MS ||
          (now > this.startDeadline(job) && waiter.creationReadAt <= this.startDeadline(job));
    if (!due) return;
    waiter.probing = true;
    const askedAt = now;
    const { jobName, uid } = waiter.job;
    const log = this.options.logger;
    readPodCreationFailure(this.options.clients, this.namespace, jobName, uid)
      .then((creation) => {
        if (creation?.quota && !waiter.creation?.quota) {
          log.info({ jobName, refusal: creation.message }, 'the Job waits for quota: its pod is refused');
        }
        waiter.creation = creation;
      })
      .catch((error: unknown) => {
        log.warn({ err: error, jobName }, "could not read the Job's events; it is judged without them");
      })
      .finally(() => {
        waiter.creationReadAt = askedAt;
        waiter.probing = false;
        if (this.waiters.has(waiter)) this.check(waiter);
      });
  }

  /** One timer for every waiting run: start timeouts, and Jobs the cache has not shown yet. */
  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const waiter of this.waiters) {
        if (waiter.state !== 'running') this.check(waiter);
        if (
          !waiter.seen &&
          !waiter.verifying &&
          this.now() - waiter.since > (this.options.recheckMs ?? 1000)
        ) {
          void this.verify(waiter);
        }
      }
    }, this.options.recheckMs ?? 1000);
    this.timer.unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Not in the cache a recheck later: the watch may lag the create, or the Job went first; ask. */
  private async verify(waiter: Waiter): Promise<void> {
    waiter.verifying = true;
    try {
      const job = await this.options.clients.batch.readNamespacedJob({
        name: waiter.job.jobName,
        namespace: this.namespace,
      });
      if (job.metadata?.uid !== waiter.job.uid) waiter.settle('vanished');
    } catch (error) {
      if ((error as { code?: number }).code === 404) waiter.settle('vanished');
    } finally {
      waiter.verifying = false;
    }
  }

  /**
   * The last lines of the failed container's log, bounded (see LogTailLimits). The API server cuts
   * `limitBytes` from the start of the `tailLines` tail, so a huge line early in the tail would
   * crowd out the last lines, which tell why the build failed: when the read fills `limitBytes`,
   * fewer lines are asked for, down to the last one.
   */
  private async logTail(jobName: string, podName: string | undefined, container: string | undefined) {
    const pods = this.options.watcher.podsOf(jobName);
    const pod = pods.find((candidate) => candidate.metadata?.name === podName) ?? pods.sort(newestFirst)[0];
    const name = pod?.metadata?.name;
    if (!name) return [];
    const { lines, readBytes } = this.options.logTail;
    try {
      for (let tailLines = lines; ; tailLines = Math.max(1, Math.floor(tailLines / 4))) {
        const text = await callApi(
          'read pod log',
          () =>
            this.options.clients.core.readNamespacedPodLog({
              name,
              namespace: this.namespace,
              ...(container ? { container } : {}),
              tailLines,
              limitBytes: readBytes,
            }),
          { namespace: this.namespace, pod: name },
          this.options.clients.retry,
        );
        if (Buffer.byteLength(text) < readBytes || tailLines === 1)
          return boundLogTail(text, this.options.logTail);
      }
    } catch (error) {
      this.options.logger.warn(
        { err: error, jobName, pod: name },
        'could not read the log of the failed pod',
      );
      return [];
    }
  }

  /** Deletes a Job with its Pods (Background propagation); a Job already gone is fine. */
  async deleteJob(jobName: string, uid?: string): Promise<void> {
    try {
      await callApi(
        'delete job',
        () =>
          this.options.clients.batch.deleteNamespacedJob({
            name: jobName,
            namespace: this.namespace,
            propagationPolicy: 'Background',
            ...(uid ? { body: { preconditions: { uid } } } : {}),
          }),
        { namespace: this.namespace, jobName },
        this.options.clients.retry,
      );
    } catch (error) {
      if (!(error instanceof KubeApiError) || (error.status !== 404 && error.status !== 409)) throw error;
    }
  }

  /** Deletes the request's Job under its deterministic name (a cancel of a started build). */
  async removeRun(build: QueuedBuild): Promise<void> {
    await this.cleanup(jobNameFor(build.request, this.options.spec.instance));
  }

  /**
   * Deletes a failed run's Job once its outcome is recorded. Never throws: a Job that cannot be
   * deleted now is left to the sweep, and the build's outcome stays what it is.
   */
  async cleanup(jobName: string, uid?: string): Promise<void> {
    try {
      await this.deleteJob(jobName, uid);
      this.options.watcher.forget(jobName);
    } catch (error) {
      this.options.logger.warn({ err: error, jobName }, 'could not delete the failed Job; the sweep will');
    }
  }

  /** Request ids of this deployment's unfinished Jobs, from the watch cache. */
  unfinishedRequests(): string[] {
    return this.options.watcher.unfinishedRequests();
  }
}
