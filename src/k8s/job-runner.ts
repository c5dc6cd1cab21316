import type { V1Job } from '@kubernetes/client-node';
import type { QueuedBuild } from '../build-request.js';
import type { RunResult, StartedRun } from '../build-run.js';
import { KubeApiError, PermanentBuildError } from '../errors.js';
import type { Logger } from '../logger.js';
import { callApi } from './api-retry.js';
import { imageOf, buildJob, mainContainerOf, type JobSpecOptions } from './job-spec.js';
import type { JobWatcher } from './job-watcher.js';
import { isFinished, millis, newestFirst } from './kube-objects.js';
import type { KubeClients } from './kube-client.js';
import { labelKeys, labelValue } from './labels.js';
import { classifyJob, type JobOutcome } from './outcome.js';
import type { TemplateCatalog } from './template-catalog.js';

export interface JobRunnerOptions {
  clients: KubeClients;
  watcher: JobWatcher;
  catalog: TemplateCatalog;
  spec: JobSpecOptions;
  startTimeoutSeconds: number;
  logger: Logger;
  now?: () => number;
  /** how often a running Job is re-judged without a watch event (start timeouts) */
  recheckMs?: number;
  /** log lines kept from a failed Job's main container */
  logTailLines?: number;
  /** how long to wait for a deleted Job and its Pods to be gone */
  cleanupTimeoutMs?: number;
}

const VANISHED: JobOutcome = {
  state: 'failed',
  reason: 'Cancelled',
  retryable: false,
  message: 'the Job was deleted',
};

/**
 * Runs one build as a Kubernetes Job: builds it from its template, creates it under its
 * deterministic name (a 409 for a Job of the same request is adoption: how a restarted worker
 * picks up where a crashed one stopped), waits on the shared watch cache for the outcome, and on
 * failure captures the log tail before deleting the Job and its Pods.
 */
export class JobRunner {
  private readonly now: () => number;
  private readonly labels;

  constructor(private readonly options: JobRunnerOptions) {
    this.now = options.now ?? Date.now;
    this.labels = labelKeys(options.spec.labelPrefix);
  }

  private get namespace(): string {
    return this.options.spec.namespace;
  }

  async run(
    build: QueuedBuild,
    attempt: number,
    onStarted: (start: StartedRun) => Promise<void>,
  ): Promise<RunResult> {
    const template = this.options.catalog.get(build.request.template);
    const manifest = buildJob(build.request, template, this.options.spec);
    manifest.metadata!.labels![this.labels.attempt] = String(attempt);
    const jobName = manifest.metadata!.name!;
    const image = imageOf(manifest, this.options.spec.labelPrefix);
    const log = this.options.logger.child({ requestId: build.requestId, jobName, attempt });
    const { job, adopted } = await this.createOrAdopt(manifest, build.requestId, attempt, log);
    const startedAt = adopted ? (millis(job.metadata?.creationTimestamp) ?? this.now()) : this.now();
    await onStarted({ jobName, ...(image ? { image } : {}), adopted, startedAt });
    const outcome = await this.awaitOutcome(jobName, job.metadata!.uid!);
    const finishedAt = this.now();
    if (outcome.state === 'succeeded') {
      log.info({ durationMs: finishedAt - startedAt }, 'build succeeded');
      return { status: 'succeeded', jobName, ...(image ? { image } : {}), startedAt, finishedAt };
    }
    const vanished = outcome === VANISHED || outcome.reason === 'Cancelled';
    const container = outcome.container ?? mainContainerOf(manifest, this.options.spec.labelPrefix);
    const logTail = vanished ? [] : await this.logTail(jobName, outcome.podName, container, log);
    await this.deleteJob(jobName, log);
    log.info({ reason: outcome.reason, message: outcome.message }, 'build failed');
    return {
      status: 'failed',
      jobName,
      ...(image ? { image } : {}),
      reason: outcome.reason ?? 'Error',
      retryable: outcome.retryable ?? false,
      message: outcome.message ?? 'the Job failed',
      ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
      logTail,
      vanished,
      startedAt,
      finishedAt,
    };
  }

  private async createOrAdopt(
    manifest: V1Job,
    requestId: string,
    attempt: number,
    log: Logger,
  ): Promise<{ job: V1Job; adopted: boolean }> {
    const name = manifest.metadata!.name!;
    const context = { namespace: this.namespace, jobName: name, requestId };
    for (;;) {
      try {
        const job = await callApi(
          'create job',
          () => this.options.clients.batch.createNamespacedJob({ namespace: this.namespace, body: manifest }),
          context,
        );
        log.info('job created');
        return { job, adopted: false };
      } catch (error) {
        if (!(error instanceof KubeApiError) || error.status !== 409) throw error;
      }
      const existing = await callApi(
        'read job',
        () => this.options.clients.batch.readNamespacedJob({ name, namespace: this.namespace }),
        context,
      );
      const labels = existing.metadata?.labels ?? {};
      if (labels[this.labels.requestId] !== labelValue(requestId)) {
        throw new PermanentBuildError(
          'KJL_JOB_CONFLICT',
          `Job ${this.namespace}/${name} already exists and belongs to ${
            labels[this.labels.requestId]
              ? `request ${labels[this.labels.requestId]}`
              : 'something other than kjl'
          }`,
          { context },
        );
      }
      if (labels[this.labels.attempt] !== String(attempt) && isFinished(existing)) {
        log.info('removing the finished Job of an earlier attempt');
        await this.deleteJob(name, log);
        continue;
      }
      log.info('job adopted');
      return { job: existing, adopted: true };
    }
  }

  /** Resolves when the Job (of this uid) succeeds, fails, or vanishes. */
  private awaitOutcome(jobName: string, uid: string): Promise<JobOutcome> {
    const { watcher } = this.options;
    return new Promise((resolve) => {
      let seen = false;
      let verifying = false;
      const settle = (outcome: JobOutcome) => {
        unsubscribe();
        clearInterval(timer);
        resolve(outcome);
      };
      const check = () => {
        const job = watcher.job(jobName);
        if (!job || job.metadata?.uid !== uid) {
          if (seen) settle(VANISHED);
          return seen;
        }
        seen = true;
        const outcome = classifyJob(job, watcher.podsOf(jobName), this.now(), {
          startTimeoutSeconds: this.options.startTimeoutSeconds,
        });
        if (outcome.state === 'succeeded' || outcome.state === 'failed') settle(outcome);
        return true;
      };
      // Still not in the cache a recheck later: the watch may lag the create, or the Job went before
      // the cache saw it; ask the API which.
      const verify = async () => {
        verifying = true;
        try {
          const job = await this.options.clients.batch.readNamespacedJob({
            name: jobName,
            namespace: this.namespace,
          });
          if (job.metadata?.uid !== uid) settle(VANISHED);
        } catch (error) {
          if ((error as { code?: number }).code === 404) settle(VANISHED);
        } finally {
          verifying = false;
        }
      };
      const unsubscribe = watcher.onChange((key) => {
        if (key === jobName) check();
      });
      const timer = setInterval(() => {
        if (!check() && !verifying) void verify();
      }, this.options.recheckMs ?? 1000);
      check();
    });
  }

  private async logTail(
    jobName: string,
    podName: string | undefined,
    container: string | undefined,
    log: Logger,
  ) {
    const pods = this.options.watcher.podsOf(jobName);
    const pod = pods.find((candidate) => candidate.metadata?.name === podName) ?? pods.sort(newestFirst)[0];
    if (!pod?.metadata?.name) return [];
    try {
      const text = await callApi(
        'read pod log',
        () =>
          this.options.clients.core.readNamespacedPodLog({
            name: pod.metadata!.name!,
            namespace: this.namespace,
            ...(container ? { container } : {}),
            tailLines: this.options.logTailLines ?? 100,
          }),
        { namespace: this.namespace, pod: pod.metadata.name },
      );
      return text.split('\n').filter((line, index, lines) => line !== '' || index < lines.length - 1);
    } catch (error) {
      log.warn({ err: error }, 'could not read the log of the failed pod');
      return [];
    }
  }

  /** Deletes a Job with its Pods (Background propagation) and waits until both are gone from the cache. */
  async deleteJob(jobName: string, log: Logger = this.options.logger): Promise<void> {
    try {
      await callApi(
        'delete job',
        () =>
          this.options.clients.batch.deleteNamespacedJob({
            name: jobName,
            namespace: this.namespace,
            propagationPolicy: 'Background',
          }),
        { namespace: this.namespace, jobName },
      );
    } catch (error) {
      if (!(error instanceof KubeApiError) || error.status !== 404) throw error;
    }
    const { watcher } = this.options;
    const gone = () => !watcher.job(jobName) && watcher.podsOf(jobName).length === 0;
    await watcher.until(jobName, gone, this.options.cleanupTimeoutMs ?? 10_000);
    log.info('job and pods deleted');
  }

  activeJobCount(exceptRequestId?: string): number {
    const except = exceptRequestId ? labelValue(exceptRequestId) : undefined;
    return this.options.watcher
      .activeJobs()
      .filter((job) => except === undefined || job.metadata?.labels?.[this.labels.requestId] !== except)
      .length;
  }
}
