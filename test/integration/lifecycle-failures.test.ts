import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { runKjl } from '../support/cli.js';
import { createSetup, ofType, stored, useStack, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const stack = useStack();

let counter = 0;
const request = (parserId: string) => ({
  thirdPartyId: 'fail',
  parserId,
  contentHash: `${(++counter).toString(16).padStart(4, '0')}beefcafe`,
});
const time = (iso: string) => new Date(iso).getTime();

async function failedFor(setup: Setup, build: object, count = 1) {
  const requestId = requestIdOf(build as never);
  const events = await setup.waitForEvents(
    `${count} failed event(s) for ${requestId}`,
    (all) => ofType(all, 'failed', requestId).length >= count,
  );
  return ofType(events, 'failed', requestId);
}

describe('a failing build', () => {
  it('is reported with its reason and log, cleaned up within 5 s, and its target backs off', async () => {
    const setup = await createSetup(stack.infra, { KJL_FAILURE_BACKOFF_SECONDS: '3' });
    const launcher = await stack.launch(setup);
    const broken = request('invalid-parser');
    await setup.publish([broken]);
    const [failed] = await failedFor(setup, broken);
    expect(failed!.data).toMatchObject({
      reason: 'Error',
      exitCode: 1,
      retryable: false,
      willRetry: false,
      attempt: 1,
    });
    expect(failed!.data.message).toBe('container kaniko exited with code 1');
    const failedAt = time(failed!.time);
    await waitFor(
      'the Job and its Pods to be gone',
      () =>
        stored(stack.infra, setup, 'jobs').length === 0 && stored(stack.infra, setup, 'pods').length === 0,
      5000,
    );

    const status = await launcher.service.status(requestIdOf(broken));
    expect(status.state).toBe('failed');
    expect(status.outcome?.status === 'failed' ? status.outcome.logTail : []).toContain(
      'npm ERR! code EJSONPARSE',
    );

    // the same request again is a new run: new attempt number, new event ids
    await setup.publish([broken]);
    const again = await failedFor(setup, broken, 2);
    expect(again.map((e) => e.id)).toEqual([
      `${requestIdOf(broken)}-1-failed`,
      `${requestIdOf(broken)}-2-failed`,
    ]);
    expect(ofType(setup.events, 'queued', requestIdOf(broken)).map((e) => e.data.attempt)).toEqual([1, 2]);

    const fixed = { ...broken, parserId: 'invalid-parser', contentHash: 'ffff0000aaaa' };
    await setup.publish([fixed]);
    const events = await setup.waitForEvents(
      'the next build of the target to start',
      (all) => ofType(all, 'started', requestIdOf(fixed)).length === 1,
    );
    expect(time(ofType(events, 'started', requestIdOf(fixed))[0]!.time)).toBeGreaterThanOrEqual(
      failedAt + 3000 - 1000,
    );
  });

  it.each([
    ['oom-parser', 'OOMKilled', false],
    ['preempt-parser', 'Preempted', true],
    ['pull-parser', 'ImagePullBackOff', false],
    ['unsched-parser', 'Unschedulable', true],
    ['long-parser', 'DeadlineExceeded', false],
  ])('classifies %s as %s', async (parserId, reason, retryable) => {
    const setup = await createSetup(stack.infra, {
      KJL_MAX_ATTEMPTS: '1',
      KJL_START_TIMEOUT_SECONDS: '2',
      KJL_ACTIVE_DEADLINE_SECONDS: '3',
    });
    await stack.launch(setup);
    const build = request(parserId);
    await setup.publish([build]);
    const [failed] = await failedFor(setup, build);
    expect(failed!.data).toMatchObject({ reason, retryable, willRetry: false });
  });

  it('retries an evicted build up to the attempt limit, then fails it for good', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_ATTEMPTS: '3', KJL_FAILURE_BACKOFF_SECONDS: '1' });
    const launcher = await stack.launch(setup);
    const build = request('evict-parser');
    await setup.publish([build]);
    const failures = await failedFor(setup, build, 3);
    expect(failures.map((e) => [e.data.reason, e.data.attempt, e.data.willRetry])).toEqual([
      ['Evicted', 1, true],
      ['Evicted', 2, true],
      ['Evicted', 3, false],
    ]);
    expect(new Set(failures.map((e) => e.id)).size).toBe(3);
    expect(stack.infra.cluster.stats().jobsCreated[jobNameFor(build, setup.config.k8s.instance)]).toBe(3);
    const status = await launcher.service.status(requestIdOf(build));
    expect(status).toMatchObject({ state: 'failed', attempt: 3 });
  });
});

describe('a Job name that is taken', () => {
  it('fails the build with a clear conflict when the Job belongs to something else', async () => {
    const setup = await createSetup(stack.infra);
    const build = request('taken');
    const name = jobNameFor(build, setup.config.k8s.instance);
    const response = await fetch(
      `${stack.infra.cluster.url}/apis/batch/v1/namespaces/${setup.namespace}/jobs`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          metadata: { name },
          spec: {
            template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
          },
        }),
      },
    );
    expect(response.status).toBe(201);
    await stack.launch(setup);
    await setup.publish([build]);
    const [failed] = await failedFor(setup, build);
    expect(failed!.data).toMatchObject({ reason: 'JobConflict', retryable: false });
    expect(failed!.data.message).toBe(
      `Job ${setup.namespace}/${name} already exists and belongs to something other than kjl`,
    );
    expect(stored(stack.infra, setup, 'jobs').map((job) => job.metadata.name)).toEqual([name]);
  });
});

describe('kjl cancel', () => {
  it('stops a running build: Job and Pods deleted, request cancelled, event sent', async () => {
    const setup = await createSetup(stack.infra);
    await stack.launch(setup);
    const build = request('long-cancel');
    const requestId = requestIdOf(build);
    await setup.publish([build]);
    await setup.waitForEvents('the build to start', (all) => ofType(all, 'started', requestId).length === 1);
    const result = await runKjl(['cancel', requestId], { env: setup.env });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(
      `${requestId} cancelled; deleted Job ${jobNameFor(build, setup.config.k8s.instance)}`,
    );
    const events = await setup.waitForEvents(
      'the cancelled event',
      (all) => ofType(all, 'cancelled', requestId).length === 1,
    );
    expect(ofType(events, 'cancelled', requestId)[0]!.data.reason).toBe('Cancelled');
    await waitFor(
      'the Job and Pods gone',
      () =>
        stored(stack.infra, setup, 'jobs').length === 0 && stored(stack.infra, setup, 'pods').length === 0,
      5000,
    );
    expect((await runKjl(['status', requestId], { env: setup.env })).stdout).toContain(': cancelled');
    expect(ofType(setup.events, 'failed', requestId)).toEqual([]);
  });

  it('takes a queued build out before it gets a Job', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '1' });
    const launcher = await stack.launch(setup);
    const blocker = request('hold-blocker');
    const queued = request('queued-one');
    await setup.publish([blocker]);
    await setup.waitForEvents('the blocker to start', (all) => ofType(all, 'started').length === 1);
    await setup.publish([queued]);
    await waitFor('the request queued', () =>
      launcher.service.status(requestIdOf(queued)).catch(() => undefined),
    );
    const result = await runKjl(['cancel', requestIdOf(queued)], { env: setup.env });
    expect(result.stdout).toContain('cancelled (it was queued)');
    await setup.waitForEvents('the blocker to finish', (all) => ofType(all, 'succeeded').length === 1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(
      stack.infra.cluster.stats().jobsCreated[jobNameFor(queued, setup.config.k8s.instance)],
    ).toBeUndefined();
    const events = await setup.waitForEvents(
      'the cancelled event',
      (all) => ofType(all, 'cancelled', requestIdOf(queued)).length > 0,
    );
    expect(ofType(events, 'cancelled', requestIdOf(queued))).toHaveLength(1);
  });
});

describe('the orphan sweep', () => {
  it("deletes this deployment's Jobs that no request knows, and leaves the others", async () => {
    const setup = await createSetup(stack.infra, { KJL_SWEEP_INTERVAL_SECONDS: '1' });
    const job = (name: string, requestId: string, instance = setup.config.k8s.instance) => ({
      metadata: {
        name,
        namespace: setup.namespace,
        labels: {
          'app.kubernetes.io/managed-by': 'kube-job-launcher',
          'kjl.dev/instance': instance,
          'kjl.dev/request-id': requestId,
        },
      },
      spec: {
        template: {
          metadata: {
            labels: { 'app.kubernetes.io/managed-by': 'kube-job-launcher', 'kjl.dev/parser-id': 'hang-x' },
          },
          spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
        },
      },
    });
    const create = (body: object) =>
      fetch(`${stack.infra.cluster.url}/apis/batch/v1/namespaces/${setup.namespace}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await create(job('orphan', 'rnobody000000000000'))).status).toBe(201);
    const foreign = {
      ...job('foreign', 'x'),
      metadata: { name: 'foreign', namespace: setup.namespace, labels: { app: 'other' } },
    };
    expect((await create(foreign)).status).toBe(201);
    // another launcher's Job in the same namespace: never this one's to delete
    expect((await create(job('neighbour', 'rnobody000000000000', 'other-builds'))).status).toBe(201);
    await stack.launch(setup);
    await waitFor(
      'the orphan deleted',
      () => !stored(stack.infra, setup, 'jobs').some((j) => j.metadata.name === 'orphan'),
      10_000,
    );
    expect(
      stored(stack.infra, setup, 'jobs')
        .map((j) => j.metadata.name)
        .sort(),
    ).toEqual(['foreign', 'neighbour']);
  });
});
