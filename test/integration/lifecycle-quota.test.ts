import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { createSetup, ofType, useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const stack = useStack();

describe('a ResourceQuota on pods in the build namespace', () => {
  it('keeps a Job whose pod is refused waiting for quota past the start timeout, counted against the limit, until it runs', async () => {
    const setup = await createSetup(stack.infra, {
      KJL_MAX_CONCURRENT_JOBS: '3',
      KJL_START_TIMEOUT_SECONDS: '2',
      KJL_WAIT_POLL_MS: '200',
    });
    stack.infra.cluster.store.create('resourcequotas', {
      metadata: { name: 'build-quota', namespace: setup.namespace },
      spec: { hard: { pods: '2' } },
    });
    const launcher = await stack.launch(setup);
    const build = (parserId: string, n: number) => ({
      thirdPartyId: 'quota',
      parserId,
      contentHash: `${n}0aabbccdd`,
    });
    const running = [build('hold-a', 1), build('hold-b', 2)];
    const refused = build('c', 3);
    const overLimit = build('d', 4);
    await setup.publish(running);
    await setup.waitForEvents('two builds to start', (all) => ofType(all, 'started').length === 2);
    await setup.publish([refused]);
    const refusedId = requestIdOf(refused);

    // its pod is refused: the Job has a FailedCreate event and no pod, and kjl says why
    const waiting = await waitFor('the third build to wait for quota', async () => {
      const status = await launcher.service.status(refusedId);
      return status.summary.includes('waiting for quota') ? status : undefined;
    });
    expect(waiting.state).toBe('running');
    expect(waiting.summary).toMatch(
      new RegExp(
        `^pending as Job ${jobNameFor(refused, setup.config.k8s.instance)}: waiting for quota \\(pods "${jobNameFor(refused, setup.config.k8s.instance)}-[a-z0-9]{5}" is forbidden: exceeded quota: build-quota, requested: pods=1, used: pods=2, limited: pods=2\\)$`,
      ),
    );
    const events = stack.infra.cluster.store
      .list('events', setup.namespace)
      .items.filter((event) => (event as { reason?: string }).reason === 'FailedCreate');
    expect(events.length).toBeGreaterThan(0);

    // it counts against the limit (3): a fourth build waits for a slot, not for quota
    await setup.publish([overLimit]);
    const queued = await waitFor('the fourth build to be queued', async () => {
      const status = await launcher.service.status(requestIdOf(overLimit)).catch(() => undefined);
      return status?.state === 'queued' ? status : undefined;
    });
    expect(queued.summary).toBe('queued at position 1; the concurrent job limit (3/3) is reached');

    // past the start timeout it is still waiting, not failed as Unschedulable
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(ofType(setup.events, 'failed')).toEqual([]);
    expect((await launcher.service.status(refusedId)).summary).toContain('waiting for quota');

    // once the first builds end, quota frees, its pod is created and every build succeeds
    const done = await setup.waitForEvents(
      'all four to succeed',
      (all) => ofType(all, 'succeeded').length === 4,
      60_000,
    );
    expect(ofType(done, 'failed')).toEqual([]);
    expect(stack.infra.cluster.stats().maxActiveJobsPerNamespace[setup.namespace]).toBe(3);
  });
});
