import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { runKjl, spawnKjl, type KjlProcess } from './cli.js';

/**
 * `kjl dev` in a temporary folder of its own for a test file (with its own redis-server and any
 * free ports), started before its tests and stopped with Ctrl-C after them (it must exit 0); `kjl`
 * runs a command in that folder, as an operator would next to `kjl dev`.
 */
export function useKjlDev(name: string, env: NodeJS.ProcessEnv = {}) {
  let dir = '';
  let dev: KjlProcess | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `kjl-${name}-`));
    dev = spawnKjl(['dev', '--sqs-port', '0', '--http-port', '0', '--log-level', 'warn'], {
      cwd: dir,
      env: { KJL_REDIS_URL: '', ...env },
    });
    await dev.waitFor(/Ctrl-C stops everything/);
  });
  afterAll(async () => {
    expect(await dev?.stop('SIGINT')).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });
  return {
    /** the folder `kjl dev` runs in (its state in `.kjl/`) */
    get dir(): string {
      return dir;
    },
    kjl: (...args: string[]) => runKjl(args, { cwd: dir }),
  };
}
