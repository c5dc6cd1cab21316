import { afterEach, describe, expect, it } from 'vitest';
import { requestDeletion } from '../../src/dev/sim-cluster/deletion.js';
import type { KubeletRule } from '../../src/dev/sim-cluster/controllers/index.js';
import type { Pod } from '../../src/dev/sim-cluster/controllers/kube-types.js';
import { StatusError } from '../../src/dev/sim-cluster/status.js';
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

let harness: Harness;
afterEach(() => harness.stop());

function start(rules: KubeletRule[], options: Parameters<typeof startHarness>[0] = {}): Harness {
  harness = startHarness({ ...options, rules });
  return harness;
}

const finished = (name: string) => () => {
  const job = getJob(harness.store, name);
  const types = conditionTypes(job);
  return (types.includes('Complete') || types.includes('Failed')) && job;
};

describe('job controller', () => {
  it('runs a Job to completion: SuccessCriteriaMet, then Complete with completionTime, and Events', async () => {
    const { store } = start([{ action: 'succeed', seconds: 2 }]);
    const created = createJob(store, 'pi');
    const running = await waitFor(() => getJob(store, 'pi')?.status?.active === 1 && getJob(store, 'pi'));
    expect(running.status).toMatchObject({ active: 1, terminating: 0, uncountedTerminatedPods: {} });
    expect(running.status?.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const job = await waitFor(finished('pi'));
    const conditions = job.status!.conditions!;
    expect(conditions.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods'],
      ['Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods'],
    ]);
    expect(job.status?.completionTime).toBe(conditions[1]!.lastTransitionTime);
    expect(job.status).toMatchObject({ succeeded: 1, ready: 0, terminating: 0 });
    expect(job.status?.active).toBeUndefined();
    expect(job.status?.failed).toBeUndefined();

    const [pod] = podsOf(store, created);
    expect(pod!.metadata.generateName).toBe('pi-');
    expect(pod!.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        name: 'pi',
        uid: created.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(pod!.metadata.labels).toMatchObject({
      'job-name': 'pi',
      'batch.kubernetes.io/controller-uid': created.metadata.uid,
    });
    // the pod was counted: its tracking finalizer is gone
    expect(pod!.metadata.finalizers).toBeUndefined();
    expect(eventsOf(store, created)).toEqual([
      { type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${pod!.metadata.name}` },
      { type: 'Normal', reason: 'Completed', message: 'Job completed' },
    ]);

    const event = store.list('events').items[0]!;
    expect(event.metadata.name).toMatch(/^pi\.[0-9a-f]+$/);
    expect(event).toMatchObject({
      source: { component: 'job-controller' },
      reportingComponent: 'job-controller',
      count: 1,
      involvedObject: {
        kind: 'Job',
        apiVersion: 'batch/v1',
        name: 'pi',
        namespace: 'default',
        uid: created.metadata.uid,
      },
    });
  });

  it('fails a restartPolicy Never Job after backoffLimit + 1 failed pods: FailureTarget, then Failed', async () => {
    const { store } = start([{ action: 'fail', exitCode: 2, seconds: 1 }]);
    const created = createJob(store, 'bad', { backoffLimit: 1 });
    const job = await waitFor(finished('bad'), 10_000);
    expect(job.status!.conditions!.map((c) => [c.type, c.reason, c.message])).toEqual([
      ['FailureTarget', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
      ['Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
    ]);
    expect(job.status).toMatchObject({ failed: 2, terminating: 0 });
    expect(job.status?.completionTime).toBeUndefined();
    expect(podsOf(store, created).map((p) => p.status?.phase)).toEqual(['Failed', 'Failed']);
    expect(eventsOf(store, created).at(-1)).toEqual({
      type: 'Warning',
      reason: 'BackoffLimitExceeded',
      message: 'Job has reached the specified backoff limit',
    });
  });

  it('fails a restartPolicy OnFailure Job when its container restarts reach backoffLimit, deleting the pod', async () => {
    const { store } = start([{ action: 'fail', seconds: 1 }]);
    const created = createJob(store, 'crashy', { backoffLimit: 2, restartPolicy: 'OnFailure' });
    const restarting = await waitFor(() => {
      const pod = podsOf(store, created)[0];
      return pod?.status?.containerStatuses?.[0]?.restartCount === 1 && pod;
    });
    expect(restarting.status?.phase).toBe('Running');

    const job = await waitFor(finished('crashy'), 10_000);
    expect(conditionTypes(job)).toEqual(['FailureTarget', 'Failed']);
    expect(job.status?.conditions?.[1]?.reason).toBe('BackoffLimitExceeded');
    // one pod only: the container restarted in place, and the failing Job deleted it
    await waitFor(() => podsOf(store, created).length === 0);
    expect(store.list('pods').items).toHaveLength(0);
    expect(eventsOf(store, created).map((e) => e.reason)).toEqual([
      'SuccessfulCreate',
      'SuccessfulDelete',
      'BackoffLimitExceeded',
    ]);
  });

  it('delays replacement pods by 10 s, then 20 s, after each failure', async () => {
    const { store, clock } = start([{ action: 'fail', seconds: 1 }], { timeScale: 100 });
    const failedAt: number[] = [];
    const createdAt: number[] = [];
    store.on('change', (change) => {
      const pod = change.object as Pod;
      if (change.resource !== 'pods') return;
      if (change.type === 'ADDED') createdAt.push(clock.now());
      const exit = pod.status?.containerStatuses?.[0]?.state.terminated;
      if (exit && failedAt.length < createdAt.length) failedAt.push(clock.now());
    });
    createJob(store, 'retry', { backoffLimit: 2 });
    await waitFor(finished('retry'), 10_000);
    expect(createdAt).toHaveLength(3);
    const gaps = [createdAt[1]! - failedAt[0]!, createdAt[2]! - failedAt[1]!];
    // finish times are whole seconds, so a replacement may come up to a second early
    expect(gaps[0]).toBeGreaterThanOrEqual(9_000);
    expect(gaps[0]).toBeLessThan(18_000);
    expect(gaps[1]).toBeGreaterThanOrEqual(19_000);
    expect(gaps[1]).toBeLessThan(35_000);
  });

  it('fails a Job that runs past activeDeadlineSeconds with DeadlineExceeded', async () => {
    const { store } = start([{ action: 'hang' }]);
    const created = createJob(store, 'slow', { activeDeadlineSeconds: 5 });
    const target = await waitFor(
      () => conditionTypes(getJob(store, 'slow')).includes('FailureTarget') && getJob(store, 'slow'),
    );
    expect(conditionTypes(target)).toEqual(['FailureTarget']);
    // the hanging container ignores SIGTERM: the Job waits for it to be killed after the grace period
    expect(target.status?.terminating).toBe(1);
    const job = await waitFor(finished('slow'), 10_000);
    expect(job.status!.conditions!.map((c) => [c.type, c.reason, c.message])).toEqual([
      ['FailureTarget', 'DeadlineExceeded', 'Job was active longer than specified deadline'],
      ['Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline'],
    ]);
    expect(job.status).toMatchObject({ failed: 1, terminating: 0 });
    expect(eventsOf(store, created).map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'SuccessfulCreate'],
      ['Normal', 'SuccessfulDelete'],
      ['Warning', 'DeadlineExceeded'],
    ]);
  });

  it('fails a Job at once on a podFailurePolicy FailJob exit code', async () => {
    const { store } = start([{ action: 'fail', exitCode: 42, seconds: 1 }]);
    createJob(store, 'policy', {
      backoffLimit: 6,
      podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [42] } }] },
    });
    const job = await waitFor(finished('policy'));
    const pod = podsOf(store, job)[0]!;
    const message = `Container main for pod default/${pod.metadata.name} failed with exit code 42 matching FailJob rule at index 0`;
    expect(job.status!.conditions!.map((c) => [c.type, c.reason, c.message])).toEqual([
      ['FailureTarget', 'PodFailurePolicy', message],
      ['Failed', 'PodFailurePolicy', message],
    ]);
    expect(job.status?.failed).toBe(1);
    expect(eventsOf(store, job).at(-1)).toEqual({ type: 'Warning', reason: 'PodFailurePolicy', message });
  });

  it('does not count an evicted pod against backoffLimit with an Ignore rule on DisruptionTarget', async () => {
    const { store, controllers } = start([{ action: 'evict', seconds: 1 }]);
    createJob(store, 'evicted', {
      backoffLimit: 0,
      podFailurePolicy: {
        rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }],
      },
    });
    await waitFor(() => podsOf(store, getJob(store, 'evicted')!).some((p) => p.status?.phase === 'Failed'));
    controllers.setRules([{ action: 'succeed', seconds: 1 }]);
    const job = await waitFor(finished('evicted'), 10_000);
    expect(conditionTypes(job)).toEqual(['SuccessCriteriaMet', 'Complete']);
    expect(job.status?.failed).toBeUndefined();
    expect(job.status?.succeeded).toBe(1);
    expect(podsOf(store, job).map((p) => p.status?.reason ?? p.status?.phase)).toEqual(
      expect.arrayContaining(['Evicted', 'Succeeded']),
    );
  });

  it('suspends (deleting active pods) and resumes (new startTime) a Job', async () => {
    const { store, clock } = start([{ action: 'hang' }]);
    createJob(store, 'paused', { suspend: true });
    const suspended = await waitFor(
      () => conditionTypes(getJob(store, 'paused')).includes('Suspended') && getJob(store, 'paused'),
    );
    expect(suspended.status?.conditions?.[0]).toMatchObject({
      type: 'Suspended',
      status: 'True',
      reason: 'JobSuspended',
      message: 'Job suspended',
    });
    expect(suspended.status?.startTime).toBeUndefined();
    expect(podsOf(store, suspended)).toHaveLength(0);

    store.mutate('jobs', 'default', 'paused', (job) => {
      (job.spec as { suspend: boolean }).suspend = false;
    });
    const resumed = await waitFor(
      () => getJob(store, 'paused')?.status?.active === 1 && getJob(store, 'paused'),
    );
    expect(resumed.status?.conditions?.[0]).toMatchObject({
      type: 'Suspended',
      status: 'False',
      reason: 'JobResumed',
      message: 'Job resumed',
    });
    const firstStart = Date.parse(resumed.status!.startTime!);

    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = clock.now();
    store.mutate('jobs', 'default', 'paused', (job) => {
      (job.spec as { suspend: boolean }).suspend = true;
    });
    const again = await waitFor(() => {
      const job = getJob(store, 'paused');
      return job?.status?.active === undefined && conditionTypes(job).includes('Suspended') && job;
    });
    expect(podsOf(store, again).every((p) => p.metadata.deletionTimestamp)).toBe(true);
    store.mutate('jobs', 'default', 'paused', (job) => {
      (job.spec as { suspend: boolean }).suspend = false;
    });
    const third = await waitFor(() => {
      const job = getJob(store, 'paused');
      return job?.status?.active === 1 && !conditionTypes(job).includes('Suspended') && job;
    });
    expect(Date.parse(third.status!.startTime!)).toBeGreaterThan(firstStart);
    expect(Date.parse(third.status!.startTime!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    // a repeated Event bumps the count of the first one (client-go's event correlator)
    expect(eventsOf(store, third).map((e) => e.reason)).toEqual([
      'Suspended',
      'SuccessfulCreate',
      'Resumed',
      'SuccessfulDelete',
      'SuccessfulCreate',
    ]);
    const counts = store.list('events').items.map((e) => [e.reason, e.count]);
    expect(counts).toEqual(
      expect.arrayContaining([
        ['Suspended', 2],
        ['Resumed', 2],
      ]),
    );
  });

  it('runs an Indexed Job: one pod per index, with the index label, annotation, env and hostname', async () => {
    const { store } = start([{ action: 'succeed', seconds: 1 }]);
    createJob(store, 'idx', { completions: 3, parallelism: 2, completionMode: 'Indexed' });
    const job = await waitFor(finished('idx'));
    expect(job.status).toMatchObject({ succeeded: 3, completedIndexes: '0-2' });
    const pods = podsOf(store, job);
    const indexes = pods
      .map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'])
      .sort();
    expect(indexes).toEqual(['0', '1', '2']);
    for (const pod of pods) {
      const index = pod.metadata.labels?.['batch.kubernetes.io/job-completion-index'];
      expect(pod.metadata.name).toMatch(new RegExp(`^idx-${index}-`));
      expect(pod.spec.hostname).toBe(`idx-${index}`);
      expect(pod.spec.containers[0]!.env).toContainEqual({
        name: 'JOB_COMPLETION_INDEX',
        valueFrom: {
          fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
        },
      });
    }
  });
});

describe('TTL after finished', () => {
  it('deletes a finished Job and its pods once ttlSecondsAfterFinished has passed', async () => {
    const { store, changes } = start([{ action: 'succeed', seconds: 1 }]);
    const created = createJob(store, 'short-lived', { ttlSecondsAfterFinished: 5 });
    await waitFor(finished('short-lived'));
    await waitFor(() => !getJob(store, 'short-lived'));
    expect(store.list('pods').items).toHaveLength(0);
    const deleting = changes.find((c) => c.resource === 'jobs' && c.object.metadata.deletionTimestamp);
    expect(deleting?.object.metadata.finalizers).toEqual(['foregroundDeletion']);
    const lastJobChange = changes.filter((c) => c.resource === 'jobs').at(-1)!;
    expect(lastJobChange.type).toBe('DELETED');
    const podGone = changes.findLastIndex((c) => c.resource === 'pods' && c.type === 'DELETED');
    expect(podGone).toBeLessThan(changes.indexOf(lastJobChange));
    expect(lastJobChange.object.metadata.uid).toBe(created.metadata.uid);
  });
});

describe('requestDeletion', () => {
  async function runningJob(name: string) {
    const job = createJob(harness.store, name, { parallelism: 2, completions: 2 });
    await waitFor(() => podsOf(harness.store, job).filter((p) => p.status?.phase === 'Running').length === 2);
    return job;
  }

  it('Background: the Job goes at once, its pods are deleted afterwards', async () => {
    const { store, clock } = start([{ action: 'hang' }]);
    const job = await runningJob('bg');
    const result = requestDeletion(store, clock, 'jobs', 'default', 'bg', {
      propagationPolicy: 'Background',
    });
    expect(result.removed).toBe(true);
    expect(getJob(store, 'bg')).toBeUndefined();
    const terminating = await waitFor(
      () => podsOf(store, job).every((p) => p.metadata.deletionTimestamp) && podsOf(store, job),
    );
    expect(terminating.every((p) => p.metadata.deletionGracePeriodSeconds === 30)).toBe(true);
    await waitFor(() => podsOf(store, job).length === 0, 10_000);
  });

  it('Orphan: pods keep running without ownerReferences or the tracking finalizer', async () => {
    const { store, clock } = start([{ action: 'hang' }]);
    const job = await runningJob('orphan');
    expect(
      requestDeletion(store, clock, 'jobs', 'default', 'orphan', { propagationPolicy: 'Orphan' }).removed,
    ).toBe(true);
    const pods = await waitFor(() => {
      const left = podsOf(store, job);
      return left.every((p) => !p.metadata.finalizers) && left;
    });
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.metadata.ownerReferences).toBeUndefined();
      expect(pod.metadata.deletionTimestamp).toBeUndefined();
      expect(pod.status?.phase).toBe('Running');
    }
  });

  it('Foreground: the Job stays with foregroundDeletion until its pods are gone, then goes last', async () => {
    const { store, clock, changes } = start([{ action: 'hang' }]);
    const job = await runningJob('fg');
    const result = requestDeletion(store, clock, 'jobs', 'default', 'fg', {
      propagationPolicy: 'Foreground',
    });
    expect(result.removed).toBe(false);
    expect(result.object.metadata).toMatchObject({
      finalizers: ['foregroundDeletion'],
      deletionGracePeriodSeconds: 0,
    });
    expect(result.object.metadata.deletionTimestamp).toBeDefined();
    await waitFor(() => !getJob(store, 'fg'), 10_000);
    const deletions = changes.filter((c) => c.type === 'DELETED').map((c) => c.resource);
    expect(deletions).toEqual(['pods', 'pods', 'jobs']);
    expect(podsOf(store, job)).toHaveLength(0);
  });

  it('deletes a pod gracefully, and checks preconditions and existence', async () => {
    const { store, clock } = start([{ action: 'hang' }]);
    const job = await runningJob('pre');
    expect(() =>
      requestDeletion(store, clock, 'jobs', 'default', 'pre', { preconditions: { uid: 'not-the-uid' } }),
    ).toThrow(
      expect.objectContaining({
        code: 409,
        reason: 'Conflict',
        message: `Operation cannot be fulfilled on jobs.batch "pre": Precondition failed: UID in precondition: not-the-uid, UID in object meta: ${job.metadata.uid}`,
      }),
    );
    expect(() => requestDeletion(store, clock, 'jobs', 'default', 'nope', {})).toThrow(StatusError);

    const pod = podsOf(store, job)[0]!;
    const deleted = requestDeletion(store, clock, 'pods', 'default', pod.metadata.name!, {
      gracePeriodSeconds: 10,
    });
    expect(deleted.removed).toBe(false);
    expect(deleted.object.metadata.deletionGracePeriodSeconds).toBe(10);
    expect(Date.parse(deleted.object.metadata.deletionTimestamp!)).toBeGreaterThan(
      Date.parse(pod.metadata.creationTimestamp!),
    );
  });
});

describe('capacity', () => {
  it('keeps pods beyond maxRunningPods Unschedulable until room frees up', async () => {
    const { store, controllers } = start([{ action: 'succeed', seconds: 5 }], {
      capacity: { maxRunningPods: 1 },
    });
    const first = createJob(store, 'first');
    await waitFor(() => podsOf(store, first)[0]?.spec.nodeName);
    const second = createJob(store, 'second');
    const pending = await waitFor(() => {
      const pod = podsOf(store, second)[0];
      return pod?.status?.conditions?.some((c) => c.reason === 'Unschedulable') && pod;
    });
    expect(pending.status).toMatchObject({
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message:
            '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
        },
      ],
    });
    expect(pending.spec.nodeName).toBeUndefined();
    await waitFor(finished('first'));
    await waitFor(finished('second'));
    expect(podsOf(store, second)[0]?.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe(
      'True',
    );

    controllers.setCapacity({ cpu: '1' });
    const cpuJob = createJob(store, 'big', {
      containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '1500m' } } }],
    });
    const starved = await waitFor(() => podsOf(store, cpuJob)[0]?.status?.conditions?.[0]?.message);
    expect(starved).toMatch(/^0\/1 nodes are available: 1 Insufficient cpu\. /);
    controllers.setCapacity({ cpu: '2' });
    await waitFor(finished('big'));
  });
});
