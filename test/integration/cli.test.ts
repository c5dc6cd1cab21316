import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { redisOptionsFor } from '../../src/queue/redis-options.js';
import { runCommand, runKjl, spawnKjl, type KjlProcess } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

let dir: string;
let dev: KjlProcess;
let queue: Queue;
let kubeconfig: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-cli-'));
  dev = spawnKjl(['dev', '--sqs-port', '0', '--http-port', '0', '--log-level', 'warn'], {
    cwd: dir,
    env: { KJL_REDIS_URL: '', KJL_FAILURE_BACKOFF_SECONDS: '1' },
  });
  const [, redisUrl] = await dev.waitFor(/Redis\s+(redis:\/\/\S+)/);
  [, kubeconfig] = (await dev.waitFor(/export KUBECONFIG=(\S+)/)) as [string, string];
  await dev.waitFor(/Ctrl-C stops everything/);
  queue = new Queue('builds', { connection: redisOptionsFor(redisUrl!, 'intake'), prefix: 'kjl' });
});

afterAll(async () => {
  await queue?.close();
  expect(await dev?.stop('SIGINT')).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

describe('kjl dev and kjl publish', () => {
  it('prints the queue URLs of the embedded SQS server', () => {
    for (const name of ['builds', 'builds-dlq', 'build-events']) {
      expect(dev.output()).toMatch(new RegExp(`${name}\\s+http://\\S+/${name}\\n`));
    }
  });

  it('publishes a build request that is queued once, whatever the format, and runs as one Job', async () => {
    const request = { thirdPartyId: 'acme', parserId: 'invoice', contentHash: '0123abcd' };
    const requestId = requestIdOf(request);
    const flags = ['--third-party-id', 'acme', '--parser-id', 'invoice', '--content-hash', '0123abcd'];
    for (const format of ['structured', 'binary', 'plain']) {
      const sent = await runKjl(['publish', ...flags, '--format', format], { cwd: dir });
      expect(sent.stderr).toBe('');
      expect(sent.stdout).toContain(`(request ${requestId})`);
      expect(sent.code).toBe(0);
    }
    await waitFor('the build to succeed', async () =>
      (await runKjl(['status', requestId], { cwd: dir })).stdout.includes('succeeded'),
    );
    const job = await queue.getJob(requestId);
    expect(job!.data.request).toMatchObject({ ...request, template: 'kaniko' });
    const jobs = await runCommand('kubectl', ['get', 'jobs', '-o', 'name'], {
      env: { KUBECONFIG: kubeconfig },
    });
    expect(jobs.stdout.trim().split('\n')).toEqual([`job.batch/${jobNameFor(request, 'kjl-builds')}`]);
  });

  it('publishes --count requests with generated ids', async () => {
    const sent = await runKjl(
      ['publish', '--count', '25', '--parser-id', 'load', '--third-party-id', 'bulk'],
      { cwd: dir },
    );
    expect(sent.stdout).toMatch(/sent 25 messages/);
    await waitFor('25 more builds done', async () => (await queue.getCompletedCount()) === 26, 60_000);
  });

  it('shows a failing build in the dead-letter set and replays it', async () => {
    const request = { thirdPartyId: 'acme', parserId: 'invalid-parser', contentHash: 'feedc0de' };
    const requestId = requestIdOf(request);
    await runKjl(
      ['publish', '--third-party-id', 'acme', '--parser-id', 'invalid-parser', '--content-hash', 'feedc0de'],
      { cwd: dir },
    );
    const listed = await waitFor('the failed build listed', async () => {
      const out = await runKjl(['failed', 'list'], { cwd: dir });
      return out.stdout.includes(requestId) ? out.stdout : undefined;
    });
    expect(listed).toContain('acme/invalid-parser  Error: container kaniko exited with code 1');
    const status = JSON.parse((await runKjl(['status', requestId, '--json'], { cwd: dir })).stdout);
    expect(status.outcome.logTail.join('\n')).toContain('npm ERR! code EJSONPARSE');
    const replay = await runKjl(['failed', 'replay', requestId], { cwd: dir });
    expect(replay.stdout).toContain(`replayed 1 build(s): ${requestId}`);
    await waitFor(
      'the second attempt to fail',
      async () => {
        const again = JSON.parse((await runKjl(['status', requestId, '--json'], { cwd: dir })).stdout);
        return again.state === 'failed' && again.outcome.run === 2;
      },
      60_000,
    );
  });

  it('sends a CloudEvent file and refuses one that would be dead-lettered', async () => {
    const file = join(dir, 'event.json');
    const event = {
      specversion: '1.0',
      id: 'e1',
      source: 'urn:x',
      type: 'dev.kjl.build.requested',
      data: { thirdPartyId: 'f', parserId: 'p', contentHash: 'deadbeef' },
    };
    await writeFile(file, JSON.stringify(event));
    expect((await runKjl(['publish', '--file', file], { cwd: dir })).code).toBe(0);
    await waitFor('the file request queued', () => queue.getJob(requestIdOf(event.data)));

    await writeFile(file, JSON.stringify({ ...event, type: 'other' }));
    const refused = await runKjl(['publish', '--file', file], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'type: must be "dev.kjl.build.requested" (got "other") [KJL_UNEXPECTED_EVENT_TYPE]',
    );
  });

  it('explains bad flags and exits 2', async () => {
    const bad = await runKjl(
      ['publish', '--third-party-id', 'a', '--parser-id', 'b;rm', '--content-hash', '0123abcd'],
      { cwd: dir },
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--parser-id: must be 1–63 letters, digits, -, _ or . (got "b;rm")');
    const missing = await runKjl(['publish', '--parser-id', 'b'], { cwd: dir });
    expect(missing.stderr).toContain('missing --third-party-id, --content-hash');
  });

  it('reports every configuration error at once with exit code 2', async () => {
    const result = await runKjl(['start'], {
      cwd: dir,
      env: {
        KJL_MAX_CONCURRENT_JOBS: 'many',
        KJL_REDIS_URL: 'localhost:6379',
        KJL_FAILURE_BACKOFF_SECONDS: '-1',
      },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid configuration (3 errors)');
    for (const variable of ['KJL_MAX_CONCURRENT_JOBS', 'KJL_REDIS_URL', 'KJL_FAILURE_BACKOFF_SECONDS']) {
      expect(result.stderr).toContain(`  ${variable}: `);
    }
  });
});
