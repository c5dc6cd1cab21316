import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { spawnKjl } from '../support/cli.js';
import { useKjlDev } from '../support/kjl-dev.js';
import { waitFor } from '../support/wait.js';

/**
 * The commands an operator runs every day, against `kjl dev`: the fleet at a glance, the limit,
 * a build's status, its log (followed while it runs), the history, and the SQS dead-letter queue.
 */

const dev = useKjlDev('operate', { KJL_FAILURE_BACKOFF_SECONDS: '1' });
const { kjl } = dev;
const json = async <T>(...args: string[]): Promise<T> => {
  const result = await kjl(...args, '--json');
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as T;
};
const publish = (parserId: string, contentHash: string) =>
  kjl('publish', '--third-party-id', 'ops', '--parser-id', parserId, '--content-hash', contentHash);

describe('the fleet, the limit and a running build', () => {
  it('shows the fleet against the limit, a running build, and follows its log until it is cancelled', async () => {
    expect((await kjl('limit', '2')).stdout).toContain('limit set to 2');
    expect(await json<{ limit: number }>('limit')).toEqual({ limit: 2 });
    const slow = ['0001', '0002', '0003'].map((n) => ({
      thirdPartyId: 'ops',
      parserId: `slow-${n}`,
      contentHash: `${n}5105105`,
    }));
    for (const build of slow) await publish(build.parserId, build.contentHash);
    const fleet = await waitFor('two running, one queued', async () => {
      const now = await json<{ entries: Record<string, number>; limit: number; activeJobs: number }>(
        'status',
      );
      return now.entries.active === 2 && now.entries.waiting === 1 && now.activeJobs === 2 ? now : undefined;
    });
    expect(fleet).toMatchObject({ limit: 2, backoff: [] });
    expect((fleet as { oldestWaiting?: { requestId: string } }).oldestWaiting?.requestId).toBe(
      requestIdOf(slow[2]!),
    );
    expect((await kjl('status')).stdout).toMatch(/jobs: 2 unfinished, limit 2/);

    const running = requestIdOf(slow[0]!);
    const status = await json<{ state: string; summary: string; run?: { phase: string } }>('status', running);
    expect(status.state).toBe('running');
    expect(status.run?.phase).toMatch(/pending|running/);

    const follow = spawnKjl(['logs', running, '-f'], { cwd: dev.dir });
    await follow.waitFor(/RUN npm ci/, 20_000);
    expect(follow.child.exitCode).toBeNull();
    for (const build of slow) await kjl('cancel', requestIdOf(build));
    // the pod is gone: the followed log ends, and so does the command
    expect(await follow.exited).toBe(0);
    await kjl('limit', '10');
  });
});

describe('a build whose pod has not started', () => {
  it('is pending, and says why', async () => {
    const build = { thirdPartyId: 'ops', parserId: 'pull-ops', contentHash: '00cc00cc' };
    await publish(build.parserId, build.contentHash);
    const status = await waitFor('the pull to fail to start', async () => {
      const now = await json<{ summary: string; run?: { phase: string; detail?: string } }>(
        'status',
        requestIdOf(build),
      );
      return now.run?.detail?.includes('image') ? now : undefined;
    });
    expect(status.run?.phase).toBe('pending');
    expect(status.summary).toMatch(/^pending as Job build-ops-pull-ops-\w+: its image cannot be pulled/);
    await kjl('cancel', requestIdOf(build));
  });
});

describe('a failed build', () => {
  it('keeps its log tail, and is in the history by state and target, page by page', async () => {
    const broken = { thirdPartyId: 'ops', parserId: 'invalid-ops', contentHash: '00aa00aa' };
    const other = { thirdPartyId: 'ops', parserId: 'invalid-two', contentHash: '00bb00bb' };
    await publish(broken.parserId, broken.contentHash);
    await publish(other.parserId, other.contentHash);
    const id = requestIdOf(broken);
    await waitFor(
      'both to fail',
      async () => {
        const page = await json<{ builds: { requestId: string }[] }>('list', '--state', 'failed');
        return (
          page.builds.filter((build) => build.requestId === id || build.requestId === requestIdOf(other))
            .length === 2
        );
      },
      60_000,
    );
    expect((await kjl('logs', id)).stdout).toContain('npm ERR! code EJSONPARSE');
    const one = await json<{ builds: { requestId: string; reason: string }[]; next?: string }>(
      'list',
      '--state',
      'failed',
      '--limit',
      '1',
    );
    expect(one.builds).toHaveLength(1);
    expect(one.builds[0]!.reason).toBe('Error');
    const rest = await json<{ builds: { requestId: string }[] }>(
      'list',
      '--state',
      'failed',
      '--cursor',
      one.next!,
    );
    expect(rest.builds.map((build) => build.requestId)).not.toContain(one.builds[0]!.requestId);
    const byTarget = await json<{ builds: { requestId: string }[] }>('list', '--target', 'ops/invalid-ops');
    expect(byTarget.builds.map((build) => build.requestId)).toEqual([id]);
    expect((await kjl('list', '--state', 'broken')).stderr).toContain('--state: unknown broken');
  });
});

describe('the SQS dead-letter queue', () => {
  it('lists, replays (still invalid: back again) and purges', async () => {
    const state = JSON.parse(await readFile(join(dev.dir, '.kjl', 'dev.json'), 'utf8')) as {
      sqsEndpoint: string;
      region: string;
      queueUrl: string;
    };
    const sqs = createSqsClient({ region: state.region, endpoint: state.sqsEndpoint });
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: state.queueUrl, MessageBody: '{"thirdPartyId": ' }));
      type Letter = { messageId: string; code: string; reason: string };
      const [first] = await waitFor('the message dead-lettered', async () => {
        const letters = await json<Letter[]>('dlq', 'list');
        return letters.length === 1 ? letters : undefined;
      });
      expect(first!.code).toBe('KJL_MALFORMED_JSON');
      expect(await json<Letter[]>('dlq', 'list', '--code', 'KJL_OVERSIZED')).toEqual([]);
      const replay = await kjl('dlq', 'replay');
      expect(replay.stdout).toContain(
        'moved 1 message(s) back to their source queue (receive, send, delete)',
      );
      // still invalid: the intake sends it back, as a new message
      await waitFor('the message dead-lettered again', async () => {
        const letters = await json<Letter[]>('dlq', 'list');
        return letters.length === 1 && letters[0]!.messageId !== first!.messageId;
      });
      expect((await kjl('dlq', 'purge')).code).toBe(2);
      expect((await kjl('dlq', 'purge', '--yes')).stdout).toContain('purged');
      expect(await json<Letter[]>('dlq', 'list')).toEqual([]);
    } finally {
      sqs.destroy();
    }
  });
});

describe('kjl status --watch', () => {
  it('refreshes the fleet view until interrupted, showing a build published meanwhile', async () => {
    type Fleet = { entries: { active: number; waiting: number } };
    const watch = spawnKjl(['status', '--watch', '--json'], { cwd: dev.dir });
    try {
      const views = () =>
        watch
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Fleet);
      const [first] = await waitFor('the first view', async () => (views().length ? views() : undefined));
      const before = first!.entries.active + first!.entries.waiting;
      await publish('slow-watch', '00dd00dd');
      // the view refreshes by itself (every 2 s) and counts the new build, queued or running
      await waitFor(
        'a later view with the new build',
        async () => views().some((view) => view.entries.active + view.entries.waiting === before + 1),
        15_000,
      );
      expect(views().length).toBeGreaterThanOrEqual(2);
      expect(watch.child.exitCode).toBeNull();
    } finally {
      await watch.stop('SIGINT');
    }
  });
});
