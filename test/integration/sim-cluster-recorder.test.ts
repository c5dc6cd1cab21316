import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startSimCluster,
  type JobLifetime,
  type SimCluster,
  type SimStats,
} from '../../src/dev/sim-cluster/index.js';
import { byLabels, overlaps } from '../support/job-lifetimes.js';
import { waitFor } from '../support/wait.js';

let cluster: SimCluster;
let batch: BatchV1Api;

const TARGET = byLabels('kjl.dev/third-party-id', 'kjl.dev/parser-id');
const MILLIS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function job(name: string, labels: Record<string, string>): V1Job {
  return {
    metadata: { name, labels },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
    },
  };
}

const target = (thirdParty: string, parser: string) => ({
  'kjl.dev/third-party-id': thirdParty,
  'kjl.dev/parser-id': parser,
});

const getJson = async <T>(path: string): Promise<T> =>
  (await (await fetch(`${cluster.url}${path}`)).json()) as T;

beforeAll(async () => {
  cluster = await startSimCluster({
    timeScale: 20,
    rules: [
      // still running at the second test's reset however slow the machine (2 s real)
      { match: { labels: { 'job-name': 'solo-again' } }, action: 'succeed', seconds: 40 },
      { match: { labels: { 'job-name': 'solo*' } }, action: 'succeed', seconds: 1 },
      { action: 'succeed', seconds: 3600 },
    ],
  });
  const config = new KubeConfig();
  config.loadFromString(cluster.kubeconfig);
  batch = config.makeApiClient(BatchV1Api);
  const core = config.makeApiClient(CoreV1Api);
  for (const name of ['a', 'b']) await core.createNamespace({ body: { metadata: { name } } });
});

afterAll(() => cluster.stop());

describe('Job lifetimes and per-namespace maxima', () => {
  it('records every Job’s creation, finish and deletion, so overlapping Jobs of one target show', async () => {
    await batch.createNamespacedJob({ namespace: 'a', body: job('first', target('acme', 'long')) });
    await batch.createNamespacedJob({ namespace: 'a', body: job('second', target('acme', 'long')) });
    await batch.createNamespacedJob({ namespace: 'b', body: job('solo', target('acme', 'csv')) });
    await waitFor('solo to finish', () => cluster.jobLifetimes().find((j) => j.name === 'solo')?.finishedAt);
    await batch.createNamespacedJob({ namespace: 'b', body: job('solo-again', target('acme', 'csv')) });
    await batch.deleteNamespacedJob({ namespace: 'a', name: 'first', propagationPolicy: 'Background' });

    const lifetimes = await getJson<JobLifetime[]>('/sim/jobs');
    expect(lifetimes.map((j) => `${j.namespace}/${j.name}`)).toEqual([
      'a/first',
      'a/second',
      'b/solo',
      'b/solo-again',
    ]);
    const [first, second, solo] = lifetimes;
    expect(first).toEqual({
      namespace: 'a',
      name: 'first',
      uid: expect.any(String),
      labels: target('acme', 'long'),
      createdAt: expect.stringMatching(MILLIS),
      deletedAt: expect.stringMatching(MILLIS),
    });
    expect(second!.finishedAt).toBeUndefined();
    expect(Date.parse(solo!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(solo!.createdAt) + 1000);

    expect(overlaps(lifetimes, TARGET).map(([a, b]) => [a.name, b.name])).toEqual([['first', 'second']]);
  });

  it('keeps the most unfinished Jobs at once per namespace; reset-stats restarts them and drops deleted Jobs', async () => {
    const stats = await getJson<SimStats>('/sim/stats');
    expect(stats.maxActiveJobs).toBe(3);
    expect(stats.maxActiveJobsPerNamespace).toEqual({ a: 2, b: 1 });

    expect((await fetch(`${cluster.url}/sim/reset-stats`, { method: 'POST' })).status).toBe(204);
    await waitFor(
      'solo-again to finish',
      () => cluster.jobLifetimes().find((j) => j.name === 'solo-again')?.finishedAt,
    );
    expect(cluster.jobLifetimes().map((j) => j.name)).toEqual(['second', 'solo', 'solo-again']);
    // from the Jobs unfinished at the reset: second in a, solo-again in b
    expect(cluster.stats().maxActiveJobsPerNamespace).toEqual({ a: 1, b: 1 });
  });
});
