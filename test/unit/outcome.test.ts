import type {
  CoreV1Event,
  V1ContainerStatus,
  V1Job,
  V1JobCondition,
  V1Pod,
  V1PodCondition,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FAILURE_REASONS, isRetryable, type FailureReason } from '../../src/failure-reasons.js';
import { classifyJob } from '../../src/k8s/outcome.js';
import { podCreationFailure } from '../../src/k8s/pod-creation.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const OPTIONS = { startTimeoutSeconds: 600 };
const JOB_UID = '0b7a8a3e-5c1f-4c55-9b53-2f4e0f1d9a11';

function job(conditions: V1JobCondition[] = [], extra: Partial<V1Job> = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: 'build-acme-invoice-01234567',
      namespace: 'builds',
      uid: JOB_UID,
      creationTimestamp: at(0),
    },
    spec: { backoffLimit: 0, template: { spec: { containers: [{ name: 'kaniko', image: 'kaniko' }] } } },
    status: { startTime: at(0), conditions, ...(conditions.length === 0 ? { active: 1 } : {}) },
    ...extra,
  };
}

const condition = (type: string, reason: string, message: string, seconds = 120): V1JobCondition => ({
  type,
  status: 'True',
  reason,
  message,
  lastProbeTime: at(seconds),
  lastTransitionTime: at(seconds),
});
const failureTarget = (reason: string, message: string) => condition('FailureTarget', reason, message);
const failedCondition = (reason: string, message: string) => condition('Failed', reason, message);
const BACKOFF = 'Job has reached the specified backoff limit';

function terminated(name: string, exitCode: number, reason: string, message?: string): V1ContainerStatus {
  return {
    name,
    image: 'img',
    imageID: 'img@sha256:0',
    ready: false,
    restartCount: 0,
    state: {
      terminated: {
        exitCode,
        reason,
        ...(message ? { message } : {}),
        startedAt: at(5),
        finishedAt: at(100),
        containerID: 'containerd://abc',
      },
    },
  };
}

function waiting(name: string, reason: string, message?: string): V1ContainerStatus {
  return {
    name,
    image: 'img',
    imageID: '',
    ready: false,
    restartCount: 0,
    state: { waiting: { reason, ...(message ? { message } : {}) } },
  };
}

function pod(
  name: string,
  status: V1Pod['status'],
  extra: { created?: number; sidecar?: boolean; ownerUid?: string; deleting?: boolean } = {},
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'builds',
      creationTimestamp: at(extra.created ?? 1),
      labels: { 'batch.kubernetes.io/controller-uid': extra.ownerUid ?? JOB_UID },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name: 'build-acme-invoice-01234567',
          uid: extra.ownerUid ?? JOB_UID,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      ...(extra.deleting ? { deletionTimestamp: at(200) } : {}),
    },
    spec: {
      containers: [{ name: 'kaniko', image: 'kaniko' }],
      ...(extra.sidecar
        ? { initContainers: [{ name: 'monitor', image: 'busybox', restartPolicy: 'Always' }] }
        : {}),
    },
    status,
  };
}

const disruption = (reason: string, message: string): V1PodCondition => ({
  type: 'DisruptionTarget',
  status: 'True',
  reason,
  message,
  lastTransitionTime: at(60),
});

const failedPod = (
  containers: V1ContainerStatus[],
  more: Partial<NonNullable<V1Pod['status']>> = {},
  name = 'build-acme-invoice-01234567-x7k2p',
) => pod(name, { phase: 'Failed', containerStatuses: containers, ...more });

const both = (reason: string, message: string) => [
  { order: 'pre-1.31 (Failed only)', conditions: [failedCondition(reason, message)] },
  {
    order: '1.31+ (FailureTarget then Failed)',
    conditions: [failureTarget(reason, message), failedCondition(reason, message)],
  },
  { order: '1.31+ (FailureTarget only so far)', conditions: [failureTarget(reason, message)] },
];

describe('classifyJob: success', () => {
  const succeededPod = pod('p-ok', {
    phase: 'Succeeded',
    containerStatuses: [terminated('kaniko', 0, 'Completed')],
  });
  it.each([
    ['pre-1.31 (Complete only)', [condition('Complete', '', '')]],
    [
      '1.31+ (SuccessCriteriaMet then Complete)',
      [
        condition('SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods'),
        condition('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods'),
      ],
    ],
    ['1.31+ (SuccessCriteriaMet only so far)', [condition('SuccessCriteriaMet', 'CompletionsReached', '')]],
  ])('is succeeded with %s', (_order, conditions) => {
    expect(classifyJob(job(conditions), [succeededPod], T0, OPTIONS)).toEqual({
      state: 'succeeded',
      podName: 'p-ok',
    });
  });

  it('ignores conditions that are not True', () => {
    const notYet = { ...condition('Complete', '', ''), status: 'False' };
    expect(classifyJob(job([notYet]), [], T0, OPTIONS).state).toBe('pending');
  });

  it('stays succeeded when a container reports OOMKilled with exit 0 in a complete Job', () => {
    const odd = pod('p', { phase: 'Succeeded', containerStatuses: [terminated('kaniko', 0, 'OOMKilled')] });
    expect(classifyJob(job([condition('Complete', '', '')]), [odd], T0, OPTIONS).state).toBe('succeeded');
  });
});

describe('classifyJob: failure causes', () => {
  describe.each(both('BackoffLimitExceeded', BACKOFF))('$order', ({ conditions }) => {
    it('reads OOMKilled from the container', () => {
      const outcome = classifyJob(
        job(conditions),
        [failedPod([terminated('kaniko', 137, 'OOMKilled')])],
        T0,
        OPTIONS,
      );
      expect(outcome).toEqual({
        state: 'failed',
        reason: 'OOMKilled',
        retryable: false,
        message: 'OOMKilled (exit 137) in container kaniko',
        exitCode: 137,
        podName: 'build-acme-invoice-01234567-x7k2p',
        container: 'kaniko',
      });
    });

    it('reads a non-zero exit code as Error', () => {
      const outcome = classifyJob(
        job(conditions),
        [failedPod([terminated('kaniko', 1, 'Error')])],
        T0,
        OPTIONS,
      );
      expect(outcome).toEqual({
        state: 'failed',
        reason: 'Error',
        retryable: false,
        message: 'container kaniko exited with code 1',
        exitCode: 1,
        podName: 'build-acme-invoice-01234567-x7k2p',
        container: 'kaniko',
      });
    });

    it('reads an eviction (pod reason Evicted, DisruptionTarget TerminationByKubelet) as retryable', () => {
      const evicted = failedPod([terminated('kaniko', 137, 'Error')], {
        reason: 'Evicted',
        message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.',
        conditions: [disruption('TerminationByKubelet', 'The node was low on resource: memory.')],
      });
      expect(classifyJob(job(conditions), [evicted], T0, OPTIONS)).toMatchObject({
        state: 'failed',
        reason: 'Evicted',
        retryable: true,
        message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.',
      });
    });

    it('falls back to BackoffLimitExceeded with no pod to read', () => {
      expect(classifyJob(job(conditions), [], T0, OPTIONS)).toEqual({
        state: 'failed',
        reason: 'BackoffLimitExceeded',
        retryable: false,
        message: BACKOFF,
      });
    });
  });

  it('treats OOMKilled with exit 0 in a failed Job as OOMKilled', () => {
    const odd = pod('p', { phase: 'Succeeded', containerStatuses: [terminated('kaniko', 0, 'OOMKilled')] });
    expect(
      classifyJob(job([failedCondition('BackoffLimitExceeded', BACKOFF)]), [odd], T0, OPTIONS),
    ).toMatchObject({
      reason: 'OOMKilled',
      exitCode: 0,
      message: 'OOMKilled (exit 0) in container kaniko',
    });
  });

  it('reads eviction through the Eviction API', () => {
    const evicted = failedPod([terminated('kaniko', 143, 'Error')], {
      conditions: [disruption('EvictionByEvictionAPI', 'Eviction API: evicting')],
    });
    expect(
      classifyJob(job([failedCondition('BackoffLimitExceeded', BACKOFF)]), [evicted], T0, OPTIONS),
    ).toMatchObject({
      reason: 'Evicted',
      retryable: true,
      message: 'Eviction API: evicting',
    });
  });

  it('reads preemption', () => {
    const preempted = failedPod([terminated('kaniko', 137, 'Error')], {
      conditions: [
        disruption(
          'PreemptionByScheduler',
          'Kubernetes default scheduler: preempting to accommodate a higher priority pod',
        ),
      ],
    });
    expect(
      classifyJob(job([failedCondition('BackoffLimitExceeded', BACKOFF)]), [preempted], T0, OPTIONS),
    ).toMatchObject({
      state: 'failed',
      reason: 'Preempted',
      retryable: true,
      message: 'Kubernetes default scheduler: preempting to accommodate a higher priority pod',
    });
  });

  it.each(['DeletionByTaintManager', 'DeletionByPodGC'])('reads %s as a lost node', (reason) => {
    const lost = failedPod([], { conditions: [disruption(reason, 'node gone')] });
    expect(
      classifyJob(job([failedCondition('BackoffLimitExceeded', BACKOFF)]), [lost], T0, OPTIONS),
    ).toMatchObject({
      reason: 'NodeLost',
      retryable: true,
      message: 'node gone',
    });
  });

  it.each(both('DeadlineExceeded', 'Job was active longer than specified deadline'))(
    'reads DeadlineExceeded from the Job, before the exit code of the killed container ($order)',
    ({ conditions }) => {
      const killed = failedPod([terminated('kaniko', 137, 'Error')]);
      expect(classifyJob(job(conditions), [killed], T0, OPTIONS)).toEqual({
        state: 'failed',
        reason: 'DeadlineExceeded',
        retryable: false,
        message: 'Job was active longer than specified deadline',
      });
    },
  );

  it('reads a pod-level deadline', () => {
    const killed = failedPod([], {
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
    expect(
      classifyJob(job([failedCondition('BackoffLimitExceeded', BACKOFF)]), [killed], T0, OPTIONS),
    ).toMatchObject({
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
  });

  it('prefers OOMKilled over the Job deadline', () => {
    const oom = failedPod([terminated('kaniko', 137, 'OOMKilled')]);
    expect(classifyJob(job([failedCondition('DeadlineExceeded', 'late')]), [oom], T0, OPTIONS).reason).toBe(
      'OOMKilled',
    );
  });

  it('ignores the native sidecar stopped after the main container failed', () => {
    const failed = pod(
      'p',
      {
        phase: 'Failed',
        initContainerStatuses: [terminated('monitor', 143, 'Error')],
        containerStatuses: [terminated('kaniko', 2, 'Error', 'error building image: parsing dockerfile')],
      },
      { sidecar: true },
    );
    expect(
      classifyJob(job([failedCondition('BackoffLimitExceeded', BACKOFF)]), [failed], T0, OPTIONS),
    ).toMatchObject({
      reason: 'Error',
      exitCode: 2,
      container: 'kaniko',
      message: 'container kaniko exited with code 2: error building image: parsing dockerfile',
    });
  });

  it('reads the pods of this Job only, newest first', () => {
    const stale = failedPod([terminated('kaniko', 137, 'OOMKilled')], {}, 'old');
    stale.metadata!.ownerReferences![0]!.uid = 'previous-uid';
    stale.metadata!.labels!['batch.kubernetes.io/controller-uid'] = 'previous-uid';
    const older = pod(
      'first',
      { phase: 'Failed', containerStatuses: [terminated('kaniko', 3, 'Error')] },
      { created: 1 },
    );
    const newer = pod(
      'second',
      { phase: 'Failed', containerStatuses: [terminated('kaniko', 4, 'Error')] },
      { created: 50 },
    );
    expect(
      classifyJob(
        job([failedCondition('BackoffLimitExceeded', BACKOFF)]),
        [stale, older, newer],
        T0,
        OPTIONS,
      ),
    ).toMatchObject({ reason: 'Error', exitCode: 4, podName: 'second' });
  });

  it('says what a PodFailurePolicy failure was when no pod is left', () => {
    const message =
      'Container kaniko for pod builds/p failed with exit code 42 matching FailJob rule at index 0';
    expect(classifyJob(job([failedCondition('PodFailurePolicy', message)]), [], T0, OPTIONS)).toMatchObject({
      reason: 'Error',
      message: `PodFailurePolicy: ${message}`,
    });
  });
});

describe('classifyJob: not finished', () => {
  it('is pending with no pod yet, and running once a pod runs', () => {
    expect(classifyJob(job(), [], T0 + 5_000, OPTIONS)).toEqual({ state: 'pending' });
    const creating = pod('p', {
      phase: 'Pending',
      containerStatuses: [waiting('kaniko', 'ContainerCreating')],
    });
    expect(classifyJob(job(), [creating], T0 + 5_000, OPTIONS)).toEqual({ state: 'pending' });
    const running = pod('p', {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'kaniko',
          image: 'img',
          imageID: '',
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: at(3) } },
        },
      ],
    });
    expect(classifyJob(job(), [running], T0 + 5_000, OPTIONS)).toEqual({ state: 'running' });
  });

  const pulling = () =>
    pod('p', {
      phase: 'Pending',
      containerStatuses: [
        waiting('kaniko', 'ImagePullBackOff', 'Back-off pulling image "gcr.io/kaniko-project/executor:v9"'),
      ],
    });

  it('waits out the start timeout on an image pull back-off, then fails', () => {
    expect(classifyJob(job(), [pulling()], T0 + 600_000, OPTIONS)).toEqual({ state: 'pending' });
    expect(classifyJob(job(), [pulling()], T0 + 602_000, OPTIONS)).toEqual({
      state: 'failed',
      reason: 'ImagePullBackOff',
      retryable: false,
      message:
        'ImagePullBackOff in container kaniko: Back-off pulling image "gcr.io/kaniko-project/executor:v9" (pending for 601s)',
      podName: 'p',
      container: 'kaniko',
    });
  });

  it('fails ErrImagePull the same way, and measures from the pod creation', () => {
    const late = pod(
      'p',
      { phase: 'Pending', containerStatuses: [waiting('kaniko', 'ErrImagePull')] },
      { created: 300 },
    );
    expect(classifyJob(job(), [late], T0 + 800_000, OPTIONS).state).toBe('pending');
    expect(classifyJob(job(), [late], T0 + 950_000, OPTIONS)).toMatchObject({ reason: 'ImagePullBackOff' });
    expect(classifyJob(job(), [late], T0 + 950_000, { startTimeoutSeconds: 3600 }).state).toBe('pending');
  });

  const unschedulable = () =>
    pod('p', {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message:
            '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.',
          lastTransitionTime: at(1),
        },
      ],
    });

  it('fails an unschedulable pod after the start timeout, as retryable', () => {
    expect(classifyJob(job(), [unschedulable()], T0 + 300_000, OPTIONS)).toEqual({ state: 'pending' });
    expect(classifyJob(job(), [unschedulable()], T0 + 700_000, OPTIONS)).toEqual({
      state: 'failed',
      reason: 'Unschedulable',
      retryable: true,
      message:
        '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod. (pending for 699s)',
      podName: 'p',
    });
  });

  it('fails a container that cannot be created after the start timeout', () => {
    const config = pod('p', {
      phase: 'Pending',
      containerStatuses: [waiting('kaniko', 'CreateContainerConfigError', 'secret "regcred" not found')],
    });
    expect(classifyJob(job(), [config], T0 + 10_000, OPTIONS).state).toBe('pending');
    expect(classifyJob(job(), [config], T0 + 700_000, OPTIONS)).toMatchObject({
      reason: 'Error',
      retryable: false,
      container: 'kaniko',
    });
  });

  it('fails a Job that got no pod at all within the start timeout (admission), saying why when it knows', () => {
    const noPods = job();
    noPods.status = { startTime: at(0) };
    expect(classifyJob(noPods, [], T0 + 700_000, OPTIONS)).toMatchObject({
      reason: 'Unschedulable',
      retryable: true,
      message: "no pod was created within 600s (see the Job's FailedCreate events)",
    });
    const refused = 'Error creating: admission webhook "policy.example.com" denied the request: no';
    expect(
      classifyJob(noPods, [], T0 + 700_000, {
        ...OPTIONS,
        podCreation: { quota: false, message: refused, at: T0 + 650_000 },
      }),
    ).toMatchObject({ reason: 'Unschedulable', message: `no pod was created within 600s: ${refused}` });
  });

  it('keeps a Job whose pod a ResourceQuota refused waiting for capacity, past the start timeout', () => {
    const noPods = job();
    noPods.status = { startTime: at(0), active: 0 };
    const podCreation = {
      quota: true,
      message:
        'Error creating: pods "build-acme-invoice-01234567-x2v9q" is forbidden: exceeded quota: build-quota, requested: pods=1, used: pods=30, limited: pods=30',
      at: T0 + 3_000_000,
    };
    for (const now of [T0 + 10_000, T0 + 700_000, T0 + 3_600_000]) {
      expect(classifyJob(noPods, [], now, { ...OPTIONS, podCreation })).toEqual({
        state: 'pending',
        message:
          'waiting for quota (pods "build-acme-invoice-01234567-x2v9q" is forbidden: exceeded quota: build-quota, requested: pods=1, used: pods=30, limited: pods=30)',
      });
    }
    // once a pod exists, the refusal no longer decides: that pod's own start timeout does
    const pending = pod('p', { phase: 'Pending' }, { created: 3_500 });
    expect(classifyJob(noPods, [pending], T0 + 3_600_000, { ...OPTIONS, podCreation }).state).toBe('pending');
  });

  it('is JobDeleted when deleted before it finished (a cancel is told apart by the caller)', () => {
    const deleting = job([], { metadata: { name: 'j', uid: JOB_UID, deletionTimestamp: at(30) } });
    expect(classifyJob(deleting, [], T0, OPTIONS)).toEqual({
      state: 'failed',
      reason: 'JobDeleted',
      retryable: true,
      message: 'the Job was deleted before it finished',
    });
  });

  it('waits on a suspended Job without a start timeout (created suspended for a queueing system)', () => {
    const suspended = job([
      { type: 'Suspended', status: 'True', reason: 'JobSuspended', message: 'Job suspended' },
    ]);
    suspended.spec!.suspend = true;
    suspended.status!.active = 0;
    expect(classifyJob(suspended, [], T0 + 3_600_000, OPTIONS)).toEqual({
      state: 'pending',
      message: 'Job suspended',
    });
  });

  it('accepts timestamps as raw strings too', () => {
    const raw = pulling();
    (raw.metadata as { creationTimestamp: unknown }).creationTimestamp = '2025-06-01T12:00:00Z';
    expect(classifyJob(job(), [raw], T0 + 700_000, OPTIONS).reason).toBe('ImagePullBackOff');
  });

  it('is running while a failed pod waits for its replacement', () => {
    const retrying = job();
    retrying.spec!.backoffLimit = 2;
    expect(classifyJob(retrying, [failedPod([terminated('kaniko', 1, 'Error')])], T0, OPTIONS)).toEqual({
      state: 'running',
    });
  });

  it('ignores pods being deleted when checking the start timeout', () => {
    const leaving = pod(
      'p',
      { phase: 'Pending', containerStatuses: [waiting('kaniko', 'ImagePullBackOff')] },
      { deleting: true },
    );
    expect(classifyJob(job(), [leaving], T0 + 700_000, OPTIONS).state).toBe('pending');
  });
});

describe('FAILURE_REASONS', () => {
  it('retries only what came from outside the build', () => {
    const retryable = (Object.keys(FAILURE_REASONS) as FailureReason[]).filter(isRetryable).sort();
    expect(retryable).toEqual([
      'ApiError',
      'Evicted',
      'JobDeleted',
      'NodeLost',
      'Preempted',
      'Unschedulable',
    ]);
  });
});

describe('podCreationFailure', () => {
  const event = (reason: string, message: string, seconds: number, uid = JOB_UID): CoreV1Event => ({
    metadata: { name: `build.${seconds}` },
    involvedObject: { kind: 'Job', name: 'build-acme-invoice-01234567', uid },
    reason,
    message,
    type: reason === 'FailedCreate' ? 'Warning' : 'Normal',
    lastTimestamp: at(seconds),
  });

  it('reads the newest FailedCreate of this Job incarnation and tells a quota refusal from others', () => {
    const quota =
      'Error creating: pods "build-acme-invoice-01234567-abcde" is forbidden: exceeded quota: build-quota, requested: pods=1, used: pods=2, limited: pods=2';
    const webhook = 'Error creating: admission webhook "x" denied the request';
    expect(
      podCreationFailure(
        [
          event('FailedCreate', webhook, 5),
          event('FailedCreate', quota, 20),
          event('SuccessfulCreate', 'Created pod: build-acme-invoice-01234567-zzzzz', 30),
          event('FailedCreate', webhook, 40, 'an-older-job-of-the-same-name'),
        ],
        JOB_UID,
      ),
    ).toEqual({ quota: true, message: quota, at: T0 + 20_000 });
    expect(podCreationFailure([event('FailedCreate', webhook, 5)], JOB_UID)).toMatchObject({ quota: false });
    expect(podCreationFailure([event('SuccessfulCreate', 'Created pod: x', 5)], JOB_UID)).toBeUndefined();
  });
});
