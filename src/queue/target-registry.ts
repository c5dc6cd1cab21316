import type { Redis } from 'ioredis';

/**
 * kjl's own per-target and per-request records in Redis, next to the BullMQ queue:
 * - per target (`thirdPartyId/parserId`): the newest request (by send time), the request holding
 *   the target (never two Jobs for one target), the time of the last failure (backoff);
 * - per request: how many runs it has had (event ids stay unique across replays), and whether it
 *   was cancelled.
 */
export class TargetRegistry {
  private readonly base: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    queueName: string,
  ) {
    this.base = `${prefix}:${queueName}:kjl`;
    redis.defineCommand('kjlRecordLatest', {
      numberOfKeys: 1,
      lua: `local at = tonumber(redis.call('HGET', KEYS[1], 'latestAt') or '-1')
        if tonumber(ARGV[2]) >= at then
          redis.call('HSET', KEYS[1], 'latest', ARGV[1], 'latestAt', ARGV[2])
          return 1
        end
        return 0`,
    });
    redis.defineCommand('kjlCompareAndSet', {
      numberOfKeys: 1,
      lua: `local current = redis.call('HGET', KEYS[1], ARGV[1])
        if (current == false and ARGV[2] == '') or current == ARGV[2] then
          if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
          return 1
        end
        return 0`,
    });
  }

  private key(target: string): string {
    return `${this.base}:target:${target}`;
  }

  private compareAndSet(target: string, field: string, expected: string, next: string): Promise<number> {
    return (
      this.redis as unknown as { kjlCompareAndSet(key: string, ...args: string[]): Promise<number> }
    ).kjlCompareAndSet(this.key(target), field, expected, next);
  }

  /** Records `requestId` as the target's newest request unless a later-sent one is recorded. */
  async recordLatest(target: string, requestId: string, sentAt: number): Promise<void> {
    await (
      this.redis as unknown as { kjlRecordLatest(key: string, ...args: string[]): Promise<number> }
    ).kjlRecordLatest(this.key(target), requestId, String(sentAt));
  }

  async latest(target: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key(target), 'latest')) ?? undefined;
  }

  async holder(target: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key(target), 'holder')) ?? undefined;
  }

  /** Takes the target for `requestId` when free, already its own, or held by `stale`. */
  async acquire(target: string, requestId: string, stale?: string): Promise<boolean> {
    if (await this.compareAndSet(target, 'holder', '', requestId)) return true;
    const holder = await this.holder(target);
    if (holder === requestId) return true;
    return (
      stale !== undefined &&
      holder === stale &&
      (await this.compareAndSet(target, 'holder', stale, requestId)) === 1
    );
  }

  async release(target: string, requestId: string): Promise<void> {
    await this.compareAndSet(target, 'holder', requestId, '');
  }

  async recordFailure(target: string, at: number): Promise<void> {
    await this.redis.hset(this.key(target), 'failedAt', String(at));
  }

  async clearFailure(target: string): Promise<void> {
    await this.redis.hdel(this.key(target), 'failedAt');
  }

  async failedAt(target: string): Promise<number | undefined> {
    const value = await this.redis.hget(this.key(target), 'failedAt');
    return value === null ? undefined : Number(value);
  }

  /** The next run number of a request (1, 2, …): a new one per attempt, replays included. */
  async nextRun(requestId: string): Promise<number> {
    return this.redis.hincrby(`${this.base}:runs`, requestId, 1);
  }

  /** How many runs a request has had so far. */
  async runCount(requestId: string): Promise<number> {
    return Number((await this.redis.hget(`${this.base}:runs`, requestId)) ?? 0);
  }

  async markCancelled(requestId: string): Promise<void> {
    await this.redis.sadd(`${this.base}:cancelled`, requestId);
  }

  async isCancelled(requestId: string): Promise<boolean> {
    return (await this.redis.sismember(`${this.base}:cancelled`, requestId)) === 1;
  }

  async clearCancelled(requestId: string): Promise<void> {
    await this.redis.srem(`${this.base}:cancelled`, requestId);
  }
}
