import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf, type BuildRequest, type QueuedBuild } from '../../src/build-request.js';
import { queueOptions } from '../../src/cli/runtime.js';
import { loadConfig } from '../../src/config/config.js';
import { RedisServer } from '../../src/dev/redis-server.js';
import { createLogger } from '../../src/logger.js';
import { BuildQueue } from '../../src/queue/build-queue.js';
import { redisOptionsFor } from '../../src/queue/redis-options.js';

const logger = createLogger({ level: 'silent' });
let redis: RedisServer;
const opened: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((queue) => queue.close()));
});
afterAll(async () => {
  await redis?.stop();
});

/** A store on a fresh queue, as the intake opens it, and BullMQ's own view of the same queue. */
async function open(url = redis.url) {
  const config = loadConfig(
    { KJL_REDIS_URL: url, KJL_QUEUE_NAME: `q${randomUUID().slice(0, 8)}` },
    {},
    'command',
  );
  const store = await BuildQueue.open(queueOptions(config, logger, 'intake', false));
  const raw = new Queue<QueuedBuild>(config.queue.name, {
    connection: redisOptionsFor(url, 'command'),
    prefix: config.queue.prefix,
  });
  opened.push(store, raw);
  return { store, raw };
}

let sequence = 0;
function build(request: BuildRequest, sentAt: number): QueuedBuild {
  sequence += 1;
  return {
    requestId: requestIdOf(request),
    request,
    origin: {
      eventId: `e${sequence}`,
      eventSource: 'urn:test',
      eventType: 'dev.kjl.build.requested',
      messageId: `m${sequence}`,
      sentAt,
      receivedAt: sentAt,
    },
  };
}

const request = (thirdPartyId: string, contentHash: string): BuildRequest =>
  ({ thirdPartyId, parserId: 'p', contentHash }) as BuildRequest;

describe('submitting a batch', () => {
  it('adds the new requests at once and decides the others one by one, in the batch order', async () => {
    const { store, raw } = await open();
    const waiting = build(request('w', 'aaaa0001'), 1_000);
    const finished = build(request('f', 'aaaa0002'), 1_000);
    await store.submitAll([waiting, finished]);
    // `finished` failed for good: a new message for it runs it again
    const failedJob = await raw.getJob(finished.requestId);
    const client = new Redis(redis.url);
    await client.lrem(raw.keys.wait!, 0, finished.requestId);
    await client.zadd(raw.keys.failed!, Date.now(), finished.requestId);
    client.disconnect();
    expect(await failedJob!.getState()).toBe('failed');

    const fresh = build(request('a', 'aaaa0003'), 2_000);
    const newer = build(request('b', 'bbbb0002'), 3_000);
    const older = build(request('b', 'bbbb0001'), 2_500);
    const batch = [
      fresh,
      { ...fresh, origin: { ...fresh.origin, messageId: 'again' } }, // the same request twice in one batch
      newer,
      older, // sent before its target's newest, which came earlier in the batch
      build(waiting.request, 2_000), // its entry is waiting
      build(finished.request, 2_000), // its entry failed
    ];
    const results = await store.submitAll(batch);
    expect(results.map(({ status }) => status)).toEqual([
      'queued',
      'duplicate',
      'queued',
      'superseded',
      'duplicate',
      'requeued',
    ]);
    expect(results[3]).toMatchObject({ by: newer.requestId });
    expect(results.map(({ requestId }) => requestId)).toEqual(batch.map(({ requestId }) => requestId));

    // from Redis: one entry per request, none for the superseded one; the places count from the next
    const ids = (await raw.getWaiting()).map((job) => job.id);
    expect(ids).toEqual([waiting.requestId, fresh.requestId, newer.requestId, finished.requestId]);
    expect(results[0]).toMatchObject({ position: 2, attempt: 1 });
    expect(results[2]).toMatchObject({ position: 3, attempt: 1 });
    expect(results[5]).toMatchObject({ position: 4 });
    expect(await store.position(waiting.requestId)).toBe(1);
    expect(await raw.getJob(older.requestId)).toBeUndefined();
  });

  it('keeps the newest of a target by send time whatever the order of the batch', async () => {
    const { store, raw } = await open();
    const older = build(request('t', 'cccc0001'), 1_000);
    const newer = build(request('t', 'cccc0002'), 2_000);
    const results = await store.submitAll([older, newer]);
    // both taken in; the older one is superseded when its turn comes (the worker decides)
    expect(results.map(({ status }) => status)).toEqual(['queued', 'queued']);
    const between = build(request('t', 'cccc0003'), 1_800);
    expect(await store.submitAll([between])).toEqual([
      { status: 'superseded', requestId: between.requestId, by: newer.requestId },
    ]);
    expect(await raw.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('fails as a whole, naming Redis, when Redis is gone', async () => {
    const own = await RedisServer.start();
    const { store } = await open(own.url);
    await own.stop();
    await expect(store.submitAll([build(request('x', 'dddd0001'), 1)])).rejects.toMatchObject({
      code: 'KJL_QUEUE_UNAVAILABLE',
      message: expect.stringContaining('127.0.0.1'),
    });
  });
});
