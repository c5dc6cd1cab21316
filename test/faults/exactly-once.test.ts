import { afterEach, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { runKjl } from '../support/cli.js';
import { startEventRecorder, type EventRecorder } from '../support/event-recorder.js';
import { createSetup, ofType, useStack, type ReceivedEvent, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Scenarios where a build ran twice or was lost: a worker killed during failure handling, Redis
 * gone while a build finishes, the API failing the cleanup, A → B → A, a replay after the attempts
 * were used up, two contents whose hashes share a prefix. Judged from the outside: the simulated
 * cluster's record of the Jobs it created, the events the sink received, and `kjl status`.
 */

const stack = useStack();
const recorders: EventRecorder[] = [];
afterEach(async () => {
  await Promise.all(recorders.splice(0).map((recorder) => recorder.stop()));
});

async function recorder(): Promise<EventRecorder> {
  const started = await startEventRecorder();
  recorders.push(started);
  return started;
}

let serial = 0;
const request = (parserId: string, contentHash?: string) => ({
  thirdPartyId: 'once',
  parserId,
  contentHash: contentHash ?? `${(++serial).toString(16).padStart(4, '0')}c0ffee00`,
});

const created = (setup: Setup, build: object): number | undefined =>
  stack.infra.cluster.stats().jobsCreated[jobNameFor(build as never, setup.config.k8s.instance)];

/** The distinct event ids of a phase for a request: a repeat carries the same id. */
const ids = (events: ReceivedEvent[], phase: string, build: object) =>
  [...new Set(ofType(events, phase, requestIdOf(build as never)).map((event) => event.id))].sort();

async function status(setup: Setup, build: object): Promise<{ state: string }> {
  const result = await runKjl(['status', requestIdOf(build as never), '--json'], { env: setup.env });
  return JSON.parse(result.stdout) as { state: string };
}

describe('a worker killed during failure handling', () => {
  it.each(['SIGKILL', 'SIGTERM'] as const)(
    '%s while the failed event is being delivered: no second Job, each event id once',
    async (signal) => {
      const sink = await recorder();
      const setup = await createSetup(
        stack.infra,
        { KJL_WORKER_LOCK_SECONDS: '2', KJL_SHUTDOWN_TIMEOUT_SECONDS: '2' },
        { sink },
      );
      // the events sink takes its time with failures: the worker is stopped while it waits
      sink.set({ byType: { 'dev.kjl.build.failed': { latencyMs: 60_000 } } });
      const worker = await stack.spawn(setup);
      const build = request('invalid-crash');
      const attempt = sink.nextAttempt('dev.kjl.build.failed');
      await setup.publish([build]);
      await attempt;
      await worker.stop(signal);
      sink.set({});
      await stack.spawn(setup);
      await waitFor(
        'the failed event delivered',
        () => ofType(sink.events, 'failed', requestIdOf(build)).length > 0,
        30_000,
      );
      await waitFor('the build failed for good', async () => (await status(setup, build)).state === 'failed');
      // a taken-over entry finishes from its record: no second Job, no second run
      expect(created(setup, build)).toBe(1);
      expect(ids(sink.events, 'started', build)).toEqual([`${requestIdOf(build)}-1-started`]);
      expect(ids(sink.events, 'failed', build)).toEqual([`${requestIdOf(build)}-1-failed`]);
      await waitFor(
        'the failed Job deleted',
        () =>
          !stack.infra.cluster.store.tryGet(
            'jobs',
            setup.namespace,
            jobNameFor(build, setup.config.k8s.instance),
          ),
      );
    },
  );
});

describe('Redis unreachable while a build finishes', () => {
  it('waits Redis out: one Job, the success announced once, nothing counted as a failure', async () => {
    const setup = await createSetup(stack.infra);
    await stack.spawn(setup);
    const build = request('hold-redis');
    await setup.publish([build]);
    await setup.waitForEvents(
      'the build to start',
      (all) => ofType(all, 'started', requestIdOf(build)).length === 1,
    );
    await stack.infra.redis.halt(true);
    // the build (3 s) ends while Redis is gone
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await stack.infra.redis.restart();
    await setup.waitForEvents(
      'the success',
      (all) => ofType(all, 'succeeded', requestIdOf(build)).length >= 1,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(created(setup, build)).toBe(1);
    expect(ids(setup.events, 'succeeded', build)).toEqual([`${requestIdOf(build)}-1-succeeded`]);
    expect(ofType(setup.events, 'failed', requestIdOf(build))).toEqual([]);
    expect((await status(setup, build)).state).toBe('succeeded');
  });
});

describe('the API failing while a failed Job is deleted', () => {
  it("keeps the build's outcome and leaves the Job to the sweep", async () => {
    const setup = await createSetup(stack.infra, { KJL_SWEEP_INTERVAL_SECONDS: '1' });
    stack.infra.cluster.faults.set({ errors: { delete: { '503': 1 } } });
    await stack.launch(setup);
    const build = request('invalid-cleanup');
    await setup.publish([build]);
    const events = await setup.waitForEvents(
      'the failure',
      (all) => ofType(all, 'failed', requestIdOf(build)).length === 1,
    );
    const failed = ofType(events, 'failed', requestIdOf(build))[0];
    expect(failed!.data).toMatchObject({ reason: 'Error', retryable: false, willRetry: false });
    await waitFor('the build failed for good', async () => (await status(setup, build)).state === 'failed');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(created(setup, build)).toBe(1);
    expect(ofType(setup.events, 'failed', requestIdOf(build))).toHaveLength(1);
    expect(
      stack.infra.cluster.store.tryGet('jobs', setup.namespace, jobNameFor(build, setup.config.k8s.instance)),
    ).toBeDefined();
    // the API answers again: the sweep deletes what the cleanup could not
    stack.infra.cluster.faults.clear();
    await waitFor(
      'the sweep to delete the failed Job',
      () =>
        !stack.infra.cluster.store.tryGet(
          'jobs',
          setup.namespace,
          jobNameFor(build, setup.config.k8s.instance),
        ),
      10_000,
    );
  });
});

describe('A → B → A for one target while A is still queued', () => {
  it('builds A, the newest message, and supersedes B', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '1' });
    await stack.launch(setup);
    const blocker = request('hold-blocker');
    const a = request('target', 'aaaa0000aaaa0000');
    const b = request('target', 'bbbb0000bbbb0000');
    await setup.publish([blocker]);
    await setup.waitForEvents('the blocker to start', (all) => ofType(all, 'started').length === 1);
    for (const message of [a, b, a]) {
      await setup.publish([message]);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await setup.waitForEvents(
      'A to be built',
      (all) => ofType(all, 'succeeded', requestIdOf(a)).length === 1,
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(created(setup, a)).toBe(1);
    expect(created(setup, b)).toBeUndefined();
    expect(ofType(setup.events, 'cancelled', requestIdOf(b))[0]?.data.reason).toBe('Superseded');
  });
});

describe('a request sent again after its attempts were used up', () => {
  it('starts with fresh attempts', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_ATTEMPTS: '2', KJL_FAILURE_BACKOFF_SECONDS: '0' });
    await stack.launch(setup);
    const build = request('evict-replay');
    const id = requestIdOf(build);
    await setup.publish([build]);
    await setup.waitForEvents('two evictions', (all) => ofType(all, 'failed', id).length === 2, 30_000);
    await waitFor('the build failed for good', async () => (await status(setup, build)).state === 'failed');
    await setup.publish([build]);
    const events = await setup.waitForEvents(
      'two more evictions',
      (all) => ofType(all, 'failed', id).length === 4,
      30_000,
    );
    expect(ofType(events, 'failed', id).map((event) => event.data.willRetry)).toEqual([
      true,
      false,
      true,
      false,
    ]);
    expect(created(setup, build)).toBe(4);
  });
});

describe('two contents of one target whose hashes share their first 8 characters', () => {
  it('builds both, each under its own Job name', async () => {
    const setup = await createSetup(stack.infra);
    await stack.launch(setup);
    const first = request('prefix', 'deadbeef00000001');
    const second = request('prefix', 'deadbeef00000002');
    await setup.publish([first]);
    await setup.waitForEvents(
      'the first',
      (all) => ofType(all, 'succeeded', requestIdOf(first)).length === 1,
    );
    await setup.publish([second]);
    await setup.waitForEvents(
      'the second',
      (all) => ofType(all, 'succeeded', requestIdOf(second)).length === 1,
    );
    expect(jobNameFor(first, setup.config.k8s.instance)).not.toBe(
      jobNameFor(second, setup.config.k8s.instance),
    );
    expect(ofType(setup.events, 'failed')).toEqual([]);
  });
});

describe('the API refusing every create for a while', () => {
  it('tries the same run again: no failure is announced, and the build runs once', async () => {
    const setup = await createSetup(stack.infra);
    stack.infra.cluster.faults.set({ errors: { create: { '503': 1 } } });
    await stack.launch(setup);
    const build = request('ok-unavailable');
    const id = requestIdOf(build);
    await setup.publish([build]);
    // the runner gives up after its retries (about 6 s) and the run waits: the API answers again later
    await waitFor(
      'the creates to be refused',
      () => (stack.infra.cluster.stats().faults['503'] ?? 0) >= 6,
      20_000,
    );
    stack.infra.cluster.faults.clear();
    await setup.waitForEvents('the success', (all) => ofType(all, 'succeeded', id).length === 1, 30_000);
    expect(ofType(setup.events, 'failed', id)).toEqual([]);
    expect(ids(setup.events, 'succeeded', build)).toEqual([`${id}-1-succeeded`]);
    expect(created(setup, build)).toBe(1);
  });
});

describe('the events sink down while a build ends', () => {
  it('sends the final event once the sink is back, under the same id', async () => {
    const sink = await recorder();
    const setup = await createSetup(stack.infra, {}, { sink });
    await stack.launch(setup);
    const build = request('ok-sink-down');
    const id = requestIdOf(build);
    // refuses every delivery of the success for 4 s: longer than the sink's own retries
    sink.set({ byType: { 'dev.kjl.build.succeeded': { failRate: 1 } } });
    await setup.publish([build]);
    await waitFor('a refused success', () => (sink.attempts['dev.kjl.build.succeeded'] ?? 0) >= 1, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    sink.set({});
    await waitFor('the success delivered', () => ofType(sink.events, 'succeeded', id).length >= 1, 30_000);
    expect(ids(sink.events, 'succeeded', build)).toEqual([`${id}-1-succeeded`]);
    expect(await status(setup, build)).toMatchObject({ state: 'succeeded' });
  });
});

describe('a request superseded, then sent again', () => {
  it('gets new event ids for its new life', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '1' });
    await stack.launch(setup);
    const blocker = request('hold-ids');
    const a = request('target-ids', 'aaaa1111aaaa1111');
    const b = request('target-ids', 'bbbb1111bbbb1111');
    await setup.publish([blocker]);
    await setup.waitForEvents('the blocker', (all) => ofType(all, 'started').length === 1);
    await setup.publish([a]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await setup.publish([b]);
    await setup.waitForEvents(
      'B built',
      (all) => ofType(all, 'succeeded', requestIdOf(b)).length === 1,
      30_000,
    );
    // A was superseded; going back to it builds it, as a new life with new ids
    await setup.publish([a]);
    await setup.waitForEvents(
      'A built',
      (all) => ofType(all, 'succeeded', requestIdOf(a)).length === 1,
      30_000,
    );
    const all = ofType(setup.events, 'queued', requestIdOf(a))
      .concat(ofType(setup.events, 'cancelled', requestIdOf(a)))
      .concat(ofType(setup.events, 'started', requestIdOf(a)))
      .map((event) => event.id);
    expect(new Set(all).size).toBe(all.length);
  });
});
