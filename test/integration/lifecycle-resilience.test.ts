import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { createSetup, ofType, useStack, type Setup } from '../support/stack.js';

const stack = useStack();

const requests = (prefix: string, parser: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    thirdPartyId: prefix,
    parserId: `${parser}-${i}`,
    contentHash: `${i.toString(16).padStart(4, '0')}f00dbabe`,
  }));

const startProcess = (setup: Setup, role: string) => stack.spawn(setup, { KJL_ROLE: role });

function expectEachOnce(setup: Setup, builds: object[]) {
  for (const build of builds) {
    const requestId = requestIdOf(build as never);
    expect(ofType(setup.events, 'succeeded', requestId), requestId).toHaveLength(1);
    expect(new Set(ofType(setup.events, 'started', requestId).map((e) => e.id)).size, requestId).toBe(1);
    expect(
      stack.infra.cluster.stats().jobsCreated[jobNameFor(build as never, setup.config.k8s.instance)],
      requestId,
    ).toBe(1);
  }
}

async function resetStats() {
  await fetch(`${stack.infra.cluster.url}/sim/reset-stats`, { method: 'POST' });
}

describe('crash recovery', () => {
  it('loses nothing when the worker is SIGKILLed during 20 running builds', async () => {
    const setup = await createSetup(stack.infra, {
      KJL_MAX_CONCURRENT_JOBS: '20',
      KJL_WORKER_LOCK_SECONDS: '2',
    });
    const builds = [...requests('crash', 'hold', 10), ...requests('crash', 'long', 10)];
    const worker = await startProcess(setup, 'all');
    await setup.publish(builds);
    await setup.waitForEvents('20 builds started', (events) => ofType(events, 'started').length === 20);
    await worker.stop('SIGKILL');
    // the short builds finish while no worker runs; the long ones are still running at restart
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(ofType(setup.events, 'succeeded')).toHaveLength(0);
    await startProcess(setup, 'all');
    await setup.waitForEvents(
      'every build reported',
      (events) => ofType(events, 'succeeded').length >= 20,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expectEachOnce(setup, builds);
  });
});

describe('a flaky API server', () => {
  it('gives the same results with 20% of API calls failing and watches cut every 2 s', async () => {
    const setup = await createSetup(stack.infra);
    stack.infra.cluster.faults.set({
      errors: { '*': { '429': 0.1, '500': 0.1 } },
      cutWatches: { everySeconds: 2 },
    });
    await stack.launch(setup);
    const builds = requests('flaky', 'ok', 10);
    await setup.publish(builds);
    await setup.waitForEvents(
      'every build reported',
      (events) => ofType(events, 'succeeded').length >= 10,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expectEachOnce(setup, builds);
    const { faults } = stack.infra.cluster.stats();
    expect((faults['429'] ?? 0) + (faults['500'] ?? 0)).toBeGreaterThan(0);
    expect(faults['cut-watch'] ?? 0).toBeGreaterThan(0);
  });
});

describe('replicas', () => {
  it('never runs more Jobs than the limit with three worker processes on one Redis', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '4' });
    await resetStats();
    await Promise.all([0, 1, 2].map(() => startProcess(setup, 'worker')));
    await stack.launch({ ...setup, config: { ...setup.config, role: 'intake' } });
    const builds = requests('replicas', 'hold', 12);
    await setup.publish(builds);
    await setup.waitForEvents(
      'every build reported',
      (events) => ofType(events, 'succeeded').length >= 12,
      90_000,
    );
    expectEachOnce(setup, builds);
    const stats = stack.infra.cluster.stats();
    expect(stats.maxActiveJobs).toBe(4);
  });
});
