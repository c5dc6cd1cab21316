import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requestDeletion } from '../../src/dev/sim-cluster/deletion.js';
import {
  DEV_RULES,
  kubeletRulesSchema,
  loadKubeletRules,
  type KubeletRule,
} from '../../src/dev/sim-cluster/controllers/index.js';
import type { Pod } from '../../src/dev/sim-cluster/controllers/kube-types.js';
import { ruleFor } from '../../src/dev/sim-cluster/controllers/kubelet-rules.js';
import { StatusError } from '../../src/dev/sim-cluster/status.js';
import {
  createJob,
  startHarness,
  waitFor,
  type Harness,
  type JobInput,
} from '../support/sim-controllers-harness.js';

let harness: Harness | undefined;
afterEach(() => harness?.stop());

/** The first pod state a watcher saw that satisfies `until` (short-lived states included). */
function seen(until: (pod: Pod) => boolean): Promise<Pod> {
  return waitFor(() =>
    harness!.changes
      .filter((c) => c.resource === 'pods')
      .map((c) => c.object as Pod)
      .find(until),
  );
}

/** Runs a one-pod Job under `rules` and waits until its pod satisfies `until`. */
async function podUnder(
  rules: KubeletRule[],
  until: (pod: Pod) => boolean,
  job: JobInput = {},
  timeScale = 1000,
): Promise<Pod> {
  harness = startHarness({ rules, timeScale });
  createJob(harness.store, 'job', { backoffLimit: 0, ...job });
  return seen(until);
}

const phase = (name: string) => (pod: Pod) => pod.status?.phase === name;
const CONTAINER_ID = /^containerd:\/\/[0-9a-f]{64}$/;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function expectPodConditions(pod: Pod, expected: Record<string, [string, string?]>): void {
  const actual = Object.fromEntries(
    (pod.status?.conditions ?? []).map((c) => [c.type, c.reason ? [c.status, c.reason] : [c.status]]),
  );
  expect(actual).toEqual(expected);
}

describe('kubelet rule actions', () => {
  it('succeed: Succeeded, terminated 0 Completed, node and IPs', async () => {
    const pod = await podUnder([{ action: 'succeed', seconds: 1 }], phase('Succeeded'));
    expect(pod.spec.nodeName).toBe('sim-node-1');
    expect(pod.status).toMatchObject({
      hostIP: expect.any(String),
      podIP: expect.stringMatching(/^10\.244\./),
    });
    expect(pod.status?.startTime).toMatch(TIME);
    const [status] = pod.status!.containerStatuses!;
    expect(status).toMatchObject({
      name: 'main',
      ready: false,
      started: false,
      restartCount: 0,
      lastState: {},
    });
    expect(status!.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(status!.state.terminated!.containerID).toMatch(CONTAINER_ID);
    expect(status!.state.terminated!.startedAt).toMatch(TIME);
    expect(status!.state.terminated!.finishedAt).toMatch(TIME);
    expectPodConditions(pod, {
      Initialized: ['True'],
      Ready: ['False', 'PodCompleted'],
      ContainersReady: ['False', 'PodCompleted'],
      PodScheduled: ['True'],
    });
  });

  it('runs a container first: Pending/ContainerCreating, then Running and ready', async () => {
    const creating = await podUnder([{ action: 'hang' }], (p) => !!p.status?.containerStatuses);
    expect(creating.status?.phase).toBe('Pending');
    expect(creating.status?.containerStatuses?.[0]?.state).toEqual({
      waiting: { reason: 'ContainerCreating' },
    });
    expectPodConditions(creating, {
      Initialized: ['True'],
      Ready: ['False', 'ContainersNotReady'],
      ContainersReady: ['False', 'ContainersNotReady'],
      PodScheduled: ['True'],
    });
    expect(creating.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe(
      'containers with unready status: [main]',
    );
    const running = await seen(phase('Running'));
    expect(running.status?.containerStatuses?.[0]).toMatchObject({
      ready: true,
      started: true,
      state: { running: { startedAt: expect.stringMatching(TIME) } },
      containerID: expect.stringMatching(CONTAINER_ID),
    });
    expectPodConditions(running, {
      Initialized: ['True'],
      Ready: ['True'],
      ContainersReady: ['True'],
      PodScheduled: ['True'],
    });
  });

  it('fail: Failed, terminated with the exit code and reason Error', async () => {
    const pod = await podUnder([{ action: 'fail', exitCode: 3, seconds: 1 }], phase('Failed'));
    expect(pod.status?.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 3,
      reason: 'Error',
    });
    expectPodConditions(pod, {
      Initialized: ['True'],
      Ready: ['False', 'PodFailed'],
      ContainersReady: ['False', 'PodFailed'],
      PodScheduled: ['True'],
    });
  });

  it('oom: Failed, terminated 137 OOMKilled', async () => {
    const pod = await podUnder([{ action: 'oom', seconds: 1 }], phase('Failed'));
    expect(pod.status?.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 137,
      reason: 'OOMKilled',
    });
  });

  it('evict: Failed/Evicted with a DisruptionTarget condition (TerminationByKubelet)', async () => {
    const pod = await podUnder([{ action: 'evict', seconds: 1 }], phase('Failed'));
    expect(pod.status?.reason).toBe('Evicted');
    expect(pod.status?.message).toMatch(/^The node was low on resource: memory\. /);
    expect(pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({
      status: 'True',
      reason: 'TerminationByKubelet',
      message: pod.status?.message,
    });
    expect(pod.status?.containerStatuses?.[0]?.state.terminated?.exitCode).toBe(137);
  });

  it('preempt: DisruptionTarget PreemptionByScheduler, then deleted and Failed', async () => {
    const pod = await podUnder([{ action: 'preempt', seconds: 1 }], phase('Failed'));
    expect(pod.metadata.deletionTimestamp).toBeDefined();
    expect(pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({
      status: 'True',
      reason: 'PreemptionByScheduler',
    });
    expect(pod.status?.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 143,
      reason: 'Error',
    });
  });

  it('pullError: Pending with ErrImagePull, then ImagePullBackOff for good', async () => {
    const pulling = await podUnder(
      [{ action: 'pullError' }],
      (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'ErrImagePull',
      { containers: [{ name: 'main', image: 'registry.local/missing:1' }] },
    );
    expect(pulling.status?.phase).toBe('Pending');
    const backOff = await seen(
      (p) => p.status?.containerStatuses?.[0]?.state.waiting?.reason === 'ImagePullBackOff',
    );
    expect(backOff.status?.phase).toBe('Pending');
    expect(backOff.status?.containerStatuses?.[0]?.state.waiting?.message).toBe(
      'Back-off pulling image "registry.local/missing:1"',
    );
  });

  it('unschedulable: Pending with PodScheduled False and the scheduler message', async () => {
    const pod = await podUnder([{ action: 'unschedulable' }], (p) => !!p.status?.conditions?.length);
    expect(pod.spec.nodeName).toBeUndefined();
    expect(pod.status).toEqual({
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          lastProbeTime: null,
          lastTransitionTime: expect.stringMatching(TIME),
          reason: 'Unschedulable',
          message:
            '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
        },
      ],
    });
  });

  it('hang: runs until deleted, then is killed (137) after the grace period and removed', async () => {
    const pod = await podUnder([{ action: 'hang' }], phase('Running'));
    const { store, clock } = harness!;
    requestDeletion(store, clock, 'pods', 'default', pod.metadata.name!, { gracePeriodSeconds: 5 });
    const killed = await seen(phase('Failed'));
    expect(killed.status?.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 137,
      reason: 'Error',
    });
    await waitFor(() => !store.tryGet('pods', 'default', pod.metadata.name!));
  });

  it('ends a sidecar with the main container so that the pod terminates', async () => {
    const pod = await podUnder([{ action: 'succeed', container: 'build', seconds: 1 }], phase('Succeeded'), {
      containers: [
        { name: 'monitor', image: 'monitor:1' },
        { name: 'build', image: 'kaniko:1' },
      ],
    });
    expect(pod.status?.containerStatuses?.map((s) => [s.name, s.state.terminated?.exitCode])).toEqual([
      ['monitor', 0],
      ['build', 0],
    ]);
  });
});

describe('rule matching', () => {
  const pod = (labels: Record<string, string>, image = 'busybox', env: Record<string, string> = {}): Pod => ({
    metadata: { name: 'p', labels, annotations: { team: 'builds' } },
    spec: {
      containers: [
        { name: 'main', image, env: Object.entries(env).map(([name, value]) => ({ name, value })) },
      ],
    },
  });

  it('matches labels, annotations, image and env by glob; first match wins; falls back to succeed', () => {
    const rules = kubeletRulesSchema.parse([
      { name: 'label', match: { labels: { app: 'invalid-*' } }, action: 'fail' },
      { name: 'both', match: { labels: { app: 'x?' }, annotations: { team: 'build*' } }, action: 'oom' },
      { name: 'image', match: { image: '*/kaniko:*' }, action: 'hang' },
      { name: 'env', match: { env: { MODE: 'slow' } }, action: 'succeed', seconds: 60 },
      { name: 'later', match: { labels: { app: 'invalid-b' } }, action: 'evict' },
    ]);
    expect(ruleFor(rules, pod({ app: 'invalid-b' })).name).toBe('label');
    expect(ruleFor(rules, pod({ app: 'xy' })).name).toBe('both');
    expect(ruleFor(rules, pod({ app: 'xyz' })).name).toBe('fallback');
    expect(ruleFor(rules, pod({}, 'gcr.io/kaniko:v1')).name).toBe('image');
    expect(ruleFor(rules, pod({}, 'busybox', { MODE: 'slow' })).name).toBe('env');
    expect(ruleFor(rules, pod({})).action).toBe('succeed');
  });

  it('keys DEV_RULES on the kjl.dev/parser-id label', () => {
    const actionFor = (id: string) => ruleFor(DEV_RULES, pod({ 'kjl.dev/parser-id': id })).action;
    expect(['invalid-1', 'oom-1', 'evict-1', 'pull-1', 'slow-1', 'csv'].map(actionFor)).toEqual([
      'fail',
      'oom',
      'evict',
      'pullError',
      'succeed',
      'succeed',
    ]);
    expect(ruleFor(DEV_RULES, pod({ 'kjl.dev/parser-id': 'slow-1' })).seconds).toBe(60);
  });

  it('loads rules from YAML or JSON and reports every violation at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kjl-rules-'));
    const yaml = join(dir, 'rules.yaml');
    writeFileSync(
      yaml,
      [
        '- match: { labels: { kjl.dev/parser-id: "oom-*" } }',
        '  action: oom',
        '  seconds: 3',
        '  logs:',
        '    - { after: 1, text: "INFO[0001] Unpacking rootfs" }',
        '- action: succeed',
      ].join('\n'),
    );
    expect(loadKubeletRules(yaml)).toEqual([
      {
        match: { labels: { 'kjl.dev/parser-id': 'oom-*' } },
        action: 'oom',
        seconds: 3,
        logs: [{ after: 1, text: 'INFO[0001] Unpacking rootfs' }],
      },
      { action: 'succeed' },
    ]);
    const json = join(dir, 'rules.json');
    writeFileSync(
      json,
      JSON.stringify([{ action: 'explode' }, { action: 'succeed', exitCode: 2, seconds: -1 }]),
    );
    expect(() => loadKubeletRules(json)).toThrow(/0\.action[\s\S]*1\.seconds[\s\S]*1\.exitCode/);
  });
});

describe('pod logs', () => {
  const rules: KubeletRule[] = [
    {
      action: 'fail',
      seconds: 3,
      logs: [
        { after: 0, text: 'starting' },
        { after: 1, text: 'working' },
        { after: 2, text: 'boom' },
        { after: 1, text: 'sidecar up', container: 'monitor' },
      ],
    },
  ];

  it('reads the current and previous run of a restarted container', async () => {
    const pod = await podUnder(rules, (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, {
      restartPolicy: 'OnFailure',
      backoffLimit: 6,
    });
    const logs = harness!.controllers.logs;
    const previous = logs.read('default', pod.metadata.name!, undefined, { previous: true });
    expect(previous).toEqual({ lines: expect.any(Array), finished: true });
    expect(previous.lines.map((l) => l.text)).toEqual(['starting', 'working', 'boom']);
    expect(previous.lines[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const current = logs.read('default', pod.metadata.name!, 'main', {});
    expect(current.lines.length).toBeLessThanOrEqual(3);
  });

  it('follows a container until it exits', async () => {
    const pod = await podUnder(rules, phase('Running'));
    const lines: string[] = [];
    await new Promise<void>((resolve) => {
      harness!.controllers.logs.follow(
        'default',
        pod.metadata.name!,
        'main',
        (line) => lines.push(line.text),
        resolve,
      );
    });
    expect(lines).toEqual(['starting', 'working', 'boom']);
    const after = harness!.controllers.logs.read('default', pod.metadata.name!, undefined, {});
    expect(after.finished).toBe(true);
  });

  it('answers the API server’s pod log errors', async () => {
    const pod = await podUnder(
      [{ action: 'pullError' }],
      (p) => !!p.status?.containerStatuses,
      {
        containers: [
          { name: 'kaniko', image: 'missing:1' },
          { name: 'monitor', image: 'monitor:1' },
        ],
      },
      // slow enough to read the logs while the container is still being created
      10,
    );
    const { logs } = harness!.controllers;
    const name = pod.metadata.name!;
    const error = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err instanceof StatusError ? [err.code, err.message] : err;
      }
      return undefined;
    };
    expect(error(() => logs.read('default', name, undefined, {}))).toEqual([
      400,
      `a container name must be specified for pod ${name}, choose one of: [kaniko monitor]`,
    ]);
    expect(error(() => logs.read('default', name, 'c', {}))).toEqual([
      400,
      `container c is not valid for pod ${name}`,
    ]);
    expect(error(() => logs.read('default', 'nope', 'c', {}))).toEqual([404, 'pods "nope" not found']);
    expect(error(() => logs.read('default', name, 'kaniko', {}))).toEqual([
      400,
      `container "kaniko" in pod "${name}" is waiting to start: ContainerCreating`,
    ]);
    await waitFor(
      () =>
        (harness!.store.tryGet('pods', 'default', name) as Pod | undefined)?.status?.containerStatuses?.[0]
          ?.state.waiting?.reason === 'ErrImagePull',
    );
    expect(error(() => logs.read('default', name, 'kaniko', {}))).toEqual([
      400,
      `container "kaniko" in pod "${name}" is waiting to start: image can't be pulled`,
    ]);
    await waitFor(
      () =>
        (harness!.store.tryGet('pods', 'default', name) as Pod | undefined)?.status?.containerStatuses?.[0]
          ?.state.waiting?.reason === 'ImagePullBackOff',
    );
    expect(error(() => logs.read('default', name, 'kaniko', {}))).toEqual([
      400,
      `container "kaniko" in pod "${name}" is waiting to start: trying and failing to pull image`,
    ]);
    expect(error(() => logs.read('default', name, 'kaniko', { previous: true }))).toEqual([
      400,
      `previous terminated container "kaniko" in pod "${name}" not found`,
    ]);
    // the sidecar runs although the main container cannot start: its logs are readable
    expect(logs.read('default', name, 'monitor', {}).finished).toBe(false);
  });
});
