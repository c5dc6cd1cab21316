import { BatchV1Api, CoreV1Api, KubeConfig, Watch, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startSimCluster,
  type ClusterSettingsInput,
  type SimCluster,
} from '../../src/dev/sim-cluster/index.js';
import { waitFor } from '../support/wait.js';

let cluster: SimCluster;
let config: KubeConfig;
let batch: BatchV1Api;
let core: CoreV1Api;
const watches: AbortController[] = [];

interface Seen<T> {
  type: string;
  object: T;
}

/** Every event of a client-node watch, in arrival order. */
async function watch<T>(path: string): Promise<Seen<T>[]> {
  const events: Seen<T>[] = [];
  watches.push(
    await new Watch(config).watch(
      path,
      {},
      (type, object: T) => events.push({ type, object }),
      () => {},
    ),
  );
  return events;
}

const rv = (event: Seen<V1Job | V1Pod>) => Number(event.object.metadata?.resourceVersion);
const trueTypes = (job: V1Job) =>
  (job.status?.conditions ?? []).filter((c) => c.status === 'True').map((c) => c.type);

async function putSettings(settings: ClusterSettingsInput): Promise<Response> {
  return fetch(`${cluster.url}/sim/settings`, { method: 'PUT', body: JSON.stringify(settings) });
}

function job(name: string, spec: Partial<NonNullable<V1Job['spec']>> = {}): V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      ...spec,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
    },
  };
}

/** A fresh namespace, its Job and Pod watches, and the Job created. */
async function runJob(namespace: string, manifest: V1Job) {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const jobs = await watch<V1Job>(`/apis/batch/v1/namespaces/${namespace}/jobs`);
  const pods = await watch<V1Pod>(`/api/v1/namespaces/${namespace}/pods`);
  await batch.createNamespacedJob({ namespace, body: manifest });
  const finished = await waitFor(`${manifest.metadata!.name} to finish`, () =>
    jobs.find((e) => trueTypes(e.object).some((t) => t === 'Complete' || t === 'Failed')),
  );
  return { jobs, pods, finished };
}

beforeAll(async () => {
  cluster = await startSimCluster({
    timeScale: 20,
    settings: { jobConditions: '1.30' },
    rules: [
      { match: { labels: { 'job-name': 'evict-*' } }, action: 'evict', seconds: 1 },
      { match: { labels: { 'job-name': 'exit42-*' } }, action: 'fail', exitCode: 42, seconds: 1 },
      { action: 'succeed', seconds: 1 },
    ],
  });
  config = new KubeConfig();
  config.loadFromString(cluster.kubeconfig);
  batch = config.makeApiClient(BatchV1Api);
  core = config.makeApiClient(CoreV1Api);
});

afterEach(() => {
  for (const controller of watches.splice(0)) controller.abort();
});

afterAll(() => cluster.stop());

describe('cluster settings', () => {
  it('start from startSimCluster, are read and replaced over HTTP, and are validated', async () => {
    expect(await (await fetch(`${cluster.url}/sim/settings`)).json()).toEqual({
      jobConditions: '1.30',
      podGC: { terminated: 'off' },
    });
    const put = await putSettings({ podGC: { terminated: 'immediate' } });
    expect(await put.json()).toEqual({ jobConditions: '1.31', podGC: { terminated: 'immediate' } });
    const bad = await putSettings({ jobConditions: '1.29' } as never);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^jobConditions: /);
    expect(cluster.controllers.settings()).toEqual({
      jobConditions: '1.31',
      podGC: { terminated: 'immediate' },
    });
  });
});

describe('1.30 condition order', () => {
  it('with pod GC: an evicted pod’s DELETED comes before the Job’s Failed, and no FailureTarget', async () => {
    await putSettings({ jobConditions: '1.30', podGC: { terminated: 'immediate' } });
    const { jobs, pods, finished } = await runJob('legacy-gc', job('evict-a'));
    expect(trueTypes(finished.object)).toEqual(['Failed']);
    expect(finished.object.status?.conditions?.[0]?.reason).toBe('BackoffLimitExceeded');
    expect(finished.object.status?.failed).toBe(1);
    expect(jobs.some((e) => trueTypes(e.object).includes('FailureTarget'))).toBe(false);

    const deleted = pods.find((e) => e.type === 'DELETED');
    expect(deleted, 'the pod was deleted').toBeDefined();
    expect(rv(deleted!)).toBeLessThan(rv(finished));
    // what a watcher saw of the pod before it went: Failed, Evicted, without a pod GC condition
    const last = pods.filter((e) => e.type === 'MODIFIED').at(-1)!.object;
    expect([last.status?.phase, last.status?.reason]).toEqual(['Failed', 'Evicted']);
    expect(last.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.reason).toBe(
      'TerminationByKubelet',
    );
  });

  it('without pod GC: Failed at once, the evicted pod stays (without its finalizer)', async () => {
    await putSettings({ jobConditions: '1.30' });
    const { pods, finished } = await runJob('legacy', job('evict-b'));
    expect(trueTypes(finished.object)).toEqual(['Failed']);
    expect(pods.some((e) => e.type === 'DELETED')).toBe(false);
    const [pod] = (await core.listNamespacedPod({ namespace: 'legacy' })).items;
    expect(pod?.status?.phase).toBe('Failed');
    expect(pod?.metadata?.finalizers).toBeUndefined();
  });

  it('writes Complete directly, with its completionTime', async () => {
    const { finished } = await runJob('legacy-ok', job('fine'));
    expect(finished.object.status?.conditions?.map((c) => [c.type, c.reason])).toEqual([
      ['Complete', 'CompletionsReached'],
    ]);
    expect(finished.object.status?.completionTime).toBe(
      finished.object.status?.conditions?.[0]?.lastTransitionTime,
    );
  });

  it('still writes FailureTarget first for a podFailurePolicy FailJob match', async () => {
    const { finished } = await runJob(
      'legacy-pfp',
      job('exit42-a', {
        podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [42] } }] },
      }),
    );
    expect(finished.object.status?.conditions?.map((c) => [c.type, c.reason])).toEqual([
      ['FailureTarget', 'PodFailurePolicy'],
      ['Failed', 'PodFailurePolicy'],
    ]);
  });
});

describe('1.31 condition order', () => {
  it('writes FailureTarget, then Failed once the pods are gone from the Job’s count', async () => {
    await putSettings({ jobConditions: '1.31' });
    const { jobs, pods, finished } = await runJob('current', job('evict-c'));
    expect(trueTypes(finished.object)).toEqual(['FailureTarget', 'Failed']);
    const target = jobs.find((e) => trueTypes(e.object).includes('FailureTarget'))!;
    expect(rv(target)).toBeLessThan(rv(finished));
    expect(pods.some((e) => e.type === 'DELETED')).toBe(false);
  });
});

describe('pod GC of terminated pods', () => {
  it('force-deletes terminated pods already there when turned on', async () => {
    await putSettings({});
    await core.createNamespace({ body: { metadata: { name: 'gc' } } });
    await core.createNamespacedPod({
      namespace: 'gc',
      body: {
        metadata: { name: 'done' },
        spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
      },
    });
    await waitFor('the pod to succeed', async () => {
      const pod = await core.readNamespacedPod({ namespace: 'gc', name: 'done' });
      return pod.status?.phase === 'Succeeded';
    });
    await putSettings({ podGC: { terminated: 'immediate' } });
    await waitFor(
      'the pod to be gone',
      async () => (await core.listNamespacedPod({ namespace: 'gc' })).items.length === 0,
    );
  });
});
