import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { runKjl } from '../support/cli.js';
import { createSetup, ofType, useStack } from '../support/stack.js';

const stack = useStack();
const SPY = fileURLToPath(new URL('../support/module-spy.mjs', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-spy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The environment that makes a kjl process record its imports of the Kubernetes client in `file`. */
const spied = (file: string) => ({ NODE_OPTIONS: `--import=${SPY}`, KJL_MODULE_SPY: join(dir, file) });
const loadedClient = async (file: string) =>
  existsSync(join(dir, file)) ? (await readFile(join(dir, file), 'utf8')).trim().split('\n') : [];

describe('what a process loads', () => {
  it('an intake, and a command about a queued build, never load the Kubernetes client; a worker does', async () => {
    // the cluster is configured (KJL_KUBECONFIG): the intake could reach it, it just never needs to
    const setup = await createSetup(stack.infra, { KJL_MAX_CONCURRENT_JOBS: '1' });
    await stack.spawn(setup, { KJL_ROLE: 'intake', ...spied('intake') });
    const request = { thirdPartyId: 'lazy', parserId: 'p', contentHash: 'a1b2c3d4e5f6' };
    await setup.publish([request]);
    await setup.waitForEvents('the request to be queued', (all) => ofType(all, 'queued').length === 1);
    const status = await runKjl(['status', requestIdOf(request)], {
      env: { ...setup.env, ...spied('status') },
    });
    expect(status.stdout).toContain('queued');
    expect(await loadedClient('intake')).toEqual([]);
    expect(await loadedClient('status')).toEqual([]);

    await stack.spawn(setup, { KJL_ROLE: 'worker', ...spied('worker') });
    await setup.waitForEvents('the build', (all) => ofType(all, 'succeeded').length === 1);
    expect(await loadedClient('worker')).toContain('@kubernetes/client-node');
  });

  it('a command whose cluster is optional goes on without it when the kubeconfig named cannot be read', async () => {
    const setup = await createSetup(stack.infra);
    // KUBECONFIG names a file this machine does not have (a stale shell setting)
    const { KJL_KUBECONFIG: _ours, ...env } = setup.env;
    const result = await runKjl(['status'], { cwd: dir, env: { ...env, KUBECONFIG: join(dir, 'missing') } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('builds:');
  });
});
