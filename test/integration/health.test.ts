import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { createLogger } from '../../src/logger.js';
import { createSetup, startInfra, type Infra } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

let infra: Infra;
let launcher: Runtime;
let base: string;

beforeAll(async () => {
  infra = await startInfra();
  const setup = await createSetup(infra, { KJL_HTTP_PORT: '0' });
  launcher = await startRuntime(setup.config, createLogger({ level: 'silent' }), { http: true });
  base = `http://127.0.0.1:${(launcher.http!.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await launcher?.stop();
  await infra?.stop();
});

const readyz = async () => {
  const response = await fetch(`${base}/readyz`);
  return { code: response.status, body: (await response.json()) as { checks: Record<string, string> } };
};

describe('health and readiness', () => {
  it('is live, and ready when Redis, SQS and Kubernetes answer', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await readyz()).toEqual({
      code: 200,
      body: { status: 'ready', checks: { redis: 'ok', sqs: 'ok', kubernetes: 'ok' } },
    });
  });

  it('is not ready while Redis is down, and ready again when it is back', async () => {
    await infra.redis.halt();
    const down = await waitFor('readiness to drop', async () => {
      const result = await readyz();
      return result.code === 503 ? result : undefined;
    });
    expect(down.body.checks).toEqual({ redis: 'unavailable', sqs: 'ok', kubernetes: 'ok' });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await infra.redis.restart();
    await waitFor('readiness to return', async () => (await readyz()).code === 200, 30_000);
  });

  it('is not ready when the Kubernetes API does not answer', async () => {
    await infra.cluster.stop();
    const result = await waitFor('readiness to drop', async () => {
      const got = await readyz();
      return got.code === 503 ? got : undefined;
    });
    expect(result.body.checks.kubernetes).toBe('unavailable');
  });
});
