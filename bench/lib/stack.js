import console from 'node:console';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';
import { startRuntime } from '../../dist/cli/runtime.js';
import { loadConfig } from '../../dist/config/config.js';
import { DEV_REGION, startEmbeddedSqs } from '../../dist/dev/embedded-sqs.js';
import { RedisServer } from '../../dist/dev/redis-server.js';
import { createSqsClient } from '../../dist/intake/sqs-client.js';
import { createLogger } from '../../dist/logger.js';

const logger = createLogger({ level: 'silent' });

/**
 * What every scenario shares: one redis-server child and a temporary folder. Scenarios add their
 * own SQS server, simulated cluster and runtime through `use`, which registers how to stop each;
 * `close` stops everything (also on SIGINT/SIGTERM) in reverse order.
 */
export class Stack {
  #cleanups = [];

  static async start() {
    const stack = new Stack();
    stack.dir = await mkdtemp(join(tmpdir(), 'kjl-bench-'));
    stack.#cleanups.push(() => rm(stack.dir, { recursive: true, force: true }));
    stack.redis = await RedisServer.start();
    stack.#cleanups.push(() => stack.redis.stop());
    return stack;
  }

  /** Registers `stop` to run on close (or earlier through the returned function). */
  use(stop) {
    let done = false;
    const once = async () => {
      if (done) return;
      done = true;
      await stop();
    };
    this.#cleanups.push(once);
    return once;
  }

  /** A fresh SQS-compatible server (fauxqs) with builds, builds-dlq, build-events, and a client. */
  async sqs() {
    const sqs = await startEmbeddedSqs({ port: 0, prefix: `b${randomUUID().slice(0, 6)}-` });
    const client = createSqsClient({ region: DEV_REGION, endpoint: sqs.endpoint });
    const stop = this.use(async () => {
      client.destroy();
      await sqs.stop();
    });
    return { ...sqs, client, stop };
  }

  /**
   * A simulated cluster in a child process (sim-cluster-process.js), its kubeconfig written into
   * the temporary folder. `created` / `done`: request id → epoch ms its Job was stored / finished.
   */
  async cluster(options) {
    const kubeconfigPath = join(this.dir, `kubeconfig-${randomUUID().slice(0, 8)}`);
    const child = fork(fileURLToPath(new URL('./sim-cluster-process.js', import.meta.url)), [
      JSON.stringify({ ...options, kubeconfigPath }),
    ]);
    const exited = once(child, 'exit');
    const created = new Map();
    const done = new Map();
    const statsWaiters = [];
    child.on('message', (message) => {
      if (message.type === 'created') created.set(message.id, message.at);
      if (message.type === 'done') done.set(message.id, message.at);
      if (message.type === 'stats') statsWaiters.shift()?.(message.stats);
    });
    const stop = this.use(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    });
    const [ready] = await Promise.race([
      once(child, 'message'),
      exited.then(([code]) => Promise.reject(new Error(`simulated cluster exited with code ${code}`))),
    ]);
    if (ready.type !== 'ready') throw new Error(`simulated cluster: unexpected ${ready.type}`);
    const stats = () =>
      new Promise((resolve) => {
        statsWaiters.push(resolve);
        child.send({ type: 'stats' });
      });
    return { url: ready.url, kubeconfigPath, created, done, stats, stop };
  }

  /** The whole launcher (`startRuntime`) with the bench's settings; `env` adds or overrides. */
  async runtime({ role, sqs, queueName, env = {} }) {
    const config = loadConfig({
      KJL_ROLE: role,
      AWS_REGION: DEV_REGION,
      KJL_SQS_ENDPOINT: sqs?.endpoint,
      KJL_SQS_QUEUE_URL: sqs?.queues.builds,
      KJL_SQS_DLQ_URL: sqs?.queues.buildsDlq,
      // the receive in flight is waited for on stop; 1 s keeps stops short (arrivals wake it anyway)
      KJL_SQS_WAIT_SECONDS: '1',
      KJL_REDIS_URL: this.redis.url,
      KJL_QUEUE_NAME: queueName,
      KJL_LOG_LEVEL: 'silent',
      ...env,
    });
    const runtime = await startRuntime(config, logger);
    const stop = this.use(() => runtime.stop());
    return { runtime, config, stop };
  }

  async close() {
    const cleanups = this.#cleanups.splice(0).reverse();
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`cleanup failed: ${error.message}`);
      }
    }
  }
}

/** Messages in a queue, visible or in flight. */
export async function depth(client, queueUrl) {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

/** A queue name no other scenario (or run) uses. */
export const queueName = (scenario) => `bench-${scenario}-${randomUUID().slice(0, 8)}`;
