import { KubeApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { callApi } from './api-retry.js';
import { jobNameOfPod, type JobWatcher } from './job-watcher.js';
import { isFinished, millis } from './kube-objects.js';
import type { KubeClients } from './kube-client.js';
import { labelKeys } from './labels.js';

/** Whether a Job is still wanted: the application layer answers from the queue's durable records. */
export type JobDisposition = 'keep' | 'delete';

export interface OrphanSweeperOptions {
  clients: KubeClients;
  watcher: JobWatcher;
  namespace: string;
  labelPrefix: string;
  /** what to do with a Job of `requestId` created for run `run` that has not succeeded */
  disposition: (requestId: string, run: number | undefined) => Promise<JobDisposition>;
  intervalSeconds: number;
  logger: Logger;
}

const MIN_ORPHAN_AGE_MS = 60_000;

export interface SweepResult {
  jobs: string[];
  pods: string[];
}

/**
 * Deletes what this deployment made and no longer wants: a Job that has not succeeded and whose run
 * is over (its outcome recorded, its request gone, replaced or finished), and a Pod whose Job is
 * gone. Succeeded Jobs are left to their `ttlSecondsAfterFinished`. The watch's selector holds the
 * deployment's instance label, so another launcher's Jobs are never looked at.
 */
export class OrphanSweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OrphanSweeperOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.options.logger.warn({ err: error }, 'sweep failed'));
    }, this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async jobExists(name: string): Promise<boolean> {
    const { clients, namespace } = this.options;
    try {
      await callApi(
        'read job',
        () => clients.batch.readNamespacedJob({ name, namespace }),
        { namespace, jobName: name },
        clients.retry,
      );
      return true;
    } catch (error) {
      return !(error instanceof KubeApiError && error.status === 404);
    }
  }

  async sweep(): Promise<SweepResult> {
    const { watcher, clients, namespace, logger } = this.options;
    const keys = labelKeys(this.options.labelPrefix);
    const result: SweepResult = { jobs: [], pods: [] };
    // a cache that does not follow the cluster would have Jobs and Pods look orphaned that are not
    if (!watcher.live) return result;
    for (const job of [...watcher.allJobs()]) {
      const name = job.metadata?.name;
      const labels = job.metadata?.labels ?? {};
      if (!name || job.metadata?.deletionTimestamp) continue;
      if (isFinished(job) && (job.status?.succeeded ?? 0) > 0) continue;
      const run = Number(labels[keys.attempt]);
      const requestId = labels[keys.requestId];
      const disposition = requestId
        ? await this.options.disposition(requestId, Number.isInteger(run) ? run : undefined)
        : 'delete';
      if (disposition === 'keep') continue;
      // the uid precondition: a newer Job of the same name (the next run) is never the one deleted
      const uid = job.metadata?.uid;
      await callApi(
        'delete orphan job',
        () =>
          clients.batch.deleteNamespacedJob({
            name,
            namespace,
            propagationPolicy: 'Background',
            ...(uid ? { body: { preconditions: { uid } } } : {}),
          }),
        { namespace, jobName: name },
        clients.retry,
      ).catch((error: unknown) => logger.warn({ err: error, jobName: name }, 'could not delete orphan job'));
      result.jobs.push(name);
    }
    for (const pod of [...watcher.allPods()]) {
      const name = pod.metadata?.name;
      const owner = jobNameOfPod(pod);
      if (!name || pod.metadata?.deletionTimestamp || (owner && watcher.job(owner))) continue;
      // The Pod watch may run ahead of the Job watch: a young pod's Job may just not be cached yet,
      // and an older one's is asked for before its pod goes.
      if (Date.now() - (millis(pod.metadata?.creationTimestamp) ?? 0) < MIN_ORPHAN_AGE_MS) continue;
      if (owner && (await this.jobExists(owner))) continue;
      await callApi(
        'delete orphan pod',
        () => clients.core.deleteNamespacedPod({ name, namespace }),
        { namespace, pod: name },
        clients.retry,
      ).catch((error: unknown) => logger.warn({ err: error, pod: name }, 'could not delete orphan pod'));
      result.pods.push(name);
    }
    if (result.jobs.length || result.pods.length) logger.info(result, 'deleted orphans');
    return result;
  }
}
