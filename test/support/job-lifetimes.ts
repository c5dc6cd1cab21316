import type { JobLifetime } from '../../src/dev/sim-cluster/index.js';

/** Groups Jobs: the same key is the same target; undefined leaves a Job out. */
export type KeyOf = (job: JobLifetime) => string | undefined;

/** A KeyOf from label values, e.g. kjl's target: `byLabels('kjl.dev/third-party-id', 'kjl.dev/parser-id')`. */
export function byLabels(...names: string[]): KeyOf {
  return (job) =>
    names.every((name) => job.labels[name] !== undefined)
      ? JSON.stringify(names.map((name) => job.labels[name]))
      : undefined;
}

/** When a Job stopped being unfinished: its first Complete/Failed, else its deletion, else never. */
function endOf(job: JobLifetime): number {
  const end = job.finishedAt ?? job.deletedAt;
  return end === undefined ? Infinity : Date.parse(end);
}

/**
 * Pairs of Jobs with the same key that were unfinished at the same time, the earlier-created first
 * (a Job is unfinished over [createdAt, finishedAt or deletedAt)). Empty when no target ever had
 * two Jobs running at once.
 */
export function overlaps(lifetimes: JobLifetime[], keyOf: KeyOf): [JobLifetime, JobLifetime][] {
  const groups = new Map<string, JobLifetime[]>();
  for (const job of lifetimes) {
    const key = keyOf(job);
    if (key !== undefined) groups.set(key, [...(groups.get(key) ?? []), job]);
  }
  const pairs: [JobLifetime, JobLifetime][] = [];
  for (const jobs of groups.values()) {
    const sorted = [...jobs].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    sorted.forEach((job, i) => {
      for (const later of sorted.slice(i + 1)) {
        if (Date.parse(later.createdAt) >= endOf(job)) break;
        pairs.push([job, later]);
      }
    });
  }
  return pairs;
}
