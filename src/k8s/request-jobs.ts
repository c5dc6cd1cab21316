import { callApi } from './api-retry.js';
import type { KubeClients } from './kube-client.js';
import { requestSelector } from './labels.js';

export interface RequestJobsOptions {
  clients: KubeClients;
  namespace: string;
  labelPrefix: string;
  instance: string;
}

/**
 * Deletes the Jobs (with their Pods: Background propagation) of one request of this deployment,
 * straight through the API: what a cancel does, also from a one-shot command that runs no watch.
 * Returns the deleted Jobs' names.
 */
export async function deleteRequestJobs(options: RequestJobsOptions, requestId: string): Promise<string[]> {
  const { clients, namespace } = options;
  const labelSelector = requestSelector(options.labelPrefix, options.instance, requestId);
  const list = await callApi(
    'list jobs',
    () => clients.batch.listNamespacedJob({ namespace, labelSelector }),
    { namespace, requestId },
    clients.retry,
  );
  const names = list.items.map((job) => job.metadata!.name!);
  for (const name of names) {
    await callApi(
      'delete job',
      () => clients.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
      { namespace, jobName: name, requestId },
      clients.retry,
    ).catch((error: { status?: number }) => {
      if (error.status !== 404) throw error;
    });
  }
  return names;
}
