import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { DEV_RULES } from '../../src/dev/sim-cluster/controllers/index.js';
import type { Pod } from '../../src/dev/sim-cluster/controllers/kube-types.js';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import {
  conditionTypes,
  createJob,
  eventsOf,
  getJob,
  podsOf,
  startHarness,
  waitFor,
  type Harness,
} from '../support/sim-controllers-harness.js';

describe('kjl dev scenarios (store and controllers)', () => {
  let harness: Harness;
  afterEach(() => harness.stop());

  /** One build Job per parser id, as `kjl dev` runs them: no retries, a deadline for builds that never start. */
  function build(parserId: string) {
    return createJob(harness.store, `build-${parserId}`, {
      backoffLimit: 0,
      activeDeadlineSeconds: 120,
      labels: { 'kjl.dev/parser-id': parserId },
      containers: [{ name: 'kaniko', image: 'gcr.io/kaniko-project/executor:v1.23.0' }],
    });
  }

  const outcome = (job: { metadata: { name?: string } }) => () => {
    const current = getJob(harness.store, job.metadata.name!);
    const final = current?.status?.conditions?.find((c) => ['Complete', 'Failed'].includes(c.type));
    return final && `${final.type}/${final.reason}`;
  };

  /** How the build's pod ended, as an outcome classifier reads it. */
  const podCause = (job: { metadata: { uid?: string } }) => {
    const pods = harness.changes.filter((c) => c.resource === 'pods').map((c) => c.object as Pod);
    const last = pods.filter((p) => p.metadata.ownerReferences?.[0]?.uid === job.metadata.uid);
    return last.map((p) => {
      const status = p.status?.containerStatuses?.[0]?.state;
      return p.status?.reason ?? status?.terminated?.reason ?? status?.waiting?.reason;
    });
  };

  it('runs every DEV_RULES scenario to the outcome a user expects', async () => {
    harness = startHarness({ rules: DEV_RULES, timeScale: 200 });
    const jobs = Object.fromEntries(
      ['csv', 'invalid-1', 'oom-1', 'evict-1', 'pull-1'].map((id) => [id, build(id)]),
    );

    expect(await waitFor(outcome(jobs.csv!), 10_000)).toBe('Complete/CompletionsReached');
    expect(await waitFor(outcome(jobs['invalid-1']!), 10_000)).toBe('Failed/BackoffLimitExceeded');
    expect(await waitFor(outcome(jobs['oom-1']!), 10_000)).toBe('Failed/BackoffLimitExceeded');
    expect(await waitFor(outcome(jobs['evict-1']!), 10_000)).toBe('Failed/BackoffLimitExceeded');
    expect(await waitFor(outcome(jobs['pull-1']!), 10_000)).toBe('Failed/DeadlineExceeded');

    expect(podCause(jobs['invalid-1']!)).toContain('Error');
    expect(podCause(jobs['oom-1']!)).toContain('OOMKilled');
    expect(podCause(jobs['evict-1']!)).toContain('Evicted');
    expect(podCause(jobs['pull-1']!)).toContain('ImagePullBackOff');

    const [failedPod] = podsOf(harness.store, jobs['invalid-1']!);
    const log = harness.controllers.logs.read('default', failedPod!.metadata.name!, undefined, {});
    expect(log.finished).toBe(true);
    expect(log.lines[0]!.text).toMatch(/^INFO\[0000\] Retrieving image manifest/);
    expect(log.lines.at(-1)!.text).toMatch(/^error building image: /);

    const [succeededPod] = podsOf(harness.store, jobs.csv!);
    expect(
      harness.controllers.logs.read('default', succeededPod!.metadata.name!, 'kaniko', {}).lines.at(-1)?.text,
    ).toMatch(/^INFO\[\d+\] Pushed /);
    expect(eventsOf(harness.store, jobs['pull-1']!).map((e) => e.reason)).toEqual([
      'SuccessfulCreate',
      'SuccessfulDelete',
      'DeadlineExceeded',
    ]);
  });

  it('runs 11 builds on a node with room for 10, the 11th once one finishes', async () => {
    harness = startHarness({ rules: [{ action: 'succeed', seconds: 20 }], capacity: { maxRunningPods: 10 } });
    const jobs = Array.from({ length: 11 }, (_, i) => createJob(harness.store, `build-${i}`));
    const waiting = await waitFor(() => {
      const pending = jobs.flatMap((job) => podsOf(harness.store, job)).filter((p) => !p.spec.nodeName);
      return (
        pending.length === 1 && pending[0]!.status?.conditions?.[0]?.reason === 'Unschedulable' && pending[0]
      );
    });
    expect(waiting.metadata.name).toMatch(/^build-10-/);
    for (const job of jobs)
      await waitFor(() => conditionTypes(getJob(harness.store, job.metadata.name!)).includes('Complete'));
  });
});

describe('over HTTP with @kubernetes/client-node', () => {
  let cluster: SimCluster;
  afterEach(() => cluster.stop());

  it('runs a Job, serves its pod log, and deletes it in the foreground with the Job last', async () => {
    cluster = await startSimCluster({
      timeScale: 100,
      rules: [
        { action: 'succeed', seconds: 2, logs: [{ after: 1, text: 'hello from the simulated kubelet' }] },
      ],
    });
    const config = new KubeConfig();
    config.loadFromString(cluster.kubeconfig);
    const batch = config.makeApiClient(BatchV1Api);
    const core = config.makeApiClient(CoreV1Api);
    const manifest: V1Job = {
      metadata: { name: 'hello' },
      spec: {
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
      },
    };
    await batch.createNamespacedJob({ namespace: 'default', body: manifest });

    const done = await waitFor(async () => {
      const job = await batch.readNamespacedJob({ namespace: 'default', name: 'hello' });
      return job.status?.conditions?.some((c) => c.type === 'Complete') ? job : undefined;
    }, 10_000);
    expect(done?.status?.succeeded).toBe(1);
    expect(done?.status?.conditions?.map((c) => c.type)).toEqual(['SuccessCriteriaMet', 'Complete']);

    const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'job-name=hello' });
    const podName = pods.items[0]!.metadata!.name!;
    expect(pods.items[0]!.status?.containerStatuses?.[0]?.state?.terminated?.reason).toBe('Completed');
    const log = await core.readNamespacedPodLog({ namespace: 'default', name: podName });
    expect(log).toBe('hello from the simulated kubelet\n');

    const deletions: string[] = [];
    cluster.store.on('change', (change) => {
      if (change.type === 'DELETED') deletions.push(change.resource);
    });
    await batch.deleteNamespacedJob({ namespace: 'default', name: 'hello', propagationPolicy: 'Foreground' });
    await waitFor(() => deletions.includes('jobs'), 10_000);
    expect(deletions).toEqual(['pods', 'jobs']);
  });
});
