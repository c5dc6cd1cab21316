import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { runKjl, spawnKjl } from '../support/cli.js';
import { createSetup, ofType, useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * The edges of a build's life: a cancel that lands between a worker's decision and its create, a
 * Job the API server refuses, kjl's records expiring, a Redis that could lose what it acknowledged.
 */

const stack = useStack();
const TEMPLATES = fileURLToPath(new URL('../../templates', import.meta.url));

let serial = 0;
const request = (parserId: string, template?: string) => ({
  thirdPartyId: 'edge',
  parserId,
  contentHash: `${(++serial).toString(16).padStart(4, '0')}edge0000`.replace(/[^0-9a-f]/g, 'e'),
  ...(template ? { template } : {}),
});

describe('a cancel between the decision and the create', () => {
  it('deletes the Job once it exists: cancelled, never succeeded', async () => {
    const setup = await createSetup(stack.infra);
    await stack.launch(setup);
    // every create fails (and is retried) until the cancel is in
    stack.infra.cluster.faults.set({ errors: { create: { '503': 1 } } });
    const build = request('hold-cancel');
    const id = requestIdOf(build);
    await setup.publish([build]);
    await waitFor('a create to be refused', () => (stack.infra.cluster.stats().faults['503'] ?? 0) > 0);
    const cancel = await runKjl(['cancel', id], { env: setup.env });
    expect(cancel.stdout).toContain(`${id} cancelled`);
    stack.infra.cluster.faults.clear();
    await setup.waitForEvents('the cancellation', (all) => ofType(all, 'cancelled', id).length === 1, 20_000);
    await waitFor(
      'the Job gone',
      () =>
        !stack.infra.cluster.store.tryGet(
          'jobs',
          setup.namespace,
          jobNameFor(build, setup.config.k8s.instance),
        ),
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(ofType(setup.events, 'succeeded', id)).toEqual([]);
    expect(stack.infra.cluster.stats().jobsCreated[jobNameFor(build, setup.config.k8s.instance)]).toBe(1);
  });
});

describe('a Job the API server refuses', () => {
  it('fails at once with the API server message, without retries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kjl-templates-'));
    for (const name of ['kaniko', 'generic'])
      await copyFile(join(TEMPLATES, `${name}.yaml`), join(dir, `${name}.yaml`));
    await writeFile(
      join(dir, 'refused.yaml'),
      `apiVersion: batch/v1
kind: Job
spec:
  parallelism: -1
  template:
    spec:
      containers: [{ name: main, image: busybox }]
`,
    );
    const setup = await createSetup(stack.infra, {
      KJL_TEMPLATES_DIR: dir,
      KJL_TEMPLATES: 'kaniko,generic,refused',
      KJL_MAX_ATTEMPTS: '3',
    });
    await stack.launch(setup);
    const build = request('refused', 'refused');
    const id = requestIdOf(build);
    await setup.publish([build]);
    const events = await setup.waitForEvents('the failure', (all) => ofType(all, 'failed', id).length === 1);
    expect(ofType(events, 'failed', id)[0]!.data).toMatchObject({
      reason: 'ApiRejected',
      retryable: false,
      willRetry: false,
    });
    expect(ofType(events, 'failed', id)[0]!.data.message).toMatch(/422 Invalid.*spec\.parallelism/);
    expect(stack.infra.cluster.stats().requests.create ?? 0).toBeGreaterThan(0);
    expect(ofType(setup.events, 'started', id)).toEqual([]);
  });
});

describe("kjl's records in Redis", () => {
  it('expire a while after their last write', async () => {
    const setup = await createSetup(stack.infra);
    await stack.launch(setup);
    const build = request('ok-ttl');
    await setup.publish([build]);
    await setup.waitForEvents('the success', (all) => ofType(all, 'succeeded').length === 1);
    const redis = new Redis(stack.infra.redis.url);
    try {
      const keys = await redis.keys(`kjl:${setup.config.queue.name}:kjl:*`);
      const records = keys.filter((key) => /:kjl:(target|run):/.test(key));
      expect(records.length).toBeGreaterThanOrEqual(2);
      for (const key of records) expect(await redis.pttl(key), key).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe('a Redis that could lose acknowledged requests', () => {
  it('is refused by kjl start, or only warned about with KJL_REDIS_DURABILITY=warn', async () => {
    const setup = await createSetup(stack.infra);
    const redis = new Redis(stack.infra.redis.url);
    await redis.config('SET', 'appendfsync', 'everysec');
    try {
      const refused = await runKjl(['start', '--role', 'worker', '--http-port', '0'], {
        env: { ...setup.env, KJL_LOG_LEVEL: 'warn' },
      });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^kjl: KJL_REDIS_NOT_DURABLE: .*appendfsync is everysec/m);
      const warned = spawnKjl(['start', '--role', 'worker', '--http-port', '0'], {
        env: { ...setup.env, KJL_LOG_LEVEL: 'info', KJL_REDIS_DURABILITY: 'warn' },
      });
      try {
        await warned.waitFor(/kjl started/);
      } finally {
        await warned.stop('SIGKILL');
      }
    } finally {
      await redis.config('SET', 'appendfsync', 'always');
      redis.disconnect();
    }
  });
});
