import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/dev/embedded-sqs.js';
import { RedisServer } from '../../src/dev/redis-server.js';
import type { KubeletRule } from '../../src/dev/sim-cluster/controllers/index.js';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import type { KubeObject } from '../../src/dev/sim-cluster/store.js';
import { buildRequestMessage, sendMessages } from '../../src/intake/publisher.js';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { createLogger } from '../../src/logger.js';
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

/** One redis-server, one SQS-compatible server and one simulated cluster, shared by a test file. */
export interface Infra {
  redis: RedisServer;
  sqs: EmbeddedSqs;
  cluster: SimCluster;
  client: SQSClient;
  kubeconfigPath: string;
  stop(): Promise<void>;
}

export async function startInfra(options: { rules?: KubeletRule[] } = {}): Promise<Infra> {
  const dir = await mkdtemp(join(tmpdir(), 'kjl-stack-'));
  const redis = await RedisServer.start();
  const sqs = await startEmbeddedSqs();
  const kubeconfigPath = join(dir, 'kubeconfig');
  const cluster = await startSimCluster({
    rules: options.rules ?? TEST_RULES,
    kubeconfigPath,
    historySize: 100_000,
  });
  const client = createSqsClient({ region: 'us-east-1', endpoint: sqs.endpoint });
  return {
    redis,
    sqs,
    cluster,
    client,
    kubeconfigPath,
    async stop() {
      client.destroy();
      await cluster.stop();
      await sqs.stop();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A received build CloudEvent (structured JSON from the events queue). */
export interface ReceivedEvent {
  id: string;
  type: string;
  time: string;
  data: {
    requestId: string;
    attempt: number;
    jobName?: string;
    reason?: string;
    message?: string;
    exitCode?: number;
    retryable?: boolean;
    willRetry?: boolean;
    queuePosition?: number;
    durationMs?: number;
    image?: string;
  };
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
  /** the namespace's Jobs and Pods as the simulated cluster stores them */
  jobs(): KubeObject[];
  pods(): KubeObject[];
}

export async function createSetup(infra: Infra, env: Record<string, string> = {}): Promise<Setup> {
  const id = randomUUID().slice(0, 8);
  const namespace = `t-${id}`;
  infra.cluster.store.create('namespaces', { metadata: { name: namespace }, status: { phase: 'Active' } });
  const queueUrl = infra.sqs.server.createQueue(`${id}-builds`).queueUrl;
  const dlqUrl = infra.sqs.server.createQueue(`${id}-builds-dlq`).queueUrl;
  const eventsUrl = infra.sqs.server.createQueue(`${id}-events`).queueUrl;
  const fullEnv: Record<string, string> = {
    KJL_SQS_QUEUE_URL: queueUrl,
    KJL_SQS_DLQ_URL: dlqUrl,
    KJL_SQS_ENDPOINT: infra.sqs.endpoint,
    KJL_SQS_WAIT_SECONDS: '1',
    KJL_EVENTS_SINK: eventsUrl,
    KJL_REDIS_URL: infra.redis.url,
    KJL_QUEUE_NAME: `q${id}`,
    KJL_NAMESPACE: namespace,
    KJL_KUBECONFIG: infra.kubeconfigPath,
    KJL_FAILURE_BACKOFF_SECONDS: '1',
    KJL_LOG_LEVEL: 'silent',
    ...env,
  };
  const events: ReceivedEvent[] = [];
  const drain = async () => {
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
  const inNamespace = (resource: 'jobs' | 'pods') => infra.cluster.store.list(resource, namespace).items;
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
    jobs: () => inNamespace('jobs'),
    pods: () => inNamespace('pods'),
  };
}

/** The launcher in this process (role `all` unless the setup says otherwise). */
export async function startLauncher(setup: Setup): Promise<Runtime> {
  return startRuntime(setup.config, createLogger({ level: setup.config.log.level }));
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
  beforeAll(async () => {
    infra = await startInfra(options);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((runtime) => runtime.stop()));
  });
  afterAll(async () => {
    await infra?.stop();
  });
  return {
    get infra(): Infra {
      return infra!;
    },
    async launch(setup: Setup): Promise<Runtime> {
      const runtime = await startLauncher(setup);
      running.push(runtime);
      return runtime;
    },
  };
}
