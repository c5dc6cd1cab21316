import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { loadConfig } from '../../src/config/config.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/dev/embedded-sqs.js';
import { RedisServer } from '../../src/dev/redis-server.js';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { createLogger } from '../../src/logger.js';
import { redisOptionsFor } from '../../src/queue/redis-options.js';
import { MESSAGE_FORMATS } from '../../src/intake/publisher.js';
import { receiveAll } from '../support/sqs.js';
import { INVALID_KINDS, idOf, message, validRequest } from '../support/messages.js';
import { waitFor } from '../support/wait.js';

const logger = createLogger({ level: 'silent' });
let redis: RedisServer;
let sqs: EmbeddedSqs;
let client: SQSClient;
let runtime: Runtime | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
  sqs = await startEmbeddedSqs();
  client = createSqsClient({ region: 'us-east-1', endpoint: sqs.endpoint });
});
afterAll(async () => {
  await sqs?.stop();
  await redis?.stop();
});
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

/** A runtime on fresh queues (random names), reading from SQS like `kjl start --role intake`. */
async function start(extra: Record<string, string> = {}) {
  const prefix = `t${randomUUID().slice(0, 8)}-`;
  const builds = sqs.server.createQueue(`${prefix}builds`).queueUrl;
  const dlq = sqs.server.createQueue(`${prefix}builds-dlq`).queueUrl;
  const config = loadConfig({
    KJL_ROLE: 'intake',
    KJL_SQS_QUEUE_URL: builds,
    KJL_SQS_DLQ_URL: dlq,
    KJL_SQS_ENDPOINT: sqs.endpoint,
    KJL_SQS_WAIT_SECONDS: '1',
    KJL_SQS_RETRY_BACKOFF_SECONDS: '1',
    KJL_REDIS_URL: redis.url,
    KJL_QUEUE_NAME: `${prefix}q`,
    ...extra,
  });
  runtime = await startRuntime(config, logger);
  return { builds, dlq, runtime, queueName: config.queue.name };
}

async function sendAll(queueUrl: string, entries: Omit<SendMessageBatchRequestEntry, 'Id'>[]) {
  for (let i = 0; i < entries.length; i += 10) {
    const batch = entries.slice(i, i + 10).map((entry, j) => ({ ...entry, Id: String(j) }));
    const out = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch }));
    expect(out.Failed ?? []).toEqual([]);
  }
}

async function depth(queueUrl: string): Promise<number> {
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

const drain = (queueUrl: string) => receiveAll(client, queueUrl);

/** The request ids waiting in the setup's queue, read straight from Redis. */
async function queuedIds(queueName: string): Promise<string[]> {
  const queue = new Queue(queueName, { connection: redisOptionsFor(redis.url, 'command'), prefix: 'kjl' });
  try {
    return (await queue.getJobs(['waiting', 'prioritized', 'delayed'])).map((job) => job.id!);
  } finally {
    await queue.close();
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

describe('intake from SQS into the durable queue', () => {
  it('takes 1,000 mixed messages: every valid request queued once, every invalid one dead-lettered with its code', async () => {
    const { builds, dlq, runtime: rt, queueName } = await start();
    const formats = MESSAGE_FORMATS;
    const requests = Array.from({ length: 400 }, (_, i) => validRequest(i));
    const entries = requests.flatMap((request, i) => [
      message(request, formats[i % 3]!, `a${i}`),
      message(request, formats[(i + 1) % 3]!, `b${i}`),
    ]);
    const expectedCodes: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const kind = INVALID_KINDS[i % INVALID_KINDS.length]!;
      entries.push(kind.make(i));
      expectedCodes[kind.code] = (expectedCodes[kind.code] ?? 0) + 1;
    }
    expect(entries).toHaveLength(1000);
    await sendAll(builds, shuffle(entries));

    await waitFor('the source queue to empty', async () => (await depth(builds)) === 0, 60_000);
    const ids = await queuedIds(queueName);
    expect(ids).toHaveLength(400);
    expect(new Set(ids)).toEqual(new Set(requests.map(idOf)));

    const deadLettered = await drain(dlq);
    const codes: Record<string, number> = {};
    for (const m of deadLettered) {
      const code = m.MessageAttributes?.['kjl-error-code']?.StringValue ?? 'none';
      codes[code] = (codes[code] ?? 0) + 1;
      expect(m.MessageAttributes?.['kjl-error-message']?.StringValue).toMatch(/^[a-zA-Z_.;]+[\w.;]*: .+/);
      expect(m.MessageAttributes?.['kjl-source-queue']?.StringValue).toBe(builds);
    }
    expect(codes).toEqual(expectedCodes);
    expect(rt.intake!.counts).toMatchObject({
      received: 1000,
      queued: 400,
      deduplicated: 400,
      invalid: 200,
      deadLettered: 200,
    });
  });

  it('keeps the original attributes and names the field in the dead-letter message', async () => {
    const { builds, dlq } = await start();
    await sendAll(builds, [
      {
        ...message({ thirdPartyId: 'acme', parserId: 'p1', contentHash: 'xyz' }, 'binary', 'x1'),
      },
    ]);
    const [dead] = await waitFor('the dead letter', async () => {
      const got = await drain(dlq);
      return got.length ? got : undefined;
    });
    expect(dead!.MessageAttributes?.['kjl-error-code']?.StringValue).toBe('KJL_INVALID_REQUEST');
    expect(dead!.MessageAttributes?.['kjl-error-message']?.StringValue).toBe(
      'data.contentHash: must be 8–128 hexadecimal characters (got "xyz")',
    );
    expect(dead!.MessageAttributes?.['ce-id']?.StringValue).toBe('evt-x1');
    expect(dead!.Body).toBe(JSON.stringify({ thirdPartyId: 'acme', parserId: 'p1', contentHash: 'xyz' }));
  });

  it('leaves invalid messages to the redrive policy when no DLQ is configured', async () => {
    const { builds, dlq } = await start({
      KJL_SQS_DLQ_URL: '',
      KJL_SQS_VISIBILITY_TIMEOUT_SECONDS: '30',
      KJL_SQS_HEARTBEAT_SECONDS: '10',
    });
    await sendAll(builds, [{ MessageBody: 'not json' }]);
    await waitFor('the message to be received', () => runtime!.intake!.counts.invalid >= 1);
    expect(await depth(builds)).toBe(1);
    expect(await drain(dlq)).toEqual([]);
  });

  it('loses and duplicates nothing when Redis stops mid-run and comes back', async () => {
    const { builds, runtime: rt, queueName } = await start();
    const requests = Array.from({ length: 150 }, (_, i) => validRequest(i, 'restart'));
    const entries = requests.flatMap((request, i) => [
      message(request, 'structured', `r${i}`),
      message(request, 'plain', `s${i}`),
    ]);
    await sendAll(builds, entries.slice(0, 100));
    await waitFor('some requests to be queued', () => rt.intake!.counts.queued > 10);
    await redis.halt(true); // a crash, not a clean shutdown
    await sendAll(builds, entries.slice(100));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await depth(builds)).toBeGreaterThan(0);
    await redis.restart();
    await waitFor('the source queue to empty', async () => (await depth(builds)) === 0, 60_000);
    const ids = await queuedIds(queueName);
    expect(ids.sort()).toEqual(requests.map(idOf).sort());
  });
});
