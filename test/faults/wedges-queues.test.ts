import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KJL, type CliResult } from '../support/cli.js';
import { INVALID_KINDS, idOf, message, validRequest } from '../support/messages.js';
import { createSetup, useStack, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Wedges around the queues: a one-shot command on a Redis that does not answer, and a dead-letter
 * queue that refuses what it is sent. Judged from the outside: exit codes, what the command prints
 * and when it ends; what SQS (fauxqs' own record) and Redis (read with BullMQ) hold.
 */

const stack = useStack();

// ---------------------------------------------------------------------------------------------
// 12. A one-shot command on an unreachable Redis
// ---------------------------------------------------------------------------------------------

/** Runs `kjl ...args`, killed after `limitMs`: `timedOut` tells that it did not exit by itself. */
function runBounded(
  args: string[],
  limitMs: number,
  cwd: string,
): Promise<CliResult & { timedOut: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [KJL, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

describe('a one-shot command on an unreachable Redis', () => {
  let cwd: string;
  beforeAll(async () => {
    // a folder with no `kjl dev` state: the command uses only its flags
    cwd = await mkdtemp(join(tmpdir(), 'kjl-oneshot-'));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it.each([
    ['status', ['status', 'r0123456789abcdef012']],
    ['cancel', ['cancel', 'r0123456789abcdef012']],
    ['failed list', ['failed', 'list']],
  ])(
    'kjl %s exits non-zero within seconds with one line naming the code and the address',
    async (_, args) => {
      const result = await runBounded([...args, '--redis-url', 'redis://127.0.0.1:1'], 6000, cwd);
      expect(result.timedOut, `still running after 6 s; stderr so far:\n${result.stderr}`).toBe(false);
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toContain('KJL_QUEUE_UNAVAILABLE');
      expect(lines[0]).toContain('127.0.0.1:1');
      expect(result.stderr).not.toContain('    at ');
    },
  );
});

// ---------------------------------------------------------------------------------------------
// 13. A failing dead-letter send never blocks valid messages
// ---------------------------------------------------------------------------------------------

const queueName = (url: string) => url.split('/').at(-1)!;

/** The messages a queue holds (visible, delayed or in flight), as fauxqs records them. */
function held(url: string) {
  const inspected = stack.infra.sqs.server.inspectQueue(queueName(url));
  if (!inspected) return [];
  const { ready, delayed, inflight } = inspected.messages;
  return [...ready, ...delayed, ...inflight.map((entry) => entry.message)];
}

async function send(queueUrl: string, entries: Omit<SendMessageBatchRequestEntry, 'Id'>[]) {
  const out = await stack.infra.client.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: entries.map((entry, index) => ({ ...entry, Id: String(index) })),
    }),
  );
  expect(out.Failed ?? []).toEqual([]);
}

/** An intake-only launcher on fresh queues, with a short visibility timeout. */
async function intakeSetup(): Promise<Setup> {
  return createSetup(stack.infra, {
    KJL_ROLE: 'intake',
    KJL_SQS_VISIBILITY_TIMEOUT_SECONDS: '5',
    KJL_SQS_HEARTBEAT_SECONDS: '2',
    KJL_SQS_RETRY_BACKOFF_SECONDS: '1',
  });
}

describe('a failing dead-letter send never blocks valid messages', () => {
  it('a missing DLQ keeps only the invalid messages in SQS; once it exists they reach it with their code', async () => {
    const setup = await intakeSetup();
    const dlqUrl = setup.env.KJL_SQS_DLQ_URL!;
    stack.infra.sqs.server.deleteQueue(queueName(dlqUrl));
    const valid = [1, 2, 3, 4, 5].map((i) => validRequest(i, `dlq${Date.now() % 1000}`));
    const kinds = [INVALID_KINDS[0]!, INVALID_KINDS[4]!, INVALID_KINDS[8]!];
    const invalid = kinds.map((kind, i) => kind.make(100 + i));
    // one batch, received in one batch
    await send(setup.queueUrl, [
      ...valid.slice(0, 2).map((request, i) => message(request, 'structured', `v${i}`)),
      ...invalid,
      ...valid.slice(2).map((request, i) => message(request, 'plain', `w${i}`)),
    ]);
    await stack.launch(setup);

    const queue = new Queue(setup.config.queue.name, {
      // a plain connection: Redis is read without the product's own connection code
      connection: { host: '127.0.0.1', port: stack.infra.redis.port, maxRetriesPerRequest: 1 },
      prefix: setup.config.queue.prefix,
    });
    try {
      await waitFor(
        'the 5 valid requests in Redis',
        async () => (await Promise.all(valid.map((request) => queue.getJob(idOf(request))))).every(Boolean),
        15_000,
      );
    } finally {
      await queue.close();
    }
    const invalidBodies = invalid.map((entry) => entry.MessageBody).sort();
    await waitFor(
      'the source queue to hold only the 3 invalid messages',
      () => {
        const bodies = held(setup.queueUrl).map((m) => m.body);
        return bodies.length === 3 && JSON.stringify(bodies.sort()) === JSON.stringify(invalidBodies);
      },
      15_000,
      200,
    );
    // received again (the visibility timeout ran out) and still kept, as long as the DLQ is missing
    await waitFor(
      'the invalid messages to be received again',
      () => held(setup.queueUrl).every((m) => m.approximateReceiveCount >= 2),
      20_000,
      200,
    );
    expect(held(setup.queueUrl)).toHaveLength(3);

    // the DLQ appears (same name, same URL): the invalid messages reach it with their code
    expect(stack.infra.sqs.server.createQueue(queueName(dlqUrl)).queueUrl).toBe(dlqUrl);
    await waitFor(
      'the 3 invalid messages in the DLQ, none left in the source queue',
      () => held(dlqUrl).length === 3 && held(setup.queueUrl).length === 0,
      30_000,
      200,
    );
    const dead = held(dlqUrl);
    expect(dead.map((m) => m.body).sort()).toEqual(invalidBodies);
    expect(dead.map((m) => m.messageAttributes['kjl-error-code']?.StringValue).sort()).toEqual(
      kinds.map((kind) => kind.code).sort(),
    );
  });

  // fauxqs refuses a SendMessageBatch over 1 MiB (today's SQS limit), not over 256 KiB (the limit
  // kjl keeps to): 10 × 70 KiB in one call passes there, 10 × 110 KiB does not. The batching itself
  // is checked against the 256 KiB limit in test/unit/dead-letter-batches.test.ts.
  it.each([70, 110])(
    '10 oversized invalid messages of %i KiB received in one batch all reach the DLQ',
    async (kib) => {
      const setup = await intakeSetup();
      const dlqUrl = setup.env.KJL_SQS_DLQ_URL!;
      const entries = Array.from({ length: 10 }, (_, i) => ({
        MessageBody: JSON.stringify({ n: i, pad: 'x'.repeat(kib * 1024) }),
      }));
      // sent in calls under fauxqs' 1 MiB, all visible before the intake's first receive of 10
      for (let i = 0; i < entries.length; i += 5) await send(setup.queueUrl, entries.slice(i, i + 5));
      await stack.launch(setup);
      await waitFor(
        'the 10 messages in the DLQ, none left in the source queue',
        () => held(dlqUrl).length === 10 && held(setup.queueUrl).length === 0,
        20_000,
        200,
      );
      const dead = held(dlqUrl);
      expect(dead.map((m) => (JSON.parse(m.body) as { n: number }).n).sort((a, b) => a - b)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
      ]);
      expect(new Set(dead.map((m) => m.messageAttributes['kjl-error-code']?.StringValue))).toEqual(
        new Set(['KJL_OVERSIZED']),
      );
    },
  );
});
