import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { createSetup, ofType, stored, useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const stack = useStack();

const hash = (n: number) => `${n.toString(16).padStart(2, '0')}aabbccdd`;
const time = (iso: string) => new Date(iso).getTime();

describe('the concurrent job limit', () => {
  it('runs 10 of 11 builds at once, tells the 11th it is queued, and starts it when one finishes', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '10' });
    const launcher = await stack.launch(setup);
    const requests = Array.from({ length: 11 }, (_, i) => ({
      thirdPartyId: 'limit',
      parserId: `hold-${i}`,
      contentHash: hash(i),
    }));
    await setup.publish(requests.slice(0, 10));
    await setup.waitForEvents('10 builds started', (events) => ofType(events, 'started').length === 10);
    await setup.publish(requests.slice(10));
    const eleventh = requestIdOf(requests[10]!);
    const queued = await waitFor('the 11th to be queued', async () => {
      const status = await launcher.service.status(eleventh).catch(() => undefined);
      return status?.state === 'queued' ? status : undefined;
    });
    expect(queued.summary).toBe('queued at position 1; the concurrent job limit (10/10) is reached');
    expect(stored(stack.infra, setup, 'jobs')).toHaveLength(10);

    const events = await setup.waitForEvents(
      'the 11th to start',
      (all) => ofType(all, 'started', eleventh).length === 1,
    );
    const firstDone = Math.min(...ofType(events, 'succeeded').map((e) => time(e.time)));
    expect(time(ofType(events, 'started', eleventh)[0]!.time)).toBeGreaterThanOrEqual(firstDone);
    await setup.waitForEvents('all 11 to succeed', (all) => ofType(all, 'succeeded').length === 11);
    expect(stack.infra.cluster.stats().maxActiveJobs).toBeLessThanOrEqual(10);
  });
});

describe('dedup per target', () => {
  it('runs the same request sent twice as one Job', async () => {
    const setup = await createSetup(stack.infra);
    await stack.launch(setup);
    const request = { thirdPartyId: 'twice', parserId: 'p', contentHash: hash(1) };
    await setup.publish([request, request]);
    await setup.waitForEvents('the build to succeed', (events) => ofType(events, 'succeeded').length === 1);
    await setup.publish([request]); // just succeeded: not run again
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(stack.infra.cluster.stats().jobsCreated[jobNameFor(request, setup.config.k8s.instance)]).toBe(1);
    expect(ofType(setup.events, 'started')).toHaveLength(1);
    expect(ofType(setup.events, 'queued')).toHaveLength(1);
  });

  it('builds only the newest content when a newer request arrives while one is queued', async () => {
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '1' });
    const launcher = await stack.launch(setup);
    const blocker = { thirdPartyId: 'super', parserId: 'hold-blocker', contentHash: hash(2) };
    const older = { thirdPartyId: 'super', parserId: 'target', contentHash: hash(3) };
    const newer = { ...older, contentHash: hash(4) };
    await setup.publish([blocker]);
    await setup.waitForEvents('the blocker to start', (events) => ofType(events, 'started').length === 1);
    await setup.publish([older]);
    await waitFor('the older request queued', () =>
      launcher.service.status(requestIdOf(older)).catch(() => undefined),
    );
    await setup.publish([newer]);
    await setup.waitForEvents(
      'the newer build to succeed',
      (events) => ofType(events, 'succeeded', requestIdOf(newer)).length === 1,
    );
    const created = stack.infra.cluster.stats().jobsCreated;
    expect(created[jobNameFor(newer, setup.config.k8s.instance)]).toBe(1);
    expect(created[jobNameFor(older, setup.config.k8s.instance)]).toBeUndefined();
    expect((await launcher.service.status(requestIdOf(older))).summary).toBe(
      `superseded by newer request ${requestIdOf(newer)}`,
    );
    expect(ofType(setup.events, 'cancelled', requestIdOf(older))[0]!.data.reason).toBe('Superseded');

    // going back to the older content builds it: it was never built
    await setup.publish([older]);
    await setup.waitForEvents(
      'the older content to be built',
      (events) => ofType(events, 'succeeded', requestIdOf(older)).length === 1,
    );
    expect(stack.infra.cluster.stats().jobsCreated[jobNameFor(older, setup.config.k8s.instance)]).toBe(1);
  });

  it('waits for the running build of a target before building newer content', async () => {
    const setup = await createSetup(stack.infra);
    await stack.launch(setup);
    const running = { thirdPartyId: 'serial', parserId: 'hold-target', contentHash: hash(5) };
    const newer = { ...running, contentHash: hash(6) };
    await setup.publish([running]);
    await setup.waitForEvents('the first build to start', (events) => ofType(events, 'started').length === 1);
    await setup.publish([newer]);
    const events = await setup.waitForEvents(
      'both builds to succeed',
      (all) => ofType(all, 'succeeded').length === 2,
    );
    const firstDone = time(ofType(events, 'succeeded', requestIdOf(running))[0]!.time);
    const secondStart = time(ofType(events, 'started', requestIdOf(newer))[0]!.time);
    expect(secondStart).toBeGreaterThanOrEqual(firstDone);
    const created = stack.infra.cluster.stats().jobsCreated;
    expect([
      created[jobNameFor(running, setup.config.k8s.instance)],
      created[jobNameFor(newer, setup.config.k8s.instance)],
    ]).toEqual([1, 1]);
  });
});
