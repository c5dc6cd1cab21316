import type { Job, Pod } from './kube-types.js';

/** What the Job controller puts on its pods and reads back (kubernetes `pkg/controller/job`). */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';

export function isTerminal(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

export function isActive(pod: Pod): boolean {
  return !isTerminal(pod) && !pod.metadata.deletionTimestamp;
}

export function isTerminating(pod: Pod): boolean {
  return !isTerminal(pod) && !!pod.metadata.deletionTimestamp;
}

export function isReady(pod: Pod): boolean {
  return !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** podReplacementPolicy `Failed` (the default when a podFailurePolicy is set): terminating pods are not yet failures. */
export function onlyReplaceFailedPods(job: Job): boolean {
  return (
    (job.spec.podReplacementPolicy ?? (job.spec.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed')) ===
    'Failed'
  );
}

/** Failed phase, or (unless only failed pods are replaced) deleted before it succeeded: orphaned pods may never reach Failed. */
export function isPodFailed(pod: Pod, job: Job): boolean {
  if (pod.status?.phase === 'Failed') return true;
  if (onlyReplaceFailedPods(job)) return false;
  return !!pod.metadata.deletionTimestamp && pod.status?.phase !== 'Succeeded';
}

export function completionIndex(pod: Pod): number | undefined {
  const value = pod.metadata.annotations?.[COMPLETION_INDEX];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** When a pod finished, for the back-off: its last container exit, else its deletion, else now. */
export function finishedAt(pod: Pod, now: number): number {
  const exits = (pod.status?.containerStatuses ?? [])
    .map((s) => s.state.terminated?.finishedAt)
    .filter((t): t is string => !!t)
    .map((t) => Date.parse(t));
  if (exits.length) return Math.max(...exits);
  return pod.metadata.deletionTimestamp ? Date.parse(pod.metadata.deletionTimestamp) : now;
}

/** A pod from the Job's template, as the controller creates it (`GetPodFromTemplate` plus Indexed additions). */
export function podForJob(job: Job, index: number | undefined): Pod {
  const name = job.metadata.name!;
  const template = structuredClone(job.spec.template);
  const labels = { ...template.metadata?.labels };
  const annotations = { ...template.metadata?.annotations };
  const spec = template.spec;
  if (index !== undefined) {
    labels[COMPLETION_INDEX] = String(index);
    annotations[COMPLETION_INDEX] = String(index);
    spec.hostname ??= `${name}-${index}`;
    for (const container of spec.containers) {
      container.env = [
        ...(container.env ?? []),
        {
          name: 'JOB_COMPLETION_INDEX',
          valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX}']` } },
        },
      ];
    }
  }
  return {
    metadata: {
      generateName: index === undefined ? `${name}-` : `${name}-${index}-`,
      namespace: job.metadata.namespace,
      labels,
      ...(Object.keys(annotations).length ? { annotations } : {}),
      finalizers: [JOB_TRACKING_FINALIZER],
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name,
          uid: job.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
    status: { phase: 'Pending' },
  };
}

/** `status.completedIndexes` text: ascending, runs of three or more as `first-last` ("1,3-5,7"). */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(',');
}

export function parseIndexes(text: string | undefined): Set<number> {
  const indexes = new Set<number>();
  for (const part of text ? text.split(',') : []) {
    const [first, last = first] = part.split('-').map(Number) as [number, number?];
    for (let i = first; i <= last; i++) indexes.add(i);
  }
  return indexes;
}
