import type { Redis } from 'ioredis';

/** How long kjl's per-target and per-request records outlive their last write, at least. */
export const RECORD_TTL_MS = 8 * 24 * 3600 * 1000;
/** How long an interrupted requeue can be resumed by its message delivered again. */
const REQUEUE_MARK_MS = 3600 * 1000;

// Records ARGV id as the target's newest unless a later-sent one is: {previous newest, 1 if newest}.
const LATEST = `
local function record_latest(key, id, at, ttl)
  local prev = redis.call('HGET', key, 'latest') or ''
  local newest = 0
  if tonumber(at) >= tonumber(redis.call('HGET', key, 'latestAt') or '-1') then
    redis.call('HSET', key, 'latest', id, 'latestAt', at)
    newest = 1
  end
  redis.call('PEXPIRE', key, ttl)
  return {prev, newest}
end`;

const RECORD_LATEST = `${LATEST}
return record_latest(KEYS[1], ARGV[1], ARGV[2], ARGV[3])`;

// Claims run `name` of a request (a queue attempt, a superseded message): its number, the same
// every time it is claimed again.
const CLAIM = `
local function claim_run(counter, claims, name, ttl)
  local claimed = redis.call('HGET', claims, name)
  if claimed then return tonumber(claimed) end
  local run = redis.call('INCR', counter)
  redis.call('HSET', claims, name, run)
  redis.call('PEXPIRE', counter, ttl)
  redis.call('PEXPIRE', claims, ttl)
  return run
end`;

// A batch of requests taken in, in order. KEYS: the queue's wait list, then 5 per request: its
// target's record, its queue entry (BullMQ's job hash), its cancelled marker, its run counter, its
// claims. ARGV: ttl, then per request: id, sent at. Returns the wait list's length and, per request,
// {previous newest, newest, verdict, runs, claimed run}.
// Verdict 1 (fresh: no entry, not superseded, first of its id in the batch) clears a stale
// cancelled marker: its entry is added next. Verdict 2 (superseded, no entry) claims a run of its
// own for its notice, before the runs of the requests after it are read. 0: decided one by one.
const SUBMIT = `${LATEST}
${CLAIM}
local seen = {}
local out = {}
for i = 0, (#KEYS - 1) / 5 - 1 do
  local k = 1 + 5 * i
  local id, at = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local latest = record_latest(KEYS[k + 1], id, at, ARGV[1])
  local verdict, claimed = 0, 0
  if not seen[id] and redis.call('EXISTS', KEYS[k + 2]) == 0 then
    if latest[2] == 1 or latest[1] == id then
      verdict = 1
      redis.call('DEL', KEYS[k + 3])
    else
      verdict = 2
      claimed = claim_run(KEYS[k + 4], KEYS[k + 5], 'superseded-' .. at, ARGV[1])
    end
  end
  seen[id] = true
  out[i + 1] = {latest[1], latest[2], verdict, tonumber(redis.call('GET', KEYS[k + 4]) or '0'), claimed}
end
return {redis.call('LLEN', KEYS[1]), out}`;

const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current == false and ARGV[2] == '') or current == ARGV[2] then
  if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0`;

// KEYS: the request's run counter, its claims (queue attempt -> run); ARGV: queue attempt, ttl
const CLAIM_RUN = `${CLAIM}
return claim_run(KEYS[1], KEYS[2], ARGV[1], ARGV[2])`;

// KEYS: slots (zset: request id -> lease expiry), queue meta (the fleet's limit)
// ARGV: now, lease ms, fallback limit, self, unfinished request ids...
const RESERVE = `
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local self = ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], self) then
  redis.call('ZADD', KEYS[1], now + lease, self)
  return 1
end
local limit = tonumber(redis.call('HGET', KEYS[2], 'concurrency') or ARGV[3])
local count = redis.call('ZCARD', KEYS[1])
local running = false
for i = 5, #ARGV do
  local id = ARGV[i]
  if id == self then
    running = true
  elseif not redis.call('ZSCORE', KEYS[1], id) then
    count = count + 1
  end
end
if not running and count + 1 > limit then return 0 end
redis.call('ZADD', KEYS[1], now + lease, self)
return 1`;

interface RecordCommands {
  kjlRecordLatest(key: string, requestId: string, at: string, ttl: string): Promise<[string, number]>;
  kjlSubmit(
    keyCount: number,
    ...keysThenArgs: string[]
  ): Promise<[number, [string, number, number, number, number][]]>;
  kjlCompareAndSet(key: string, field: string, expected: string, next: string, ttl: string): Promise<number>;
  kjlReserve(slots: string, meta: string, ...args: string[]): Promise<number>;
  kjlClaimRun(counter: string, claims: string, queueAttempt: string, ttl: string): Promise<number>;
}

/** A request about to be queued: its target, id, send time and the key of its queue entry. */
export interface Submission {
  target: string;
  requestId: string;
  sentAt: number;
  entryKey: string;
}

/** What the records say of a submission: the target's previous newest, and what to do with it. */
export interface SubmissionRecord {
  previous?: string;
  /** the target's newest request now */
  newest: boolean;
  /**
   * `fresh`: no queue entry, not superseded, first of its id in the batch: its entry is to be
   * added; `superseded`: no entry, sent before the target's newest (its notice's run is claimed);
   * `decide`: one by one (it has an entry, or came earlier in the batch)
   */
  verdict: 'fresh' | 'superseded' | 'decide';
  /** runs the request has had, its superseded notice's included */
  runs: number;
  /** a superseded one's run (its notice's id) */
  claimed: number;
}

export interface TargetRecord {
  holder?: string;
  latest?: string;
  failedAt?: number;
}

/**
 * kjl's own records in Redis, next to the BullMQ queue, each a small key that expires
 * `RECORD_TTL_MS` after its last write:
 * - per target (`thirdPartyId/parserId`): the newest request (by send time), the request holding
 *   the target (never two Jobs for one target), the time of the last failure (backoff);
 * - per request: how many runs it has had (event ids stay unique across replays), whether it was
 *   cancelled;
 * - the slot reservations under the fleet's limit: a sorted set of request ids by lease expiry.
 */
export class RedisRecords {
  private readonly base: string;
  private readonly commands: RecordCommands;
  private readonly ttlMs: number;
  private readonly ttl: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    queueName: string,
    /** the BullMQ queue's meta key, where the global concurrency (the fleet's limit) is kept */
    private readonly metaKey: string,
    /** how long finished entries are kept: a request's run counter must outlive its entry */
    historyMs = 0,
  ) {
    this.base = `${prefix}:${queueName}:kjl`;
    this.ttlMs = Math.max(RECORD_TTL_MS, historyMs + 24 * 3600 * 1000);
    this.ttl = String(this.ttlMs);
    redis.defineCommand('kjlRecordLatest', { numberOfKeys: 1, lua: RECORD_LATEST });
    redis.defineCommand('kjlSubmit', { lua: SUBMIT });
    redis.defineCommand('kjlCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET });
    redis.defineCommand('kjlReserve', { numberOfKeys: 2, lua: RESERVE });
    redis.defineCommand('kjlClaimRun', { numberOfKeys: 2, lua: CLAIM_RUN });
    this.commands = redis as unknown as RecordCommands;
  }

  private targetKey(target: string): string {
    return `${this.base}:target:${target}`;
  }

  private get slotsKey(): string {
    return `${this.base}:slots`;
  }

  /**
   * Records `requestId` as the target's newest unless a later-sent one is: returns the previous
   * newest, and whether `requestId` is the newest now.
   */
  async recordLatest(
    target: string,
    requestId: string,
    sentAt: number,
  ): Promise<{ previous?: string; newest: boolean }> {
    const [previous, newest] = await this.commands.kjlRecordLatest(
      this.targetKey(target),
      requestId,
      String(sentAt),
      this.ttl,
    );
    return { ...(previous ? { previous } : {}), newest: newest === 1 };
  }

  /**
   * Records a batch of submissions as their targets' newest (each unless a later-sent one is) and
   * says which are new, in one script: the intake's single round trip before it adds entries. Also
   * reads how many entries wait in `waitKey` (the queue's wait list) before any of them is added.
   */
  async recordSubmissions(
    waitKey: string,
    submissions: readonly Submission[],
  ): Promise<{ waiting: number; records: SubmissionRecord[] }> {
    const keys = submissions.flatMap(({ target, requestId, entryKey }) => [
      this.targetKey(target),
      entryKey,
      `${this.base}:cancelled:${requestId}`,
      `${this.base}:run:${requestId}`,
      `${this.base}:claims:${requestId}`,
    ]);
    const args = submissions.flatMap(({ requestId, sentAt }) => [requestId, String(sentAt)]);
    const [waiting, rows] = await this.commands.kjlSubmit(
      keys.length + 1,
      waitKey,
      ...keys,
      this.ttl,
      ...args,
    );
    return {
      waiting,
      records: rows.map(([previous, newest, verdict, runs, claimed]) => ({
        ...(previous ? { previous } : {}),
        newest: newest === 1,
        verdict: verdict === 1 ? 'fresh' : verdict === 2 ? 'superseded' : 'decide',
        runs,
        claimed,
      })),
    };
  }

  async target(target: string): Promise<TargetRecord> {
    const fields = await this.redis.hgetall(this.targetKey(target));
    return {
      ...(fields.holder ? { holder: fields.holder } : {}),
      ...(fields.latest ? { latest: fields.latest } : {}),
      ...(fields.failedAt ? { failedAt: Number(fields.failedAt) } : {}),
    };
  }

  private compareAndSet(target: string, field: string, expected: string, next: string): Promise<number> {
    return this.commands.kjlCompareAndSet(this.targetKey(target), field, expected, next, this.ttl);
  }

  async acquire(target: string, requestId: string, stale?: string): Promise<boolean> {
    if (await this.compareAndSet(target, 'holder', '', requestId)) return true;
    if (await this.compareAndSet(target, 'holder', requestId, requestId)) return true;
    return stale !== undefined && (await this.compareAndSet(target, 'holder', stale, requestId)) === 1;
  }

  async release(target: string, requestId: string): Promise<void> {
    await this.compareAndSet(target, 'holder', requestId, '');
  }

  async recordFailure(target: string, at: number): Promise<void> {
    await this.redis
      .multi()
      .hset(this.targetKey(target), 'failedAt', String(at))
      .pexpire(this.targetKey(target), this.ttlMs)
      .exec();
  }

  async clearFailure(target: string): Promise<void> {
    await this.redis.hdel(this.targetKey(target), 'failedAt');
  }

  /**
   * The run number of a request's queue attempt: a new one (1, 2, … across retries and replays) the
   * first time the attempt claims one, the same one for every later claim of that attempt, whichever
   * worker makes it (a worker that took over a stalled entry, another that raced it).
   */
  async claimRun(requestId: string, queueAttempt: number | string): Promise<number> {
    return this.commands.kjlClaimRun(
      `${this.base}:run:${requestId}`,
      `${this.base}:claims:${requestId}`,
      String(queueAttempt),
      this.ttl,
    );
  }

  /**
   * Says that the message `messageId` is bringing a finished entry back (its data rewritten, then
   * the entry moved): until `requeued`, that message delivered again resumes the requeue instead of
   * being the duplicate of its own entry.
   */
  async requeueing(requestId: string, messageId: string): Promise<void> {
    await this.redis.set(`${this.base}:requeue:${requestId}`, messageId, 'PX', REQUEUE_MARK_MS);
  }

  async requeued(requestId: string): Promise<void> {
    await this.redis.del(`${this.base}:requeue:${requestId}`);
  }

  /** True while the message `messageId` is bringing the entry back (see `requeueing`). */
  async isRequeueing(requestId: string, messageId: string): Promise<boolean> {
    return (await this.redis.get(`${this.base}:requeue:${requestId}`)) === messageId;
  }

  /** Forgets a request's claims: its queue attempts start again from 0 (a replay). */
  async clearClaims(requestId: string): Promise<void> {
    await this.redis.del(`${this.base}:claims:${requestId}`);
  }

  async runCount(requestId: string): Promise<number> {
    return Number((await this.redis.get(`${this.base}:run:${requestId}`)) ?? 0);
  }

  async markCancelled(requestId: string): Promise<void> {
    await this.redis.set(`${this.base}:cancelled:${requestId}`, '1', 'PX', this.ttlMs);
  }

  async isCancelled(requestId: string): Promise<boolean> {
    return (await this.redis.exists(`${this.base}:cancelled:${requestId}`)) === 1;
  }

  async clearCancelled(requestId: string): Promise<void> {
    await this.redis.del(`${this.base}:cancelled:${requestId}`);
  }

  async reserve(
    requestId: string,
    unfinished: readonly string[],
    leaseMs: number,
    fallbackLimit: number,
  ): Promise<boolean> {
    const ids = [...new Set(unfinished)].filter(Boolean);
    const granted = await this.commands.kjlReserve(
      this.slotsKey,
      this.metaKey,
      String(Date.now()),
      String(leaseMs),
      String(fallbackLimit),
      requestId,
      ...ids,
    );
    return granted === 1;
  }

  /** Extends the leases of reservations that still exist (a released one is not brought back). */
  async renew(requestIds: readonly string[], leaseMs: number): Promise<void> {
    if (requestIds.length === 0) return;
    const until = Date.now() + leaseMs;
    await this.redis.zadd(this.slotsKey, 'XX', ...requestIds.flatMap((id) => [until, id]));
  }

  async releaseSlot(requestId: string): Promise<void> {
    await this.redis.zrem(this.slotsKey, requestId);
  }

  /** Every target's last failure, by a scan of the target records. */
  async failures(): Promise<{ target: string; failedAt: number }[]> {
    const prefix = `${this.base}:target:`;
    const found: { target: string; failedAt: number }[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await Promise.all(keys.map((key) => this.redis.hget(key, 'failedAt')));
      keys.forEach((key, index) => {
        if (values[index]) found.push({ target: key.slice(prefix.length), failedAt: Number(values[index]) });
      });
    } while (cursor !== '0');
    return found;
  }

  /** Marks a worker process alive for `ttlMs`; returns how many are alive. */
  async heartbeat(workerId: string, ttlMs: number): Promise<number> {
    const key = `${this.base}:workers`;
    const now = Date.now();
    const results = await this.redis
      .multi()
      .zadd(key, now + ttlMs, workerId)
      .zremrangebyscore(key, '-inf', now)
      .zcard(key)
      .pexpire(key, ttlMs * 2)
      .exec();
    return Number(results?.[2]?.[1] ?? 1);
  }

  async forgetWorker(workerId: string): Promise<void> {
    await this.redis.zrem(`${this.base}:workers`, workerId);
  }

  /** Held, unexpired reservations. */
  async reserved(): Promise<number> {
    return this.redis.zcount(this.slotsKey, Date.now(), '+inf');
  }
}
