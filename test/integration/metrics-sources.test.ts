import { afterEach, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { parseExposition, sample, type Samples } from '../support/prometheus.js';
import { createSetup, useStack, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Where the metrics come from, against the real parts: API faults of the simulated cluster, a
 * watch that cannot reopen, a Redis that stops. Each launcher serves /metrics on a free port.
 */

const stack = useStack();
const running: Runtime[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((runtime) => runtime.stop()));
});

interface Served {
  runtime: Runtime;
  scrape(): Promise<Samples>;
}

async function serve(setup: Setup, env: Record<string, string> = {}): Promise<Served> {
  const config = loadConfig({ ...setup.env, ...env });
  const runtime = await startRuntime(config, createLogger({ level: 'silent' }), { http: true });
  running.push(runtime);
  const base = `http://127.0.0.1:${(runtime.http!.server.address() as { port: number }).port}`;
  return {
    runtime,
    scrape: async () => parseExposition(await (await fetch(`${base}/metrics`)).text()),
  };
}

const fresh = (env: Record<string, string> = {}) =>
  createSetup(stack.infra, { KJL_HTTP_PORT: '0', KJL_SQS_RETRY_BACKOFF_SECONDS: '1', ...env });

describe('metrics from the adapters', () => {
  it('counts a create refused through its retries as one failure, its requests and retries, then the success', async () => {
    const setup = await fresh();
    const { scrape } = await serve(setup);
    stack.infra.cluster.faults.set({ errors: { create: { '429': 1 } } });
    await setup.publish([{ thirdPartyId: 'metrics', parserId: 'throttled', contentHash: '0123abcd' }]);
    const failed = await waitFor(
      'the create to fail after its retries',
      async () => {
        const samples = await scrape();
        return sample(samples, 'k8s_job_creation_total', { status: 'failure' }) === 1 ? samples : undefined;
      },
      20_000,
      200,
    );
    stack.infra.cluster.faults.clear();
    // 6 attempts (429 with Retry-After: 1), 5 of them retries, all after the API retry policy
    expect(sample(failed, 'kjl_k8s_api_requests_total', { verb: 'create', code: '429' })).toBe(6);
    expect(sample(failed, 'kjl_k8s_api_retries_total', { operation: 'create_job' })).toBe(5);
    expect(sample(failed, 'k8s_job_creation_total', { status: 'success' })).toBe(0);
    // the run waits (the Job may exist) and is tried again as the same run: not a build failure
    await waitFor(
      'the same run to succeed',
      async () => {
        const samples = await scrape();
        return sample(samples, 'k8s_job_duration_seconds_count', { status: 'succeeded' }) === 1;
      },
      30_000,
    );
    const after = await scrape();
    expect(sample(after, 'k8s_job_failures_total', { reason: 'api_error' })).toBe(0);
    expect(sample(after, 'k8s_job_creation_total', { status: 'success' })).toBe(1);
    expect(sample(after, 'kjl_k8s_api_requests_total', { verb: 'create', code: '201' })).toBe(1);
  });

  it('shows a watch that cannot reopen growing silent, and live again once it can', async () => {
    const setup = await fresh();
    const { scrape } = await serve(setup);
    const silence = async (resource: string) =>
      sample(await scrape(), 'kjl_k8s_watch_seconds_since_last_event', { resource });
    expect(await silence('jobs')).toBeLessThan(2); // bookmarks every second
    stack.infra.cluster.faults.set({
      cutWatches: { everySeconds: 1, mode: 'reset' },
      errors: { watch: { '503': 1 }, list: { '503': 1 } },
    });
    await waitFor(
      'the Job watch to be silent for 3 s',
      async () => (await silence('jobs'))! > 3,
      15_000,
      200,
    );
    expect(
      sample(await scrape(), 'kjl_k8s_api_requests_total', { verb: 'watch', code: '503' }),
    ).toBeGreaterThan(0);
    stack.infra.cluster.faults.clear();
    await waitFor('the Job watch to be live again', async () => (await silence('jobs'))! < 2, 15_000, 200);
  });

  it('says how long the intake cannot reach Redis; scrapes stay quick and say NaN for the fleet meanwhile', async () => {
    const setup = await fresh();
    const all = await serve(setup);
    const worker = await serve(setup, { KJL_ROLE: 'worker', KJL_HTTP_PORT: '0' });
    await waitFor(
      'the fleet figures',
      async () => sample(await worker.scrape(), 'kjl_fleet_concurrency_limit') === 10,
    );
    expect(sample(await all.scrape(), 'kjl_intake_redis_unreachable_seconds')).toBe(0);
    expect(sample(await worker.scrape(), 'kjl_intake_redis_unreachable_seconds')).toBeUndefined();

    await stack.infra.redis.halt();
    try {
      const down = await waitFor(
        'the intake to miss Redis for 2 s',
        async () => {
          const samples = await all.scrape();
          return sample(samples, 'kjl_intake_redis_unreachable_seconds')! >= 2 ? samples : undefined;
        },
        15_000,
        200,
      );
      expect(sample(down, 'kjl_fleet_concurrency_limit')).toBeNaN();
      expect(sample(down, 'kjl_fleet_queue_entries', { state: 'waiting' })).toBeNaN();
      // a worker's Redis reads wait for Redis to come back: the scrape does not
      for (let scrape = 0; scrape < 2; scrape++) {
        const started = Date.now();
        const samples = await worker.scrape();
        expect(Date.now() - started).toBeLessThan(2500);
        expect(sample(samples, 'kjl_fleet_concurrency_limit')).toBeNaN();
        expect(sample(samples, 'k8s_active_jobs')).toBe(0);
      }
    } finally {
      await stack.infra.redis.restart();
    }
    await waitFor(
      'the intake to reach Redis again',
      async () => sample(await all.scrape(), 'kjl_intake_redis_unreachable_seconds') === 0,
      20_000,
      200,
    );
    await waitFor(
      'the fleet figures again',
      async () => sample(await worker.scrape(), 'kjl_fleet_concurrency_limit') === 10,
    );
  });
});
