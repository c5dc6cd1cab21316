import console from 'node:console';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';
import { DEV_REGION, startEmbeddedSqs } from '../../dist/dev/embedded-sqs.js';
import { RedisServer } from '../../dist/dev/redis-server.js';
import { createSqsClient } from '../../dist/intake/sqs-client.js';

/**
 * What every scenario shares: one redis-server child (fsync always, as kjl dev runs it) and a
 * temporary folder. Scenarios add their own SQS server, simulated cluster and processes through
 * `use`, which registers how to stop each; `close` stops everything (also on SIGINT/SIGTERM) in
 * reverse order.
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

  /** A BullMQ queue handle for reading a launcher's queue (counts, entries); it writes nothing. */
  queue(name) {
    const queue = new Queue(name, { connection: { url: this.redis.url }, prefix: 'kjl' });
    this.use(() => queue.close());
    return queue;
  }

  /** Commands the Redis server has processed so far (its own counter). */
  async redisCommands() {
    const client = new Redis(this.redis.url);
    try {
      return Number(/total_commands_processed:(\d+)/.exec(await client.info('stats'))[1]);
    } finally {
      client.disconnect();
    }
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
