import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BuildService } from '../../src/app/build-service.js';
import type { SubmitResult } from '../../src/app/ports.js';
import type { BuildNotice } from '../../src/build-notice.js';
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
  const notices: BuildNotice[] = [];
  const service = new BuildService({
    store,
    notify: async (notice) => {
      notices.push(notice);
    },
    failureBackoffMs: 1000,
    logger,
  });
  return { store, raw, service, notices };
}

/** Moves a waiting entry to BullMQ's failed set, as a build that failed for good. */
async function failEntry(url: string, raw: Queue<QueuedBuild>, requestId: string) {
  const client = new Redis(url);
  await client.lrem(raw.keys.wait!, 0, requestId);
  await client.zadd(raw.keys.failed!, Date.now(), requestId);
  client.disconnect();
}

/**
 * What the intake does with a batch: all of it taken, or all of it kept in SQS (to be delivered
 * again) when Redis fails.
 */
async function take(service: BuildService, batch: QueuedBuild[]) {
  try {
    return { results: await service.submitAll(batch), kept: [] as QueuedBuild[] };
  } catch {
    return { results: [] as SubmitResult[], kept: [...batch] };
  }
}

/** Delivers `kept` again, as SQS does, until Redis takes it. */
async function redeliver(service: BuildService, kept: QueuedBuild[]): Promise<SubmitResult[]> {
  for (let i = 0; ; i += 1) {
    const taken = await take(service, kept);
    if (taken.kept.length === 0) return taken.results;
    if (i > 100) throw new Error('Redis never took the batch again');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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
    await failEntry(redis.url, raw, finished.requestId);

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
      { status: 'superseded', requestId: between.requestId, by: newer.requestId, attempt: 1 },
    ]);
    expect(await raw.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('places a batch of new requests behind those waiting, as the wait list itself says', async () => {
    const { store } = await open();
    await store.submitAll([build(request('p', 'aaaa0101'), 1_000), build(request('q', 'aaaa0102'), 1_000)]);
    const batch = ['r', 's', 't'].map((target) => build(request(target, 'aaaa0103'), 2_000));
    const results = await store.submitAll(batch);
    expect(results.map(({ position }) => position)).toEqual([3, 4, 5]);
    for (const [index, { requestId }] of batch.entries()) {
      expect(await store.position(requestId)).toBe(results[index]!.position);
    }
  });

  it('keeps the batch order in the queue: a requeued entry ahead of a new one that came after it', async () => {
    const { raw, service } = await open();
    const earlier = build(request('f', 'aaaa0003'), 1_000);
    await take(service, [earlier]);
    await failEntry(redis.url, raw, earlier.requestId);
    const again = build(earlier.request, 2_000); // first in the batch: requeued
    const fresh = build(request('x', 'bbbb0003'), 2_000); // second in the batch: new
    const { results } = await take(service, [again, fresh]);
    expect(results.map(({ status }) => status)).toEqual(['requeued', 'queued']);
    expect((await raw.getWaiting()).map((job) => job.id)).toEqual([again.requestId, fresh.requestId]);
    expect(results[0]).toMatchObject({ position: 1 });
    expect(results[1]).toMatchObject({ position: 2 });
  });

  it('gives a request superseded and newest in one batch the run numbers its events will carry', async () => {
    const { store, service, notices } = await open();
    await take(service, [build(request('t', 'bbbb0002'), 2_000)]);
    const aOld = build(request('t', 'aaaa0002'), 1_000); // sent before B: superseded
    const aNew = build(request('t', 'aaaa0002'), 3_000); // the same request, sent after B: newest
    const { results } = await take(service, [aOld, aNew]);
    expect(results.map(({ status }) => status)).toEqual(['superseded', 'queued']);
    const ofA = notices.filter((notice) => notice.requestId === aOld.requestId);
    // the superseded message's `cancelled` takes run 1; the queued entry will start as run 2
    expect(ofA.map(({ phase, attempt }) => `${phase}-${attempt}`).sort()).toEqual([
      'cancelled-1',
      'queued-2',
    ]);
    expect(await store.claimRun(aNew.requestId, 0)).toBe(2);
  });
});

describe('Redis failing in the middle of a batch', () => {
  it('announces every request Redis took once it takes the batch again', async () => {
    const own = await RedisServer.start();
    try {
      const { store, raw, service, notices } = await open(own.url);
      const earlier = build(request('f', 'aaaa0001'), 1_000);
      await take(service, [earlier]);
      await failEntry(own.url, raw, earlier.requestId);
      notices.length = 0;
      const fresh = build(request('x', 'bbbb0001'), 2_000);
      const again = build(earlier.request, 2_000);
      // Redis stops as the second request of the batch is decided: the first is in Redis already
      const queue = (store as unknown as { queue: Queue<QueuedBuild> }).queue;
      const getJob = queue.getJob.bind(queue);
      queue.getJob = async (id: string) => {
        if (id === again.requestId) {
          queue.getJob = getJob;
          await own.halt();
        }
        return getJob(id);
      };
      const first = await take(service, [fresh, again]);
      expect(first.kept).toHaveLength(2);
      await own.restart();
      expect((await redeliver(service, first.kept)).map(({ status }) => status)).toEqual([
        'queued',
        'requeued',
      ]);
      const queued = notices.filter((notice) => notice.phase === 'queued');
      expect(queued.map(({ requestId, attempt }) => `${requestId}-${attempt}`).sort()).toEqual(
        [`${fresh.requestId}-1`, `${again.requestId}-1`].sort(),
      );
    } finally {
      await own.stop();
    }
  });

  it('resumes a requeue cut short: the message that asked for the new run is not taken for the one that queued the entry', async () => {
    const own = await RedisServer.start();
    try {
      const { store, raw, service } = await open(own.url);
      const earlier = build(request('f', 'aaaa0004'), 1_000);
      await take(service, [earlier]);
      await failEntry(own.url, raw, earlier.requestId);
      const again = build(earlier.request, 2_000);
      // Redis stops inside the requeue: the entry's data already names the new message, the entry
      // has not moved yet
      const records = (store as unknown as { records: { clearClaims(id: string): Promise<void> } }).records;
      const clearClaims = records.clearClaims.bind(records);
      records.clearClaims = async (id: string) => {
        records.clearClaims = clearClaims;
        await own.halt();
        return clearClaims(id);
      };
      expect((await take(service, [again])).kept).toHaveLength(1);
      await own.restart();
      expect((await redeliver(service, [again]))[0]?.status).toBe('requeued');
      expect((await store.entry(earlier.requestId))?.state).toBe('waiting');
    } finally {
      await own.stop();
    }
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
