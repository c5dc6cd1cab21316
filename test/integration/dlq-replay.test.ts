import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsError } from '../../src/errors.js';
import { DEV_REGION, startEmbeddedSqs, type EmbeddedSqs } from '../../src/dev/embedded-sqs.js';
import { DeadLetterQueue } from '../../src/intake/dead-letter-queue.js';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { receiveAll } from '../support/sqs.js';

/**
 * A replay cut short between sending a message back and deleting it from the DLQ (the process
 * killed, the connection gone): nothing is lost. Against fauxqs with the real AWS SDK; the cut is
 * a middleware that fails the delete before it reaches the server, as a dead process would.
 */

let sqs: EmbeddedSqs;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startEmbeddedSqs({ port: 0, prefix: `r${randomUUID().slice(0, 6)}-` });
  client = createSqsClient({ region: DEV_REGION, endpoint: sqs.endpoint });
});

afterAll(async () => {
  client?.destroy();
  await sqs?.stop();
});

/** An SQS client whose `n`-th `command` never reaches the server. */
function cutAt(command: string, n: number): SQSClient {
  const cut = createSqsClient({ region: DEV_REGION, endpoint: sqs.endpoint });
  let calls = 0;
  cut.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command && ++calls === n) {
        throw new Error('connection reset (the replay was cut here)');
      }
      return next(args);
    },
    { step: 'initialize', priority: 'high', name: 'cut-at-delete' },
  );
  return cut;
}

/** Every message body the queue holds now (received, so hidden for the test's remainder). */
const drain = async (queueUrl: string) => (await receiveAll(client, queueUrl)).map((m) => m.Body!);

describe('kjl dlq replay cut short', () => {
  it.each([
    // sent back, then cut before its delete: sent again by the next replay
    { cut: 'DeleteMessageBatchCommand', copies: 6 },
    // cut before it was sent back: still in the DLQ (a delete before the send would lose it)
    { cut: 'SendMessageCommand', copies: 5 },
  ])('loses nothing when cut at the third $cut', async ({ cut: command, copies }) => {
    const bodies = Array.from({ length: 5 }, (_, i) => `{"letter": "${command}-${i}"}`);
    for (const body of bodies) {
      await client.send(new SendMessageCommand({ QueueUrl: sqs.queues.buildsDlq, MessageBody: body }));
    }
    const options = { dlqUrl: sqs.queues.buildsDlq, sourceQueueUrl: sqs.queues.builds, visibilitySeconds: 1 };

    const cut = cutAt(command, 3);
    try {
      // two moved, then the third cut
      await expect(new DeadLetterQueue({ ...options, sqs: cut }).replay()).rejects.toThrow(SqsError);
    } finally {
      cut.destroy();
    }
    // the replay started again (the cut message visible again after its 1 s): all of it moves
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const again = await new DeadLetterQueue({ ...options, sqs: client }).replay();
    expect(again.moved).toBe(3);

    const source = await drain(sqs.queues.builds);
    expect([...new Set(source)].sort()).toEqual([...bodies].sort());
    // at most the cut one twice (the intake drops the repeat as a duplicate), the others once
    expect(source).toHaveLength(copies);
    expect(await drain(sqs.queues.buildsDlq)).toEqual([]);
  });
});
