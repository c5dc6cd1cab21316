import type { CoreV1Event } from '@kubernetes/client-node';
import { callApi } from './api-retry.js';
import type { KubeClients } from './kube-client.js';
import { millis } from './kube-objects.js';

/**
 * Why the Job controller could not create a Job's pod, from the newest `FailedCreate` Warning
 * Event on the Job (`Error creating: <the API server's refusal>`). A ResourceQuota refusal
 * (`… is forbidden: exceeded quota: …`) is not a failure: the controller retries, and the pod is
 * created once the quota has room.
 */
export interface PodCreationFailure {
  /** refused by a ResourceQuota: the Job waits for capacity */
  quota: boolean;
  /** the event's message, e.g. `Error creating: pods "build-x-abcde" is forbidden: exceeded quota: …` */
  message: string;
  /** epoch ms of the last time the controller saw it */
  at: number;
}

const QUOTA_REFUSAL = /\bexceeded quota\b/;

function lastSeen(event: CoreV1Event): number {
  return (
    millis(event.lastTimestamp) ??
    millis(event.eventTime as Date | string | undefined) ??
    millis(event.firstTimestamp) ??
    0
  );
}

/** The newest FailedCreate of the Job `uid` among `events`, if any. Pure. */
export function podCreationFailure(
  events: readonly CoreV1Event[],
  uid: string | undefined,
): PodCreationFailure | undefined {
  const newest = events
    .filter(
      (event) =>
        event.reason === 'FailedCreate' &&
        event.involvedObject.kind === 'Job' &&
        (!uid || !event.involvedObject.uid || event.involvedObject.uid === uid),
    )
    .sort((a, b) => lastSeen(b) - lastSeen(a))[0];
  if (!newest) return undefined;
  const message = newest.message ?? 'FailedCreate';
  return { quota: QUOTA_REFUSAL.test(message), message, at: lastSeen(newest) };
}

/**
 * Reads a Job's Events (`list events` with the field selector `involvedObject.kind=Job,
 * involvedObject.name=<job>`) and returns why its pod could not be created, if it could not.
 */
export async function readPodCreationFailure(
  clients: KubeClients,
  namespace: string,
  jobName: string,
  uid: string | undefined,
): Promise<PodCreationFailure | undefined> {
  const { items } = await callApi(
    'list job events',
    () =>
      clients.core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=Job,involvedObject.name=${jobName}`,
      }),
    { namespace, jobName },
  );
  return podCreationFailure(items, uid);
}

/** `waiting for quota (<the refusal>)`, or the refusal itself: how a person is told. */
export function describeCreationFailure(failure: PodCreationFailure): string {
  const refusal = failure.message.replace(/^Error creating:\s*/, '');
  return failure.quota ? `waiting for quota (${refusal})` : `its pod cannot be created (${refusal})`;
}
