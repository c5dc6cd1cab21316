import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../logger.js';
import { callApi } from './api-retry.js';
import { Informer } from './informer.js';
import type { KubeClients } from './kube-client.js';
import { isFinished, millis } from './kube-objects.js';

export interface JobWatcherOptions {
  clients: KubeClients;
  namespace: string;
  /** selects this deployment's Jobs and Pods (`managed-by` and `instance` labels) */
  labelSelector: string;
  /** label key of the request id on Jobs */
  requestLabel: string;
  /** a watch closed for longer than this makes the watcher not live (readiness) */
  staleMs: number;
  logger: Logger;
  /** first wait before a failed list or watch is tried again (doubles up to 5 s) */
  retryDelayMs?: number;
}

type KeyListener = (jobName: string) => void;

const JOB_NAME_LABELS = ['batch.kubernetes.io/job-name', 'job-name'];

/** The Job a pod belongs to, from the labels the Job controller gives it. */
export function jobNameOfPod(pod: V1Pod): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  for (const key of JOB_NAME_LABELS) if (labels[key]) return labels[key];
  return pod.metadata?.ownerReferences?.find((owner) => owner.kind === 'Job')?.name;
}

/** The metadata fields kjl reads; the rest (managedFields, …) is not cached. */
function stripMeta(meta: V1Job['metadata']): V1Job['metadata'] {
  if (!meta) return meta;
  const { name, namespace, uid, resourceVersion, labels, annotations } = meta;
  const { creationTimestamp, deletionTimestamp, ownerReferences } = meta;
  return {
    name,
    namespace,
    uid,
    resourceVersion,
    labels,
    annotations,
    creationTimestamp,
    deletionTimestamp,
    ownerReferences,
  };
}

function stripJob(job: V1Job): V1Job {
  return {
    metadata: stripMeta(job.metadata),
    ...(job.spec ? { spec: { suspend: job.spec.suspend, template: {} } } : {}),
    status: job.status,
  } as V1Job;
}

function stripPod(pod: V1Pod): V1Pod {
  const sidecars = pod.spec?.initContainers
    ?.filter((container) => container.restartPolicy === 'Always')
    .map(({ name, restartPolicy }) => ({ name, restartPolicy }));
  return {
    metadata: stripMeta(pod.metadata),
    spec: { containers: [], ...(sidecars?.length ? { initContainers: sidecars } : {}) },
    status: pod.status,
  } as V1Pod;
}

/**
 * One shared list+watch of the deployment's Jobs and one of their Pods, for every worker: the
 * number of API connections does not grow with the number of Jobs. Pods are indexed by their Job,
 * the unfinished Jobs are counted as they change, and listeners are called per Job name.
 *
 * The last seen status of a pod that leaves the cache while its Job is unfinished is kept until the
 * Job finishes or is gone: a pod GC can delete a failed pod before the Job's `Failed` condition is
 * written, and the cause of the failure is read from that pod.
 */
export class JobWatcher {
  private readonly jobs: Informer<V1Job>;
  private readonly pods: Informer<V1Pod>;
  private readonly podsByJob = new Map<string, Map<string, V1Pod>>();
  private readonly departed = new Map<string, Map<string, V1Pod>>();
  /** unfinished Jobs (not Complete, not Failed) by name → their request-id label */
  private readonly unfinished = new Map<string, string>();
  private readonly listeners = new Map<string, Set<KeyListener>>();
  private readonly dirty = new Set<string>();
  private flushing = false;

  constructor(private readonly options: JobWatcherOptions) {
    const { clients, namespace, labelSelector, logger } = options;
    const common = { labelSelector, watch: clients.watch, minDelayMs: options.retryDelayMs ?? 200 };
    this.jobs = new Informer<V1Job>({
      ...common,
      resource: 'jobs',
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      list: () =>
        callApi(
          'list jobs',
          () => clients.batch.listNamespacedJob({ namespace, labelSelector }),
          { namespace },
          clients.retry,
        ),
      strip: stripJob,
      onChange: (type, job) => this.onJob(type, job),
      logger: logger.child({ resource: 'jobs' }),
    });
    this.pods = new Informer<V1Pod>({
      ...common,
      resource: 'pods',
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () =>
        callApi(
          'list pods',
          () => clients.core.listNamespacedPod({ namespace, labelSelector }),
          { namespace },
          clients.retry,
        ),
      strip: stripPod,
      onChange: (type, pod) => this.onPod(type, pod),
      logger: logger.child({ resource: 'pods' }),
    });
  }

  /** Starts both watches; resolves once both caches are filled (retrying for as long as it takes). */
  async start(): Promise<void> {
    await Promise.all([this.jobs.start(), this.pods.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.jobs.stop(), this.pods.stop()]);
  }

  /** Both caches filled and both watches open (or open within the stale window): readiness. */
  get live(): boolean {
    return this.jobs.isLive(this.options.staleMs) && this.pods.isLive(this.options.staleMs);
  }

  get synced(): boolean {
    return this.jobs.hasSynced && this.pods.hasSynced;
  }

  private onJob(type: string, job: V1Job): void {
    const name = job.metadata?.name;
    if (!name) return;
    if (type === 'deleted' || isFinished(job)) this.unfinished.delete(name);
    else this.unfinished.set(name, job.metadata?.labels?.[this.options.requestLabel] ?? '');
    if (type === 'deleted' || (isFinished(job) && (job.status?.succeeded ?? 0) > 0)) {
      this.departed.delete(name);
    }
    this.mark(name);
  }

  private onPod(type: string, pod: V1Pod): void {
    const jobName = jobNameOfPod(pod);
    const podName = pod.metadata?.name;
    if (!jobName || !podName) return;
    let pods = this.podsByJob.get(jobName);
    if (type === 'deleted') {
      pods?.delete(podName);
      if (pods?.size === 0) this.podsByJob.delete(jobName);
      if (this.unfinished.has(jobName)) {
        const kept = this.departed.get(jobName) ?? new Map<string, V1Pod>();
        kept.set(podName, pod);
        this.departed.set(jobName, kept);
      }
    } else {
      if (!pods) this.podsByJob.set(jobName, (pods = new Map()));
      pods.set(podName, pod);
    }
    this.mark(jobName);
  }

  /** Notes a change; listeners run once per Job name per turn of the event loop. */
  private mark(jobName: string): void {
    if (!this.listeners.has(jobName)) return;
    this.dirty.add(jobName);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) for (const listener of this.listeners.get(name) ?? []) listener(name);
    });
  }

  /** Calls `listener` after any change to the Job or its Pods; returns the unsubscribe. */
  onChange(jobName: string, listener: KeyListener): () => void {
    let set = this.listeners.get(jobName);
    if (!set) this.listeners.set(jobName, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobName);
    };
  }

  job(name: string): V1Job | undefined {
    return this.jobs.get(name);
  }

  /** The Job's pods: those in the cache, and the last seen state of those that left it unfinished. */
  podsOf(jobName: string): V1Pod[] {
    const live = this.podsByJob.get(jobName);
    const gone = this.departed.get(jobName);
    const pods = [...(live?.values() ?? [])];
    for (const [name, pod] of gone ?? []) if (!live?.has(name)) pods.push(pod);
    return pods;
  }

  /** Drops what was kept of a Job's departed pods (its outcome is recorded). */
  forget(jobName: string): void {
    this.departed.delete(jobName);
  }

  allJobs(): IterableIterator<V1Job> {
    return this.jobs.values();
  }

  allPods(): IterableIterator<V1Pod> {
    return this.pods.values();
  }

  /** How many of the deployment's Jobs are unfinished (each counts against the limit). */
  get activeJobs(): number {
    return this.unfinished.size;
  }

  /**
   * When the longest-running unfinished Job started (epoch ms): its `status.startTime`, else its
   * creation. Undefined when none is unfinished. Reads only the unfinished Jobs.
   */
  oldestActiveStart(): number | undefined {
    let oldest: number | undefined;
    for (const name of this.unfinished.keys()) {
      const job = this.jobs.get(name);
      const start = millis(job?.status?.startTime) ?? millis(job?.metadata?.creationTimestamp);
      if (start !== undefined && (oldest === undefined || start < oldest)) oldest = start;
    }
    return oldest;
  }

  /** Per watched resource, the last moment its cache was shown current (see `Informer.lastEventAt`). */
  watchActivity(): { resource: 'jobs' | 'pods'; lastEventAt: number }[] {
    return [
      { resource: 'jobs', lastEventAt: this.jobs.lastEventAt },
      { resource: 'pods', lastEventAt: this.pods.lastEventAt },
    ];
  }

  /** The request ids of the unfinished Jobs (each counts against the limit). */
  unfinishedRequests(): string[] {
    return [...this.unfinished.values()];
  }
}
