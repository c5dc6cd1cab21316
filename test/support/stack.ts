import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRuntime, type Runtime, type RuntimeOptions } from '../../src/cli/runtime.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/dev/embedded-sqs.js';
import type { BuildEventData } from '../../src/events/build-events.js';
import { RedisServer } from '../../src/dev/redis-server.js';
import type { KubeletRule } from '../../src/dev/sim-cluster/controllers/index.js';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import type { KubeObject } from '../../src/dev/sim-cluster/store.js';
import { buildRequestMessage, sendMessages } from '../../src/intake/publisher.js';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { createLogger } from '../../src/logger.js';
import type { EventRecorder } from './event-recorder.js';
import { spawnKjl, type KjlProcess } from './cli.js';
import { waitFor } from './wait.js';

/** What the simulated builds do, by parser id prefix. */
export const TEST_RULES: KubeletRule[] = [
  { match: { labels: { 'kjl.dev/parser-id': 'hold-*' } }, action: 'succeed', seconds: 3 },
  { match: { labels: { 'kjl.dev/parser-id': 'long-*' } }, action: 'succeed', seconds: 8 },
  {
    match: { labels: { 'kjl.dev/parser-id': 'invalid-*' } },
    action: 'fail',
    exitCode: 1,
    seconds: 0.5,
    logs: [
      { after: 0.1, text: 'INFO[0000] RUN npm ci' },
      { after: 0.3, text: 'npm ERR! code EJSONPARSE' },
    ],
  },
  { match: { labels: { 'kjl.dev/parser-id': 'oom-*' } }, action: 'oom', seconds: 0.5 },
  { match: { labels: { 'kjl.dev/parser-id': 'evict-*' } }, action: 'evict', seconds: 0.5 },
  { match: { labels: { 'kjl.dev/parser-id': 'preempt-*' } }, action: 'preempt', seconds: 0.5 },
  { match: { labels: { 'kjl.dev/parser-id': 'pull-*' } }, action: 'pullError' },
  { match: { labels: { 'kjl.dev/parser-id': 'unsched-*' } }, action: 'unschedulable' },
  { match: { labels: { 'kjl.dev/parser-id': 'hang-*' } }, action: 'hang' },
  { match: {}, action: 'succeed', seconds: 0.5 },
];

/** A redis-server and an SQS-compatible server of the tests' own, and a cluster to build on. */
export interface BaseInfra {
  redis: RedisServer;
  sqs: EmbeddedSqs;
  client: SQSClient;
  kubeconfigPath: string;
  createNamespace(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The same with the simulated cluster, shared by a test file. */
export interface Infra extends BaseInfra {
  cluster: SimCluster;
}

/** Redis and SQS started for the tests; the cluster is the caller's (`kubeconfigPath`). */
export async function startBaseInfra(
  kubeconfigPath: string,
  createNamespace: (name: string) => Promise<void>,
): Promise<BaseInfra> {
  const redis = await RedisServer.start();
  const sqs = await startEmbeddedSqs();
  const client = createSqsClient({ region: 'us-east-1', endpoint: sqs.endpoint });
  return {
    redis,
    sqs,
    client,
    kubeconfigPath,
    createNamespace,
    async stop() {
      client.destroy();
      await sqs.stop();
      await redis.stop();
    },
  };
}

export async function startInfra(options: { rules?: KubeletRule[] } = {}): Promise<Infra> {
  const dir = await mkdtemp(join(tmpdir(), 'kjl-stack-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const cluster = await startSimCluster({
    rules: options.rules ?? TEST_RULES,
    kubeconfigPath,
    historySize: 100_000,
  });
  const base = await startBaseInfra(kubeconfigPath, async (name) => {
    cluster.store.create('namespaces', { metadata: { name }, status: { phase: 'Active' } });
  });
  return {
    ...base,
    cluster,
    async stop() {
      await base.stop();
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The Jobs or Pods of a setup's namespace, as the simulated cluster stores them. */
export function stored(infra: Infra, setup: Setup, resource: 'jobs' | 'pods'): KubeObject[] {
  return infra.cluster.store.list(resource, setup.namespace).items;
}

/** A received build CloudEvent (structured JSON from the events queue). */
export interface ReceivedEvent {
  id: string;
  type: string;
  time: string;
  data: BuildEventData;
}

/** Fresh queues (SQS and BullMQ) and a fresh namespace: one isolated launcher setup. */
export interface Setup {
  env: Record<string, string>;
  config: Config;
  namespace: string;
  queueUrl: string;
  eventsUrl: string;
  /** every event received so far, in arrival order */
  events: ReceivedEvent[];
  publish(requests: object[]): Promise<void>;
  /** polls the events queue until `predicate` holds for the events received */
  waitForEvents(
    what: string,
    predicate: (events: ReceivedEvent[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedEvent[]>;
}

export interface SetupOptions {
  /** build events go to this HTTP recorder instead of an SQS queue */
  sink?: EventRecorder;
  /** share the namespace of another setup (two launchers in one namespace) */
  namespace?: string;
}

export async function createSetup(
  infra: BaseInfra,
  env: Record<string, string> = {},
  options: SetupOptions = {},
): Promise<Setup> {
  const id = randomUUID().slice(0, 8);
  const namespace = options.namespace ?? `t-${id}`;
  if (!options.namespace) await infra.createNamespace(namespace);
  const queueUrl = infra.sqs.server.createQueue(`${id}-builds`).queueUrl;
  const dlqUrl = infra.sqs.server.createQueue(`${id}-builds-dlq`).queueUrl;
  const eventsUrl = infra.sqs.server.createQueue(`${id}-events`).queueUrl;
  const fullEnv: Record<string, string> = {
    KJL_SQS_QUEUE_URL: queueUrl,
    KJL_SQS_DLQ_URL: dlqUrl,
    KJL_SQS_ENDPOINT: infra.sqs.endpoint,
    KJL_SQS_WAIT_SECONDS: '1',
    KJL_EVENTS_SINK: options.sink?.url ?? eventsUrl,
    KJL_REDIS_URL: infra.redis.url,
    KJL_QUEUE_NAME: `q${id}`,
    KJL_NAMESPACE: namespace,
    KJL_KUBECONFIG: infra.kubeconfigPath,
    KJL_FAILURE_BACKOFF_SECONDS: '1',
    KJL_LOG_LEVEL: 'silent',
    ...env,
  };
  const events: ReceivedEvent[] = options.sink?.events ?? [];
  const drain = async () => {
    if (options.sink) return;
    for (;;) {
      const out = await infra.client.send(
        new ReceiveMessageCommand({ QueueUrl: eventsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (!out.Messages?.length) return;
      events.push(...out.Messages.map((m) => JSON.parse(m.Body!) as ReceivedEvent));
      await infra.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: eventsUrl,
          Entries: out.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  };
  return {
    env: fullEnv,
    config: loadConfig(fullEnv),
    namespace,
    queueUrl,
    eventsUrl,
    events,
    async publish(requests) {
      const attributes = { type: 'dev.kjl.build.requested', source: 'urn:kjl:test' };
      await sendMessages(
        infra.client,
        queueUrl,
        requests.map((request) => buildRequestMessage(request, 'structured', attributes)),
      );
    },
    async waitForEvents(what, predicate, timeoutMs = 30_000) {
      return waitFor(
        what,
        async () => {
          await drain();
          return predicate(events) ? events : undefined;
        },
        timeoutMs,
        100,
      );
    },
  };
}

/** The launcher in this process (role `all` unless the setup says otherwise). */
export async function startLauncher(setup: Setup, options: RuntimeOptions = {}): Promise<Runtime> {
  return startRuntime(setup.config, createLogger({ level: setup.config.log.level }), options);
}

export const ofType = (events: ReceivedEvent[], phase: string, requestId?: string) =>
  events.filter((e) => e.type === `dev.kjl.build.${phase}` && (!requestId || e.data.requestId === requestId));

/**
 * A test file's infrastructure (started before its tests, stopped after) and its launchers (each
 * stopped after the test that started it).
 */
export function useStack(options: { rules?: KubeletRule[] } = {}) {
  let infra: Infra | undefined;
  const running: Runtime[] = [];
  const children: KjlProcess[] = [];
  beforeAll(async () => {
    infra = await startInfra(options);
  });
  afterEach(async () => {
    infra?.cluster.faults.clear();
    await Promise.all([
      ...running.splice(0).map((runtime) => runtime.stop()),
      ...children.splice(0).map((child) => child.stop('SIGKILL')),
    ]);
  });
  afterAll(async () => {
    await infra?.stop();
  });
  return {
    get infra(): Infra {
      return infra!;
    },
    async launch(setup: Setup, options: RuntimeOptions = {}): Promise<Runtime> {
      const runtime = await startLauncher(setup, options);
      running.push(runtime);
      return runtime;
    },
    /**
     * A `kjl start` process on the setup's queues (killed after the test); resolves once it started.
     * `args` are its flags (default: any free HTTP port).
     */
    async spawn(
      setup: Setup,
      env: Record<string, string> = {},
      args: string[] = ['--http-port', '0'],
    ): Promise<KjlProcess> {
      const child = spawnKjl(['start', ...args], {
        env: { ...setup.env, KJL_LOG_LEVEL: 'info', ...env },
      });
      children.push(child);
      await child.waitFor(/kjl started/);
      return child;
    },
  };
}
