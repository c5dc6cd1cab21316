import { describe, expect, it } from 'vitest';
import type { JobLifetime } from '../../src/dev/sim-cluster/index.js';
import { byLabels, overlaps } from '../support/job-lifetimes.js';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

function lifetime(name: string, labels: Record<string, string>, from: number, to?: number, deleted?: number) {
  return {
    namespace: 'ns',
    name,
    uid: `uid-${name}`,
    labels,
    createdAt: at(from),
    ...(to === undefined ? {} : { finishedAt: at(to) }),
    ...(deleted === undefined ? {} : { deletedAt: at(deleted) }),
  } satisfies JobLifetime;
}

const target = byLabels('kjl.dev/third-party-id', 'kjl.dev/parser-id');
const acme = { 'kjl.dev/third-party-id': 'acme', 'kjl.dev/parser-id': 'csv' };

describe('overlaps', () => {
  it('finds Jobs of one target unfinished at the same time, also one never finished', () => {
    const first = lifetime('first', acme, 0, 10);
    const second = lifetime('second', acme, 5, 20);
    const third = lifetime('third', acme, 15);
    expect(overlaps([third, first, second], target)).toEqual([
      [first, second],
      [second, third],
    ]);
  });

  it('accepts one Job starting when the previous one finished or was deleted unfinished', () => {
    const jobs = [
      lifetime('first', acme, 0, 10),
      lifetime('second', acme, 10, undefined, 12),
      lifetime('third', acme, 12, 30, 40),
    ];
    expect(overlaps(jobs, target)).toEqual([]);
  });

  it('keeps targets apart and leaves out Jobs without the labels', () => {
    const other = { ...acme, 'kjl.dev/parser-id': 'json' };
    const jobs = [
      lifetime('a', acme, 0),
      lifetime('b', other, 1),
      lifetime('c', {}, 2),
      lifetime('d', {}, 3),
    ];
    expect(overlaps(jobs, target)).toEqual([]);
    expect(overlaps(jobs, (job) => job.namespace)).toHaveLength(6);
  });
});
