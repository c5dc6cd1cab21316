import { ListWatch, Watch, type KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../logger.js';
import { callApi } from './api-retry.js';
import type { KubeClients } from './kube-client.js';
import { isFinished } from './kube-objects.js';

export interface JobWatcherOptions {
  clients: KubeClients;
  namespace: string;
  /** selects the launcher's Jobs and Pods (`app.kubernetes.io/managed-by=kube-job-launcher`) */
  labelSelector: string;
  logger: Logger;
  /** longest wait before a dropped watch reconnects (client-node would go up to 30 s) */
  maxReconnectDelayMs?: number;
  /** first wait before an informer that stopped on an error is started again */
  restartDelayMs?: number;
}

type KeyListener = (jobName: string) => void;

const JOB_NAME_LABELS = ['batch.kubernetes.io/job-name', 'job-name'];

/** The Job a pod belongs to, from the labels the Job controller gives it. */
export function jobNameOfPod(pod: V1Pod): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  for (const key of JOB_NAME_LABELS) if (labels[key]) return labels[key];
  return pod.metadata?.ownerReferences?.find((owner) => owner.kind === 'Job')?.name;
}

/**
 * One shared list+watch of the launcher's Jobs and one of their Pods, by label selector, for every
 * worker: the number of API connections does not grow with the number of Jobs. Handlers only
 * note which Job changed; listeners then read the cache. A 410 relists (client-node); any other
 * error restarts the informer with backoff.
 */
export class JobWatcher {
  private readonly jobs: ListWatch<V1Job>;
  private readonly pods: ListWatch<V1Pod>;
  private readonly listeners = new Set<KeyListener>();
  private readonly dirty = new Set<string>();
  private readonly logger: Logger;
  private flushing = false;
  private stopped = false;
  private synced = false;

  constructor(private readonly options: JobWatcherOptions) {
    this.logger = options.logger;
    const { clients, namespace, labelSelector } = options;
    const watch = new Watch(clients.kubeConfig as KubeConfig);
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    const delayFn = (ms: number) =>
      new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, maxDelay)));
    this.jobs = new ListWatch<V1Job>(
      `/apis/batch/v1/namespaces/${namespace}/jobs`,
      watch,
      () =>
        callApi('list jobs', () => clients.batch.listNamespacedJob({ namespace, labelSelector }), {
          namespace,
        }),
      false,
      labelSelector,
      undefined,
      { delayFn },
    );
    this.pods = new ListWatch<V1Pod>(
      `/api/v1/namespaces/${namespace}/pods`,
      watch,
      () =>
        callApi('list pods', () => clients.core.listNamespacedPod({ namespace, labelSelector }), {
          namespace,
        }),
      false,
      labelSelector,
      undefined,
      { delayFn },
    );
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.jobs.on(verb, (job) => this.mark(job.metadata?.name));
      this.pods.on(verb, (pod) => this.mark(jobNameOfPod(pod)));
    }
    this.restartOnError(this.jobs, 'jobs');
    this.restartOnError(this.pods, 'pods');
  }

  /** Lists both resources once and starts watching; resolves when the cache is filled. */
  async start(): Promise<void> {
    this.stopped = false;
    await Promise.all([this.jobs.start(), this.pods.start()]);
    this.synced = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.jobs.stop(), this.pods.stop()]);
  }

  /** True once the first list of both resources is in the cache (readiness). */
  get ready(): boolean {
    return this.synced && !this.stopped;
  }

  private restartOnError(informer: ListWatch<V1Job> | ListWatch<V1Pod>, what: string): void {
    let delay = this.options.restartDelayMs ?? 500;
    informer.on('connect', () => {
      delay = this.options.restartDelayMs ?? 500;
    });
    informer.on('error', (error: unknown) => {
      if (this.stopped) return;
      this.logger.warn({ err: error, resource: what, retryInMs: delay }, 'watch stopped; restarting');
      setTimeout(() => {
        if (!this.stopped) informer.start().catch(() => {}); // a failed start reports through 'error' again
      }, delay);
      delay = Math.min(delay * 2, 10_000);
    });
  }

  private mark(jobName: string | undefined): void {
    if (!jobName) return;
    this.dirty.add(jobName);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) for (const listener of this.listeners) listener(key);
    });
  }

  /** Calls `listener(jobName)` after any change to a Job or its Pods; returns the unsubscribe. */
  onChange(listener: KeyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves true once `done()` holds, checked now and after every change to the Job or its Pods;
   * false when `timeoutMs` passes first.
   */
  until(jobName: string, done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (result: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const unsubscribe = this.onChange((key) => {
        if (key === jobName && done()) finish(true);
      });
    });
  }

  job(name: string): V1Job | undefined {
    return this.jobs.get(name, this.options.namespace);
  }

  podsOf(jobName: string): V1Pod[] {
    return this.pods.list(this.options.namespace).filter((pod) => jobNameOfPod(pod) === jobName);
  }

  allJobs(): readonly V1Job[] {
    return this.jobs.list(this.options.namespace);
  }

  allPods(): readonly V1Pod[] {
    return this.pods.list(this.options.namespace);
  }

  /** Managed Jobs that have not finished and are not being deleted: what counts against the limit. */
  activeJobs(): V1Job[] {
    return this.allJobs().filter((job) => !isFinished(job) && !job.metadata?.deletionTimestamp);
  }
}
