import type { Logger } from '../logger.js';
import { callApi } from './api-retry.js';
import { jobNameOfPod, type JobWatcher } from './job-watcher.js';
import { isFinished, millis } from './kube-objects.js';
import type { KubeClients } from './kube-client.js';
import { labelKeys } from './labels.js';

export interface OrphanSweeperOptions {
  clients: KubeClients;
  watcher: JobWatcher;
  namespace: string;
  labelPrefix: string;
  /** true when a request (by its request-id label value) is known to the queue */
  isKnown: (requestId: string) => Promise<boolean>;
  intervalSeconds: number;
  logger: Logger;
}

const MIN_ORPHAN_AGE_MS = 60_000;

export interface SweepResult {
  jobs: string[];
  pods: string[];
}

/**
 * Deletes what the launcher made and no request knows: unfinished or failed managed Jobs whose
 * request is not in the queue, and managed Pods whose Job is gone. Succeeded Jobs are left to
 * their `ttlSecondsAfterFinished`.
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

  async sweep(): Promise<SweepResult> {
    const { watcher, clients, namespace, logger } = this.options;
    const requestLabel = labelKeys(this.options.labelPrefix).requestId;
    const result: SweepResult = { jobs: [], pods: [] };
    for (const job of watcher.allJobs()) {
      const name = job.metadata?.name;
      const requestId = job.metadata?.labels?.[requestLabel];
      if (!name || job.metadata?.deletionTimestamp) continue;
      const succeeded = isFinished(job) && (job.status?.succeeded ?? 0) > 0;
      if (succeeded || (requestId && (await this.options.isKnown(requestId)))) continue;
      await callApi(
        'delete orphan job',
        () => clients.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
        { namespace, jobName: name },
      ).catch((error: unknown) => logger.warn({ err: error, jobName: name }, 'could not delete orphan job'));
      result.jobs.push(name);
    }
    const jobNames = new Set(watcher.allJobs().map((job) => job.metadata?.name));
    for (const pod of watcher.allPods()) {
      const name = pod.metadata?.name;
      const owner = jobNameOfPod(pod);
      if (!name || pod.metadata?.deletionTimestamp || (owner && jobNames.has(owner))) continue;
      // The Pod watch may run ahead of the Job watch: a young pod's Job may just not be cached yet.
      if (Date.now() - (millis(pod.metadata?.creationTimestamp) ?? 0) < MIN_ORPHAN_AGE_MS) continue;
      await callApi('delete orphan pod', () => clients.core.deleteNamespacedPod({ name, namespace }), {
        namespace,
        pod: name,
      }).catch((error: unknown) => logger.warn({ err: error, pod: name }, 'could not delete orphan pod'));
      result.pods.push(name);
    }
    if (result.jobs.length || result.pods.length) logger.info(result, 'deleted orphans');
    return result;
  }
}
