import type { RedisOptions } from 'bullmq';

/**
 * How a process talks to Redis: `worker` waits out disconnections (commands are kept and sent once
 * Redis is back; BullMQ's blocking connections need that), `intake` fails a command at once while
 * disconnected (the message then stays in SQS), `command` also gives up connecting after a few
 * seconds (a one-shot command reports and exits).
 */
export type ConnectionMode = 'worker' | 'intake' | 'command';

const COMMAND_CONNECT_TIMEOUT_MS = 3000;

/** ioredis connection options from a `redis://[user:password@]host[:port][/db]` or `rediss://` URL. */
export function redisOptionsFor(url: string, mode: ConnectionMode): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  const base: RedisOptions = {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  switch (mode) {
    case 'worker':
      return {
        ...base,
        maxRetriesPerRequest: null,
        enableOfflineQueue: true,
        retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      };
    case 'intake':
      return {
        ...base,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (times: number) => Math.min(200 * 2 ** Math.min(times, 6), 5000),
      };
    case 'command':
      return {
        ...base,
        connectTimeout: COMMAND_CONNECT_TIMEOUT_MS,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: true,
        retryStrategy: () => null,
      };
  }
}
