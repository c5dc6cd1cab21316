import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { runKjl, type KjlProcess } from '../support/cli.js';
import { startEventRecorder, type EventRecorder } from '../support/event-recorder.js';
import { byLabels, overlaps } from '../support/job-lifetimes.js';
import { message } from '../support/messages.js';
import { createSetup, ofType, TEST_RULES, useStack, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * What happens around a takeover: a worker frozen past its lease comes back while another runs the
 * build's next run; SQS delivers again the message of a build that already failed; a cancel lands
 * while a started build's worker is gone. Judged from the cluster's record and the events.
 */

const stack = useStack();
const recorders: EventRecorder[] = [];
afterEach(async () => {
  stack.infra.cluster.controllers.setRules(TEST_RULES);
  await Promise.all(recorders.splice(0).map((recorder) => recorder.stop()));
});

async function recorder(): Promise<EventRecorder> {
  const started = await startEventRecorder();
  recorders.push(started);
  return started;
}

const jobsOf = (setup: Setup) =>
  stack.infra.cluster.jobLifetimes().filter((job) => job.namespace === setup.namespace);

describe('a worker frozen past its lease', () => {
  it('acts on nothing when it comes back: the next run keeps its target', async () => {
    const sink = await recorder();
    const setup = await createSetup(
      stack.infra,
      { KJL_WORKER_LOCK_SECONDS: '2', KJL_FAILURE_BACKOFF_SECONDS: '2', KJL_MAX_ATTEMPTS: '3' },
      { sink },
    );
    const workers: KjlProcess[] = [];
    for (const slot of [0, 1]) {
      workers.push(await stack.spawn(setup, { KJL_EVENTS_SINK: `${sink.url}/w${slot}` }));
    }
    const build = { thirdPartyId: 'frozen', parserId: 'evict-frozen', contentHash: '0001f00d' };
    const id = requestIdOf(build);
    // the worker that starts the build is frozen at once (its lease runs out while it sleeps)
    let frozen: KjlProcess | undefined;
    sink.onAttempt((event, path) => {
      if (frozen || event.type !== 'dev.kjl.build.started') return;
      frozen = workers[Number(/\/w(\d)$/.exec(path)![1])]!;
      frozen.child.kill('SIGSTOP');
    });
    await setup.publish([build]);
    // the other worker takes the build over, sees the eviction, and runs it again: this time it runs long
    await setup.waitForEvents('the eviction', (all) => ofType(all, 'failed', id).length >= 1, 30_000);
    stack.infra.cluster.controllers.setRules([
      { match: { labels: { 'kjl.dev/parser-id': 'evict-frozen' } }, action: 'succeed', seconds: 8 },
      ...TEST_RULES,
    ]);
    await setup.waitForEvents('the second run', (all) => ofType(all, 'started', id).length >= 2, 30_000);
    frozen!.child.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // newer content for the same target must wait for the second run: its target is held
    const newer = { ...build, contentHash: '0002f00d' };
    await setup.publish([newer]);
    await setup.waitForEvents(
      'the newer build',
      (all) => ofType(all, 'succeeded', requestIdOf(newer)).length === 1,
      60_000,
    );
    expect(overlaps(jobsOf(setup), byLabels('kjl.dev/third-party-id', 'kjl.dev/parser-id'))).toEqual([]);
    expect(ofType(sink.events, 'succeeded', id)).toHaveLength(1);
    // the second run's Job was never deleted by the worker that came back
    expect(
      jobsOf(setup).filter((job) => job.name === jobNameFor(build, setup.config.k8s.instance)),
    ).toHaveLength(2);
  });
});

describe('SQS delivering again the message of a build that already failed', () => {
  it('is a duplicate: the build does not run again', async () => {
    const sink = await recorder();
    const setup = await createSetup(
      stack.infra,
      {
        KJL_SQS_VISIBILITY_TIMEOUT_SECONDS: '4',
        KJL_SQS_HEARTBEAT_SECONDS: '2',
        KJL_WORKER_LOCK_SECONDS: '2',
      },
      { sink },
    );
    // the queued event is held: the intake is killed after Redis took the request, before its delete
    sink.set({ byType: { 'dev.kjl.build.queued': { latencyMs: 60_000 } } });
    const first = await stack.spawn(setup);
    const build = { thirdPartyId: 'again', parserId: 'invalid-again', contentHash: '0001a6a1' };
    const attempt = sink.nextAttempt('dev.kjl.build.queued');
    await stack.infra.client.send(
      new SendMessageCommand({ QueueUrl: setup.queueUrl, ...message(build, 'structured', 'm-again') }),
    );
    await attempt;
    await first.stop('SIGKILL');
    sink.set({});
    // a worker alone runs the build to its failure; only then does an intake take the message again
    await stack.spawn(setup, { KJL_ROLE: 'worker' });
    await setup.waitForEvents('the failure', (all) => ofType(all, 'failed', requestIdOf(build)).length === 1);
    const intake = await stack.spawn(setup, { KJL_ROLE: 'intake' });
    await waitFor('the message taken again', () => intake.output().includes('request accepted'), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(stack.infra.cluster.stats().jobsCreated[jobNameFor(build, setup.config.k8s.instance)]).toBe(1);
    expect(ofType(sink.events, 'started', requestIdOf(build))).toHaveLength(1);
  });
});

describe('a cancel while a started build has no worker', () => {
  it('deletes its Job at once, and the next worker announces the cancel', async () => {
    const setup = await createSetup(stack.infra, { KJL_WORKER_LOCK_SECONDS: '2' });
    const worker = await stack.spawn(setup);
    const build = { thirdPartyId: 'orphaned', parserId: 'long-orphaned', contentHash: '0001cafe' };
    const id = requestIdOf(build);
    const name = jobNameFor(build, setup.config.k8s.instance);
    await setup.publish([build]);
    await setup.waitForEvents('the start', (all) => ofType(all, 'started', id).length === 1);
    // a stop puts the build back in the queue as it is; its Job runs on, watched by nobody
    await worker.stop('SIGTERM');
    const cancel = await runKjl(['cancel', id], { env: setup.env });
    expect(cancel.stdout).toContain(`${id} cancelled`);
    await waitFor(
      'the Job deleted',
      () => !stack.infra.cluster.store.tryGet('jobs', setup.namespace, name),
      5000,
    );
    await stack.spawn(setup);
    await setup.waitForEvents('the cancellation', (all) => ofType(all, 'cancelled', id).length === 1, 20_000);
    expect(ofType(setup.events, 'succeeded', id)).toEqual([]);
  });
});
