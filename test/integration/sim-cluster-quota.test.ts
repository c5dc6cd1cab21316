import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import { failure } from '../support/api-failure.js';
import { waitFor } from '../support/wait.js';

let cluster: SimCluster;
let batch: BatchV1Api;
let core: CoreV1Api;

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

function pod(name: string, labels: Record<string, string>, extra: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: { ...(name.endsWith('-') ? { generateName: name } : { name }), labels, ...extra },
    spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
  };
}

/** A fresh namespace with one quota. */
async function namespaceWithQuota(namespace: string, quota: string, hard: Record<string, string>) {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedResourceQuota({
    namespace,
    body: { metadata: { name: quota }, spec: { hard } },
  });
}

const quotaStatus = async (namespace: string, name: string) =>
  (await core.readNamespacedResourceQuota({ namespace, name })).status;

async function eventsOf(namespace: string, name: string) {
  const list = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.kind=Job,involvedObject.name=${name}`,
  });
  return list.items;
}

beforeAll(async () => {
  cluster = await startSimCluster({
    timeScale: 20,
    rules: [
      { match: { labels: { hold: 'true' } }, action: 'hang' },
      { match: { labels: { stuck: 'true' } }, action: 'unschedulable' },
      { match: { labels: { 'job-name': 'slow-*' } }, action: 'succeed', seconds: 10 },
      { action: 'succeed', seconds: 1 },
    ],
  });
  const config = new KubeConfig();
  config.loadFromString(cluster.kubeconfig);
  batch = config.makeApiClient(BatchV1Api);
  core = config.makeApiClient(CoreV1Api);
});

afterAll(() => cluster.stop());

describe('ResourceQuota', () => {
  it('refuses a pod over `pods` with 403 Forbidden and keeps status.hard and status.used', async () => {
    await namespaceWithQuota('q-direct', 'pod-count', { pods: '1' });
    await core.createNamespacedPod({ namespace: 'q-direct', body: pod('a', { hold: 'true' }) });
    const { code, body } = await failure(
      core.createNamespacedPod({ namespace: 'q-direct', body: pod('b', { hold: 'true' }) }),
    );
    expect(code).toBe(403);
    expect(body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'pods "b" is forbidden: exceeded quota: pod-count, requested: pods=1, used: pods=1, limited: pods=1',
      reason: 'Forbidden',
      details: { name: 'b', kind: 'pods' },
      code: 403,
    });
    const generated = await failure(
      core.createNamespacedPod({ namespace: 'q-direct', body: pod('gen-', {}) }),
    );
    expect(generated.body.message).toMatch(
      /^pods "gen-[bcdfghjklmnpqrstvwxz2456789]{5}" is forbidden: exceeded quota/,
    );
    expect(
      await waitFor('the quota status', async () => {
        const status = await quotaStatus('q-direct', 'pod-count');
        return status?.used?.pods === '1' && status;
      }),
    ).toEqual({ hard: { pods: '1' }, used: { pods: '1' } });
  });

  it('stops charging a pod once it is terminal, or terminating past its grace period', async () => {
    await namespaceWithQuota('q-release', 'pod-count', { pods: '1' });
    // held by a finalizer, never scheduled: deleted with grace 0, it stays but is no longer charged
    await core.createNamespacedPod({
      namespace: 'q-release',
      body: pod('stuck', { stuck: 'true' }, { finalizers: ['kjl.dev/hold'] }),
    });
    await core.deleteNamespacedPod({ namespace: 'q-release', name: 'stuck' });
    expect(
      (await core.readNamespacedPod({ namespace: 'q-release', name: 'stuck' })).metadata?.deletionTimestamp,
    ).toBeDefined();
    await core.createNamespacedPod({ namespace: 'q-release', body: pod('quick', {}) });
    await waitFor('the pod to succeed', async () => {
      const quick = await core.readNamespacedPod({ namespace: 'q-release', name: 'quick' });
      return quick.status?.phase === 'Succeeded';
    });
    await core.createNamespacedPod({ namespace: 'q-release', body: pod('next', {}) });
    expect(
      (
        await failure(
          core.createNamespacedPod({ namespace: 'q-release', body: pod('over', { hold: 'true' }) }),
        )
      ).code,
    ).toBe(403);
  });

  it('refuses a Job over `count/jobs.batch`', async () => {
    await namespaceWithQuota('q-jobs', 'jobs', { 'count/jobs.batch': '1' });
    await batch.createNamespacedJob({ namespace: 'q-jobs', body: job('first') });
    const { code, body } = await failure(
      batch.createNamespacedJob({ namespace: 'q-jobs', body: job('second') }),
    );
    expect(code).toBe(403);
    expect(body).toMatchObject({
      message:
        'jobs.batch "second" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=1, limited: count/jobs.batch=1',
      reason: 'Forbidden',
      details: { name: 'second', group: 'batch', kind: 'jobs' },
    });
  });

  it('validates the limits it counts', async () => {
    const { code, body } = await failure(
      core.createNamespacedResourceQuota({
        namespace: 'default',
        body: { metadata: { name: 'bad' }, spec: { hard: { pods: 'many' } } },
      }),
    );
    expect(code).toBe(422);
    expect(body.message).toBe(
      'ResourceQuota "bad" is invalid: spec.hard[pods]: Invalid value: "many": must be a non-negative integer',
    );
  });
});

describe('the Job controller over quota', () => {
  it('records FailedCreate, counts no failure, sets no condition, retries, and creates the pod once quota frees', async () => {
    await namespaceWithQuota('q-jobctl', 'build-quota', { pods: '1' });
    await batch.createNamespacedJob({ namespace: 'q-jobctl', body: job('slow-first') });
    await waitFor(
      'the first pod',
      async () =>
        (await batch.readNamespacedJob({ namespace: 'q-jobctl', name: 'slow-first' })).status?.active === 1,
    );
    await batch.createNamespacedJob({ namespace: 'q-jobctl', body: job('second') });

    // each retry names a new pod, so each refusal is an Event of its own
    const refusals = await waitFor('a retried FailedCreate', async () => {
      const failed = (await eventsOf('q-jobctl', 'second')).filter((e) => e.reason === 'FailedCreate');
      return failed.length >= 2 ? failed : undefined;
    });
    const [refused] = refusals;
    expect(refused!.type).toBe('Warning');
    expect(refused!.message).toMatch(
      /^Error creating: pods "second-[bcdfghjklmnpqrstvwxz2456789]{5}" is forbidden: exceeded quota: build-quota, requested: pods=1, used: pods=1, limited: pods=1$/,
    );
    const waiting = await batch.readNamespacedJob({ namespace: 'q-jobctl', name: 'second' });
    expect(waiting.status?.active ?? 0).toBe(0);
    expect(waiting.status?.failed).toBeUndefined();
    expect(waiting.status?.conditions).toBeUndefined();
    expect(waiting.status?.startTime).toBeDefined();
    expect(
      (await core.listNamespacedPod({ namespace: 'q-jobctl', labelSelector: 'job-name=second' })).items,
    ).toEqual([]);

    const done = await waitFor(
      'the second Job to complete',
      async () => {
        const current = await batch.readNamespacedJob({ namespace: 'q-jobctl', name: 'second' });
        return current.status?.conditions?.some((c) => c.type === 'Complete') ? current : undefined;
      },
      20_000,
    );
    expect(done.status?.succeeded).toBe(1);
    expect(done.status?.failed).toBeUndefined();
    expect(done.status?.conditions?.map((c) => c.type)).toEqual(['SuccessCriteriaMet', 'Complete']);
    const reasons = (await eventsOf('q-jobctl', 'second')).map((e) => e.reason);
    expect(reasons).toContain('SuccessfulCreate');
    // retried with back-off (1 s, 2 s, 4 s, … simulated) while the first Job ran its 10 s, not in a loop
    expect(reasons.filter((r) => r === 'FailedCreate').length).toBeLessThan(8);
  });

  it('still fails a Job held back by quota at its activeDeadlineSeconds', async () => {
    await namespaceWithQuota('q-deadline', 'none', { pods: '0' });
    await batch.createNamespacedJob({
      namespace: 'q-deadline',
      body: job('late', { activeDeadlineSeconds: 5 }),
    });
    const failed = await waitFor('the deadline', async () => {
      const current = await batch.readNamespacedJob({ namespace: 'q-deadline', name: 'late' });
      return current.status?.conditions?.find((c) => c.type === 'Failed');
    });
    expect(failed.reason).toBe('DeadlineExceeded');
    expect((await eventsOf('q-deadline', 'late')).map((e) => e.reason)).toContain('FailedCreate');
  });
});
