import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { spawnKjl } from '../support/cli.js';
import { createSetup, useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/** When the API and the dashboard are served at all: `kjl start` without credentials, `kjl dev`. */

const stack = useStack();

describe('kjl start without credentials', () => {
  it('serves neither the API nor the dashboard, and says so once each', async () => {
    const setup = await createSetup(stack.infra);
    const child = await stack.spawn(setup, { KJL_API_TOKEN: '', KJL_DASHBOARD_USER: '' });
    const [, port] = await child.waitFor(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/);
    const lines = child
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    const off = lines.filter((line) => / off: /.test(line.msg));
    expect(off.map((line) => [line.level, line.msg])).toEqual([
      [30, 'HTTP API off: KJL_API_TOKEN is not set'],
      [30, 'dashboard off: KJL_DASHBOARD_USER and KJL_DASHBOARD_PASSWORD (or KJL_API_TOKEN) are not set'],
    ]);
    for (const path of ['/api/v1/fleet', '/api/v1/openapi.json', '/admin/queues']) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      expect([response.status, ((await response.json()) as { code: string }).code]).toEqual([
        404,
        'KJL_NO_ROUTE',
      ]);
    }
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });
});

describe('kjl dev', () => {
  it('prints the API and dashboard URLs and serves both on loopback without credentials', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kjl-dev-http-'));
    const dev = spawnKjl(['dev', '--sqs-port', '0', '--http-port', '0', '--log-level', 'warn'], {
      cwd: dir,
      env: { KJL_REDIS_URL: '', KJL_API_TOKEN: '', KJL_DASHBOARD_USER: '' },
    });
    try {
      const [, api] = await dev.waitFor(
        / {2}API {12}(http:\/\/127\.0\.0\.1:\d+\/api\/v1) \(no credentials: loopback only\)\n/,
      );
      const [, dashboard] = await dev.waitFor(/ {2}Dashboard {6}(http:\/\/127\.0\.0\.1:\d+\/admin\/queues) /);
      await dev.waitFor(/Ctrl-C stops everything/);
      const build = { thirdPartyId: 'dev', parserId: 'http', contentHash: '0123abcd' };
      const submitted = await fetch(`${api}/builds`, { method: 'POST', body: JSON.stringify(build) });
      expect(submitted.status).toBe(202);
      await waitFor('the build to succeed', async () => {
        const status = (await (await fetch(`${api}/builds/${requestIdOf(build)}`)).json()) as {
          state: string;
        };
        return status.state === 'succeeded';
      });
      const page = await fetch(dashboard!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>kjl builds</title>');
    } finally {
      expect(await dev.stop('SIGINT')).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
