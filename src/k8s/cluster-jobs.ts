import { PassThrough, type Readable } from 'node:stream';
import { Log, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { RunDetail } from '../build-run.js';
import { KubeApiError } from '../errors.js';
import { callApi } from './api-retry.js';
import { mainContainerOf } from './job-spec.js';
import { isFinished, millis, newestFirst } from './kube-objects.js';
import type { KubeClients } from './kube-client.js';
import { instanceSelector, requestSelector } from './labels.js';
import { describeCreationFailure, readPodCreationFailure } from './pod-creation.js';

export interface ClusterJobsOptions {
  clients: KubeClients;
  namespace: string;
  labelPrefix: string;
  /** the deployment's instance: only its Jobs are looked at */
  instance: string;
}

const WAITING_WORDS: Record<string, string> = {
  ContainerCreating: 'its container is being created',
  PodInitializing: 'its init containers are running',
  ErrImagePull: 'its image cannot be pulled',
  ImagePullBackOff: 'its image cannot be pulled',
};

/** Why a pod has not started, in words (scheduling first, then its containers). */
function pendingReason(pod: V1Pod): string {
  const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    return `not scheduled: ${scheduled.reason ?? 'Pending'}${scheduled.message ? ` (${scheduled.message})` : ''}`;
  }
  for (const status of [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ]) {
    const waiting = status.state?.waiting;
    if (waiting?.reason) {
      const words = WAITING_WORDS[waiting.reason] ?? waiting.reason;
      return `${words}${waiting.message ? ` (${waiting.message})` : ''}`;
    }
  }
  return 'scheduled, its containers are starting';
}

/**
 * The deployment's Jobs read straight through the API, for the one-shot commands and the HTTP API
 * (which run no watch): deleting a request's Jobs (cancel), counting the unfinished ones, telling
 * whether a run's pod is pending or running, and streaming its log.
 */
export class ClusterJobs {
  constructor(private readonly options: ClusterJobsOptions) {}

  private get namespace(): string {
    return this.options.namespace;
  }

  /** Deletes the Jobs of one request (with their Pods: Background propagation); returns their names. */
  async deleteRequestJobs(requestId: string): Promise<string[]> {
    const { clients, namespace } = this.options;
    const labelSelector = requestSelector(this.options.labelPrefix, this.options.instance, requestId);
    const list = await callApi(
      'list jobs',
      () => clients.batch.listNamespacedJob({ namespace, labelSelector }),
      {
        namespace,
        requestId,
      },
    );
    const names = list.items.map((job) => job.metadata!.name!);
    for (const name of names) {
      await callApi(
        'delete job',
        () => clients.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
        { namespace, jobName: name, requestId },
        clients.retry,
      ).catch((error: unknown) => {
        if (!(error instanceof KubeApiError) || error.status !== 404) throw error;
      });
    }
    return names;
  }

  /** The deployment's unfinished Jobs, counted from one list. */
  async unfinishedJobs(): Promise<number> {
    const { clients, namespace } = this.options;
    const labelSelector = instanceSelector(this.options.labelPrefix, this.options.instance);
    const list = await callApi(
      'list jobs',
      () => clients.batch.listNamespacedJob({ namespace, labelSelector }),
      {
        namespace,
      },
    );
    return list.items.filter((job) => !isFinished(job)).length;
  }

  private async job(jobName: string): Promise<V1Job | undefined> {
    try {
      return await callApi(
        'read job',
        () => this.options.clients.batch.readNamespacedJob({ name: jobName, namespace: this.namespace }),
        { namespace: this.namespace, jobName },
        this.options.clients.retry,
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  private async newestPod(job: V1Job): Promise<V1Pod | undefined> {
    const list = await callApi(
      'list pods',
      () =>
        this.options.clients.core.listNamespacedPod({
          namespace: this.namespace,
          labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata!.uid!}`,
        }),
      { namespace: this.namespace, jobName: job.metadata!.name! },
      this.options.clients.retry,
    );
    return list.items.sort(newestFirst)[0];
  }

  /** Where a run's Job stands: its pod pending (and why) or running, or the Job finished or gone. */
  async describeRun(jobName: string): Promise<RunDetail> {
    const job = await this.job(jobName);
    if (!job) return { phase: 'gone' };
    if (isFinished(job)) return { phase: 'finished' };
    const pod = await this.newestPod(job);
    if (!pod) {
      const refused = await readPodCreationFailure(
        this.options.clients,
        this.namespace,
        jobName,
        job.metadata?.uid,
      );
      if (refused) return { phase: 'pending', detail: describeCreationFailure(refused) };
      const since = millis(job.metadata?.creationTimestamp);
      return {
        phase: 'pending',
        detail: `no pod yet${since ? ` (Job created ${new Date(since).toISOString()})` : ''}`,
      };
    }
    if (pod.status?.phase === 'Pending' || pod.status?.phase === undefined) {
      return { phase: 'pending', pod: pod.metadata?.name, detail: pendingReason(pod) };
    }
    return { phase: 'running', pod: pod.metadata?.name };
  }

  /**
   * Writes the log of a run's main container to `write`: what it has so far, then (with `follow`)
   * what it prints until it ends or `signal` aborts. False when there is no Job or pod to read.
   */
  async streamLog(
    jobName: string,
    options: { follow: boolean; signal?: AbortSignal },
    write: (chunk: string) => void,
  ): Promise<boolean> {
    const job = await this.job(jobName);
    const pod = job && (await this.newestPod(job));
    if (!job || !pod?.metadata?.name) return false;
    const container = mainContainerOf(job, this.options.labelPrefix) ?? pod.spec?.containers[0]?.name ?? '';
    const stream = new PassThrough();
    // client-node pipes the API's answer into `stream` and leaves that answer's errors unheard: an
    // abort or a cut connection would be an uncaught error. It ends the log here instead.
    stream.on('pipe', (source: Readable) => source.on('error', () => stream.end()));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => write(chunk));
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    const controller = await new Log(this.options.clients.kubeConfig).log(
      this.namespace,
      pod.metadata.name,
      container,
      stream,
      { follow: options.follow },
    );
    const abort = () => {
      controller.abort();
      stream.end();
    };
    options.signal?.addEventListener('abort', abort, { once: true });
    await ended;
    options.signal?.removeEventListener('abort', abort);
    return true;
  }
}
