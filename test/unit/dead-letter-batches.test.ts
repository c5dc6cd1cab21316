import { createHash } from 'node:crypto';
import {
  SQSClient,
  SQSServiceException,
  type Message,
  type SendMessageBatchCommandInput,
  type SendMessageBatchCommandOutput,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { InvalidMessageCode, InvalidMessageError } from '../../src/errors.js';
import { sendToDeadLetter, type Rejected } from '../../src/intake/dead-letter.js';

/**
 * How kjl splits dead-letter sends. fauxqs takes a SendMessageBatch of up to 1 MiB, so the fault
 * suite cannot see kjl keep to SQS's 256 KiB; here a real SDK client is stopped by a middleware
 * before the network: it records every SendMessageBatch and answers the way SQS does, refusing a
 * call over 10 entries or 256 KiB as a whole.
 */

const LIMIT_BYTES = 256 * 1024;
const LIMIT_ENTRIES = 10;
const SOURCE = 'https://sqs.us-east-1.amazonaws.com/000000000000/builds';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/000000000000/builds-dlq';

type Entry = SendMessageBatchCommandInput['Entries'] extends (infer E)[] | undefined ? E : never;

/** The size SQS counts for one entry: the body, and each attribute's name, type and value. */
function sqsSize(entry: Entry): number {
  let size = Buffer.byteLength(entry.MessageBody ?? '');
  for (const [name, value] of Object.entries(entry.MessageAttributes ?? {})) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '');
    size += Buffer.byteLength(value.StringValue ?? '') + (value.BinaryValue?.length ?? 0);
  }
  return size;
}

const batchError = (name: string, message: string) =>
  new SQSServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });

interface Recording {
  client: SQSClient;
  calls: SendMessageBatchCommandInput[];
}

/**
 * A real SQSClient whose SendMessageBatch calls are recorded and answered by SQS's rules. `refuse`
 * may fail an entry (by its body) or the whole call.
 */
function recordingSqs(
  refuse: { entry?: (body: string) => boolean; call?: (index: number) => boolean } = {},
): Recording {
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const calls: SendMessageBatchCommandInput[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      const input = args.input as SendMessageBatchCommandInput;
      const entries = input.Entries ?? [];
      calls.push(input);
      if (refuse.call?.(calls.length - 1)) throw batchError('InternalError', 'refused by the test');
      if (entries.length > LIMIT_ENTRIES) {
        throw batchError('TooManyEntriesInBatchRequest', 'Maximum number of entries per request are 10.');
      }
      const total = entries.reduce((sum, entry) => sum + sqsSize(entry), 0);
      if (total > LIMIT_BYTES) {
        throw batchError('BatchRequestTooLong', `Batch requests cannot be longer than ${LIMIT_BYTES} bytes.`);
      }
      const output: SendMessageBatchCommandOutput = { $metadata: {}, Successful: [], Failed: [] };
      for (const entry of entries) {
        if (refuse.entry?.(entry.MessageBody ?? '')) {
          output.Failed!.push({ Id: entry.Id, Code: 'InvalidMessageContents', SenderFault: true });
        } else {
          output.Successful!.push({
            Id: entry.Id,
            MessageId: `dead-${entry.Id}`,
            MD5OfMessageBody: createHash('md5')
              .update(entry.MessageBody ?? '')
              .digest('hex'),
          });
        }
      }
      return { output, response: {} } as never;
    },
    { step: 'initialize', priority: 'high', name: 'recordSendMessageBatch' },
  );
  return { client, calls };
}

function rejected(count: number, bodyBytes: number, tag = 'm'): Rejected[] {
  return Array.from({ length: count }, (_, i) => {
    const message: Message = {
      MessageId: `${tag}${i}`,
      ReceiptHandle: `rh-${tag}${i}`,
      Body: JSON.stringify({ id: `${tag}${i}`, pad: 'x'.repeat(bodyBytes) }),
      MessageAttributes: { origin: { DataType: 'String', StringValue: 'test' } },
    };
    const error = new InvalidMessageError(InvalidMessageCode.Oversized, 'must be at most 65536 bytes', {
      field: 'body',
    });
    return { message, error };
  });
}

const idsOf = (messages: Message[]) => messages.map((message) => message.MessageId).sort();
const sentBodies = (calls: SendMessageBatchCommandInput[]) =>
  calls.flatMap((call) => (call.Entries ?? []).map((entry) => JSON.parse(entry.MessageBody!).id as string));

function expectWithinLimits(calls: SendMessageBatchCommandInput[]): void {
  for (const call of calls) {
    expect(call.QueueUrl).toBe(DLQ);
    expect(call.Entries!.length).toBeLessThanOrEqual(LIMIT_ENTRIES);
    expect(call.Entries!.reduce((sum, entry) => sum + sqsSize(entry), 0)).toBeLessThanOrEqual(LIMIT_BYTES);
    expect(new Set(call.Entries!.map((entry) => entry.Id)).size).toBe(call.Entries!.length);
  }
}

describe('dead-letter sends within the SendMessageBatch limits', () => {
  it('10 messages of 70 KiB (700 KiB in all) go out in calls of at most 256 KiB, each once', async () => {
    const { client, calls } = recordingSqs();
    const items = rejected(10, 70 * 1024);
    const result = await sendToDeadLetter(client, DLQ, SOURCE, items);
    expectWithinLimits(calls);
    expect(calls.length).toBeGreaterThan(1);
    expect(sentBodies(calls).sort()).toEqual(idsOf(items.map((item) => item.message)));
    expect(idsOf(result.sent)).toEqual(idsOf(items.map((item) => item.message)));
    expect(result.failures).toEqual([]);
    for (const call of calls) {
      for (const entry of call.Entries!) {
        expect(entry.MessageAttributes?.['kjl-error-code']?.StringValue).toBe('KJL_OVERSIZED');
      }
    }
  });

  it('25 small messages go out in calls of at most 10 entries', async () => {
    const { client, calls } = recordingSqs();
    const items = rejected(25, 100);
    const result = await sendToDeadLetter(client, DLQ, SOURCE, items);
    expectWithinLimits(calls);
    expect(calls.map((call) => call.Entries!.length)).toEqual([10, 10, 5]);
    expect(idsOf(result.sent)).toEqual(idsOf(items.map((item) => item.message)));
  });

  it('a refused entry or a failed call keeps only its own messages back', async () => {
    // the second call fails as a whole; one entry of another call is refused
    const { client, calls } = recordingSqs({
      call: (index) => index === 1,
      entry: (body) => body.includes('"id":"m9"'),
    });
    const items = rejected(12, 70 * 1024);
    const result = await sendToDeadLetter(client, DLQ, SOURCE, items);
    expectWithinLimits(calls);
    const inFailedCall = calls[1]!.Entries!.map((entry) => JSON.parse(entry.MessageBody!).id as string);
    const failed = result.failures.flatMap((failure) => failure.messages);
    expect(idsOf(failed)).toEqual([...inFailedCall, ...(inFailedCall.includes('m9') ? [] : ['m9'])].sort());
    expect(idsOf([...result.sent, ...failed])).toEqual(idsOf(items.map((item) => item.message)));
    for (const failure of result.failures) expect(failure.error.code).toBe('KJL_SQS_ERROR');
  });

  it('a message too large to carry its reason stays back without holding up the others', async () => {
    const { client, calls } = recordingSqs();
    const items = [...rejected(1, 300 * 1024, 'huge'), ...rejected(3, 100, 'small')];
    const result = await sendToDeadLetter(client, DLQ, SOURCE, items);
    expectWithinLimits(calls);
    expect(sentBodies(calls).sort()).toEqual(['small0', 'small1', 'small2']);
    expect(idsOf(result.sent)).toEqual(['small0', 'small1', 'small2']);
    expect(result.failures.flatMap((failure) => idsOf(failure.messages))).toEqual(['huge0']);
  });
});
