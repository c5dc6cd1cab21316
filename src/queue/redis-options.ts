import type { RedisOptions } from 'bullmq';

/**
 * ioredis connection options from a `redis://[user:password@]host[:port][/db]` or `rediss://` URL.
 * `failFast`: commands fail at once while disconnected instead of waiting (the intake then backs
 * off and leaves its messages in SQS); BullMQ workers need the opposite (blocking connections).
 */
export function redisOptionsFromUrl(url: string, failFast: boolean): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(failFast
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { maxRetriesPerRequest: null, enableOfflineQueue: true }),
    retryStrategy: (times: number) => Math.min(200 * 2 ** Math.min(times, 6), 5000),
  };
}
