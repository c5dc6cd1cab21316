import { callApi } from './api-retry.js';
import type { KubeClients } from './kube-client.js';
import { requestSelector } from './labels.js';

/**
 * Deletes the Jobs (with their Pods: Background propagation) of one request, straight through the
 * API: for one-shot commands (`kjl cancel`) that run no watch. Returns the deleted Jobs' names.
 */
export async function deleteRequestJobs(
  clients: KubeClients,
  namespace: string,
  labelPrefix: string,
  requestId: string,
): Promise<string[]> {
  const labelSelector = requestSelector(labelPrefix, requestId);
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
    );
  }
  return names;
}
