import type { Redis } from 'ioredis';

/**
 * What would let Redis lose a request it has acknowledged, read from its own configuration: no
 * append-only file, an AOF not fsynced on every write, or eviction under memory pressure. An empty
 * list: nothing. Undefined: the server does not tell (CONFIG is disabled, as on some managed Redis).
 */
export async function durabilityProblems(redis: Redis): Promise<string[] | undefined> {
  let settings: Record<string, string>;
  try {
    const reply = (await redis.config('GET', '*')) as string[];
    settings = {};
    for (let index = 0; index + 1 < reply.length; index += 2) settings[reply[index]!] = reply[index + 1]!;
  } catch {
    return undefined;
  }
  const problems: string[] = [];
  if (settings.appendonly !== 'yes') {
    problems.push(
      `appendonly is ${settings.appendonly ?? 'unknown'} (needs yes: without the AOF a restart loses requests)`,
    );
  } else if (settings.appendfsync !== 'always') {
    problems.push(
      `appendfsync is ${settings.appendfsync ?? 'unknown'} (needs always: otherwise a machine crash loses the last writes)`,
    );
  }
  const maxmemory = Number(settings.maxmemory ?? 0);
  if (maxmemory > 0 && settings['maxmemory-policy'] !== 'noeviction') {
    problems.push(
      `maxmemory-policy is ${settings['maxmemory-policy']} (needs noeviction: eviction drops queue entries)`,
    );
  }
  return problems;
}
