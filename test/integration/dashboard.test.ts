import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { createSetup, useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) on a real
 * launcher: refused without credentials, the builds queue with its counts, a failed build with its
 * reason and log tail, and read-only by default. Its API is checked directly where the UI has
 * no button to press.
 */

const USER = 'operator';
const PASSWORD = 'correct-horse-battery';
const TOKEN = 'dashboard-token-0123456789';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const stack = useStack();
const contexts: { context: BrowserContext; dir: string }[] = [];
afterEach(async () => {
  for (const { context, dir } of contexts.splice(0)) {
    await context.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/** A fresh browser profile, with the dashboard's credentials or none. */
async function browser(credentials?: { username: string; password: string }): Promise<BrowserContext> {
  const dir = await mkdtemp(join(tmpdir(), 'kjl-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    ...(credentials ? { httpCredentials: credentials } : {}),
  });
  contexts.push({ context, dir });
  return context;
}

/** A launcher with the dashboard, one build that succeeded and one that failed. */
async function launchWithBuilds(env: Record<string, string> = {}) {
  const setup = await createSetup(stack.infra, {
    KJL_HTTP_PORT: '0',
    // the queue is called builds, as by default; a prefix of its own keeps it apart from the other tests'
    KJL_QUEUE_NAME: 'builds',
    KJL_QUEUE_PREFIX: `kjl${Math.random().toString(16).slice(2, 8)}`,
    KJL_DASHBOARD_USER: USER,
    KJL_DASHBOARD_PASSWORD: PASSWORD,
    KJL_API_TOKEN: TOKEN,
    ...env,
  });
  const runtime: Runtime = await stack.launch(setup, { http: true, httpHost: '127.0.0.1' });
  const base = `http://127.0.0.1:${(runtime.http!.server.address() as { port: number }).port}`;
  const ok = { thirdPartyId: 'board', parserId: 'fine', contentHash: '0123abcd' };
  const broken = { thirdPartyId: 'board', parserId: 'invalid-board', contentHash: '0123abcd' };
  await setup.publish([ok, broken]);
  await waitFor('both builds done', async () => {
    const [a, b] = await Promise.all(
      [requestIdOf(ok), requestIdOf(broken)].map((id) => runtime.service.status(id).catch(() => undefined)),
    );
    return a?.state === 'succeeded' && b?.state === 'failed';
  });
  return { setup, runtime, base, queue: 'builds', failed: requestIdOf(broken) };
}

describe('the dashboard', () => {
  it('refuses a browser without credentials, or with wrong ones', async () => {
    const { base } = await launchWithBuilds();
    const url = `${base}/admin/queues`;
    for (const credentials of [undefined, { username: USER, password: 'not-the-password' }]) {
      const context = await browser(credentials);
      const page = await context.newPage();
      const answer = page.waitForResponse(url);
      // Chromium shows the 401, or gives up on a challenge it has no valid credentials for
      const navigated = await page.goto(url).catch((error: Error) => error);
      if (navigated instanceof Error) expect(navigated.message).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
      else expect(navigated?.status()).toBe(401);
      const response = await answer;
      expect(response.status()).toBe(401);
      expect(response.headers()['www-authenticate']).toBe('Basic realm="kjl dashboard", charset="UTF-8"');
      // the browser keeps the challenge's body to itself: ask again without it
      const again = await context.request.get(`${url}/api/queues`);
      expect([again.status(), ((await again.json()) as { code: string }).code]).toEqual([
        401,
        'KJL_UNAUTHORIZED',
      ]);
    }
  });

  it('shows the builds queue with its counts, and a failed build with its reason and log tail', async () => {
    const { base, queue, failed } = await launchWithBuilds();
    const page = await (await browser({ username: USER, password: PASSWORD })).newPage();
    const response = await page.goto(`${base}/admin/queues`);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.title()).toBe('kjl builds');
    const card = page.getByRole('link', { name: queue }).first();
    await card.waitFor();
    await expect
      .poll(async () => (await page.locator('body').innerText()).replace(/\s+/g, ' '))
      .toMatch(/COMPLETED 1 FAILED 1/);

    await page.goto(`${base}/admin/queues/queue/${queue}/${failed}`);
    const body = page.locator('body');
    await expect.poll(() => body.innerText()).toContain('board/invalid-board · build-board-invalid-board-');
    expect(await body.innerText()).toContain('Error: container kaniko exited with code 1');
    await page.getByText('Logs', { exact: true }).click();
    await expect.poll(() => body.innerText()).toContain('npm ERR! code EJSONPARSE');
    await page.getByText('Data', { exact: true }).click();
    await expect.poll(() => body.innerText()).toContain(`requestId:"${failed}"`);
    expect(await body.innerText()).toMatch(/reason:"Error",\s*message:"container kaniko exited with code 1"/);
  });

  it('is read-only by default: no retry, clean or remove button, and its API refuses them', async () => {
    const { base, queue, failed } = await launchWithBuilds();
    const context = await browser({ username: USER, password: PASSWORD });
    const page = await context.newPage();
    await page.goto(`${base}/admin/queues/queue/${queue}?status=failed`);
    await expect.poll(() => page.locator('body').innerText()).toContain(failed);
    for (const name of [/retry/i, /clean/i, /remove/i, /promote/i]) {
      expect(await page.getByRole('button', { name }).count(), String(name)).toBe(0);
    }
    for (const path of [`${failed}/retry`, 'retry/failed', `clean/failed`, `${failed}/clean`, 'pause']) {
      const response = await context.request.put(`${base}/admin/queues/api/queues/${queue}/${path}`);
      expect(response.status(), path).toBe(405);
    }
    const concurrency = await context.request.put(`${base}/admin/queues/api/queues/${queue}/concurrency`, {
      data: { concurrency: 99 },
    });
    expect(concurrency.status()).toBe(405);
    expect((await context.request.get(`${base}/admin/queues/api/queues`)).status()).toBe(200);
  });
});

describe('the dashboard when it may act', () => {
  it("retries as kjl's replay, refuses to write the limit, and takes the API token as a bearer", async () => {
    const { base, queue, failed, runtime } = await launchWithBuilds({ KJL_DASHBOARD_READ_ONLY: 'false' });
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}/admin/queues/api/queues/${queue}${path}`, {
        ...init,
        headers: { ...bearer, ...init.headers },
      });
    const retry = await api(`/${failed}/retry`, { method: 'PUT' });
    expect(retry.status).toBe(204);
    // a replay: a new run with fresh attempts, not BullMQ's retry of the recorded one
    await waitFor('the second run to fail', async () => {
      const status = await runtime.service.status(failed);
      return status.state === 'failed' && status.outcome?.run === 2;
    });
    const limit = await api('/concurrency', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ concurrency: 99 }),
    });
    expect(limit.status).toBe(400);
    expect(((await limit.json()) as { message: string }).message).toBe(
      'not from the dashboard: the limit is set with PUT /api/v1/limit or kjl limit',
    );
    expect(await runtime.service.limit()).toBe(10);
    expect((await fetch(`${base}/admin/queues/api/queues`)).status).toBe(401);
  });
});
