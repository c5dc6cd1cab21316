import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { redisOptionsFor } from '../../src/queue/redis-options.js';
import { runKjl } from '../support/cli.js';
import { startEventRecorder } from '../support/event-recorder.js';
import { createSetup, ofType, stored, useStack, type Setup } from '../support/stack.js';

/**
 * Scenarios where the concurrent-job limit was exceeded: a one-shot command writing its own limit,
 * a Job running outside any queue entry, two launchers in one namespace. Judged from the simulated
 * cluster's own count of unfinished Jobs and from Redis.
 */

const stack = useStack();

const holds = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    thirdPartyId: prefix,
    parserId: `hold-${i}`,
    contentHash: `${i.toString(16).padStart(4, '0')}1a1a1a1a`,
  }));

async function resetStats(): Promise<void> {
  await fetch(`${stack.infra.cluster.url}/sim/reset-stats`, { method: 'POST' });
}

/** The fleet's limit as Redis holds it (the queue's global concurrency). */
async function fleetLimit(setup: Setup): Promise<number | null> {
  const queue = new Queue(setup.config.queue.name, {
    connection: redisOptionsFor(stack.infra.redis.url, 'command'),
    prefix: setup.config.queue.prefix,
  });
  try {
    return await queue.getGlobalConcurrency();
  } finally {
    await queue.close();
  }
}

/** Samples the number of unfinished Jobs of the setup's namespace until `done` resolves. */
async function peakUnfinished(setup: Setup, done: Promise<unknown>): Promise<number> {
  let peak = 0;
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) {
    const unfinished = stored(stack.infra, setup, 'jobs').filter(
      (job) =>
        !((job.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []).some(
          (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
        ),
    );
    peak = Math.max(peak, unfinished.length);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await done;
  return peak;
}

describe('a one-shot command run with another limit', () => {
  it("never writes the fleet's limit: a fleet at 2 runs 2 Jobs at a time", async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '2' });
    await resetStats();
    await stack.spawn(setup);
    const builds = holds('oneshot', 6);
    await setup.publish(builds);
    await setup.waitForEvents('two builds started', (all) => ofType(all, 'started').length === 2);
    // the command's own environment says nothing of the limit: its default is 10
    const { KJL_MAX_CONCURRENT_JOBS: _limit, ...commandEnv } = setup.env;
    const status = await runKjl(['status', requestIdOf(builds[5]!)], { env: commandEnv });
    expect(status.stderr).toBe('');
    expect(await fleetLimit(setup)).toBe(2);
    await setup.waitForEvents('every build done', (all) => ofType(all, 'succeeded').length === 6, 60_000);
    expect(stack.infra.cluster.stats().maxActiveJobs).toBeLessThanOrEqual(2);
  });
});

describe('a Job of the deployment running outside any queue entry', () => {
  it('counts against the limit, with three worker processes deciding at once', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '2', KJL_WAIT_POLL_MS: '200' });
    // left by a crash or a cancel: a Job of this deployment that no queue entry knows
    const stray = await fetch(`${stack.infra.cluster.url}/apis/batch/v1/namespaces/${setup.namespace}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        metadata: {
          name: 'stray',
          labels: {
            'app.kubernetes.io/managed-by': 'kube-job-launcher',
            'kjl.dev/instance': setup.config.k8s.instance,
            'kjl.dev/request-id': 'rstray0000000000000',
          },
        },
        spec: {
          template: {
            metadata: { labels: { 'kjl.dev/parser-id': 'hang-stray' } },
            spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
          },
        },
      }),
    });
    expect(stray.status).toBe(201);
    await Promise.all([0, 1, 2].map(() => stack.spawn(setup, { KJL_ROLE: 'worker' })));
    await stack.launch({ ...setup, config: { ...setup.config, role: 'intake' } });
    const builds = holds('stray', 4);
    await setup.publish(builds);
    const done = setup.waitForEvents(
      'every build done',
      (all) => ofType(all, 'succeeded').length === 4,
      90_000,
    );
    // the stray Job takes one of the two slots all along
    expect(await peakUnfinished(setup, done)).toBe(2);
    await fetch(`${stack.infra.cluster.url}/apis/batch/v1/namespaces/${setup.namespace}/jobs/stray`, {
      method: 'DELETE',
    });
  });
});

describe('worker processes sharing the limit', () => {
  it('each takes a fair share: with three workers none runs more than its share and slack', async () => {
    const sink = await startEventRecorder();
    try {
      const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '6' }, { sink });
      // each worker sends its events to its own path, so the sink tells who started what
      for (const slot of [0, 1, 2]) {
        await stack.spawn(setup, { KJL_ROLE: 'worker', KJL_EVENTS_SINK: `${sink.url}/w${slot}` });
      }
      const started: Record<string, number> = {};
      const running: Record<string, number> = {};
      const peak: Record<string, number> = {};
      sink.onAttempt((event, path) => {
        if (event.type === 'dev.kjl.build.started') {
          started[path] = (started[path] ?? 0) + 1;
          running[path] = (running[path] ?? 0) + 1;
          peak[path] = Math.max(peak[path] ?? 0, running[path]);
        } else if (event.type === 'dev.kjl.build.succeeded') running[path] = (running[path] ?? 0) - 1;
      });
      // the workers have read their share (every 5 s) before the work arrives
      await new Promise((resolve) => setTimeout(resolve, 6000));
      await stack.launch({ ...setup, config: { ...setup.config, role: 'intake' } });
      await setup.publish(holds('share', 18));
      await setup.waitForEvents('every build done', (all) => ofType(all, 'succeeded').length === 18, 90_000);
      // a fair share of 6 among 3 is 2, plus 1 of slack: no worker ran more than 3 at once, so the
      // work spread (two workers at their share fill the limit: which ones depends on timing)
      expect(Math.max(...Object.values(peak))).toBeLessThanOrEqual(3);
      expect(Object.keys(started).length).toBeGreaterThanOrEqual(2);
      expect(stack.infra.cluster.stats().maxActiveJobsPerNamespace[setup.namespace]).toBeLessThanOrEqual(6);
    } finally {
      await sink.stop();
    }
  });
});

describe('two launchers in one namespace', () => {
  it("never sweeps or counts the other's Jobs", async () => {
    const a = await createSetup(stack.infra, {
      KJL_MAX_CONCURRENT_JOBS: '1',
      KJL_SWEEP_INTERVAL_SECONDS: '1',
    });
    const b = await createSetup(
      stack.infra,
      { KJL_MAX_CONCURRENT_JOBS: '1', KJL_SWEEP_INTERVAL_SECONDS: '1' },
      { namespace: a.namespace },
    );
    await stack.launch(a);
    await stack.launch(b);
    const long = { thirdPartyId: 'neighbours', parserId: 'long-a', contentHash: '0001beefbeef' };
    const hold = { thirdPartyId: 'neighbours', parserId: 'hold-b', contentHash: '0002beefbeef' };
    await a.publish([long]);
    await a.waitForEvents('A to start', (all) => ofType(all, 'started', requestIdOf(long)).length === 1);
    // B's limit of 1 is its own: A's running Job does not take it
    await b.publish([hold]);
    await b.waitForEvents(
      'B to start',
      (all) => ofType(all, 'started', requestIdOf(hold)).length === 1,
      5000,
    );
    expect(ofType(a.events, 'succeeded', requestIdOf(long))).toEqual([]);
    await b.waitForEvents('B to succeed', (all) => ofType(all, 'succeeded', requestIdOf(hold)).length === 1);
    // B's sweep ran several times meanwhile: A's Job survived them
    await a.waitForEvents(
      'A to succeed',
      (all) => ofType(all, 'succeeded', requestIdOf(long)).length === 1,
      30_000,
    );
    expect(ofType(a.events, 'failed')).toEqual([]);
  });
});
