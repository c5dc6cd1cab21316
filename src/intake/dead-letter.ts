import {
  SendMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SqsError, type InvalidMessageError } from '../errors.js';

/** SQS allows 10 message attributes; kjl's three leave room for 7 of the original ones. */
const MAX_ORIGINAL_ATTRIBUTES = 7;
const MAX_ERROR_MESSAGE = 1024;
/** SendMessageBatch limits: entries per call, and bytes of all bodies and attributes together. */
export const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 256 * 1024;

export interface Rejected {
  message: Message;
  error: InvalidMessageError;
}

/** What the DLQ did with the rejected messages: those it took, and the failures, each with its messages. */
export interface DeadLetterResult {
  sent: Message[];
  failures: { messages: Message[]; error: SqsError }[];
}

/** The message attributes a dead-lettered message carries: the reason, then the original ones. */
export function deadLetterAttributes(
  message: Message,
  error: InvalidMessageError,
  sourceQueueUrl: string,
  withOriginal = true,
): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {
    'kjl-error-code': { DataType: 'String', StringValue: error.code },
    'kjl-error-message': { DataType: 'String', StringValue: error.message.slice(0, MAX_ERROR_MESSAGE) },
    'kjl-source-queue': { DataType: 'String', StringValue: sourceQueueUrl },
  };
  if (!withOriginal) return attributes;
  const original = Object.entries(message.MessageAttributes ?? {});
  if (original.length <= MAX_ORIGINAL_ATTRIBUTES) {
    for (const [name, value] of original) attributes[name] = value;
  } else {
    // Too many to copy one by one: keep them all, as JSON, in one attribute.
    attributes['kjl-original-attributes'] = {
      DataType: 'String',
      StringValue: JSON.stringify(Object.fromEntries(original)),
    };
  }
  return attributes;
}

/** The size SQS counts for an entry: the body, and each attribute's name, type and value. */
export function entrySize(
  entry: Pick<SendMessageBatchRequestEntry, 'MessageBody' | 'MessageAttributes'>,
): number {
  let size = Buffer.byteLength(entry.MessageBody ?? '');
  for (const [name, value] of Object.entries(entry.MessageAttributes ?? {})) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '');
    size += Buffer.byteLength(value.StringValue ?? '') + (value.BinaryValue?.length ?? 0);
  }
  return size;
}

interface Entry {
  rejected: Rejected;
  entry: SendMessageBatchRequestEntry;
  size: number;
}

/**
 * The DLQ entry of a rejected message: with its original attributes when that fits one SQS
 * message, else with kjl's three only; undefined when even that is too big (it stays where it is).
 */
function entryOf(rejected: Rejected, sourceQueueUrl: string): Entry | undefined {
  for (const withOriginal of [true, false]) {
    const entry = {
      Id: '',
      MessageBody: rejected.message.Body ?? '',
      MessageAttributes: deadLetterAttributes(rejected.message, rejected.error, sourceQueueUrl, withOriginal),
    };
    const size = entrySize(entry);
    if (size <= MAX_BATCH_BYTES) return { rejected, entry, size };
  }
  return undefined;
}

/** Splits entries into SendMessageBatch calls: at most 10 entries and 256 KiB each. */
function batches(entries: Entry[]): Entry[][] {
  const result: Entry[][] = [];
  let current: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length === MAX_BATCH_ENTRIES || bytes + entry.size > MAX_BATCH_BYTES) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.size;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/**
 * Sends rejected messages to the dead-letter queue with their reason, in batches within SQS's
 * limits. Each message's fate is its own: a batch (or an entry) the DLQ refuses is reported in
 * `failures`, and only the messages in `sent` may be deleted from the source queue.
 */
export async function sendToDeadLetter(
  sqs: SQSClient,
  dlqUrl: string,
  sourceQueueUrl: string,
  rejected: Rejected[],
): Promise<DeadLetterResult> {
  const result: DeadLetterResult = { sent: [], failures: [] };
  const entries: Entry[] = [];
  for (const item of rejected) {
    const entry = entryOf(item, sourceQueueUrl);
    if (entry) entries.push(entry);
    else {
      result.failures.push({
        messages: [item.message],
        error: new SqsError('the message is too large for the dead-letter queue with its reason attached', {
          context: { queueUrl: dlqUrl, messageId: item.message.MessageId },
        }),
      });
    }
  }
  for (const batch of batches(entries)) {
    const calls = batch.map((item, index) => ({ ...item.entry, Id: String(index) }));
    try {
      const output = await sqs.send(new SendMessageBatchCommand({ QueueUrl: dlqUrl, Entries: calls }));
      result.sent.push(
        ...(output.Successful ?? []).map((entry) => batch[Number(entry.Id)]!.rejected.message),
      );
      for (const failed of output.Failed ?? []) {
        result.failures.push({
          messages: [batch[Number(failed.Id)]!.rejected.message],
          error: new SqsError(
            `the dead-letter queue refused a message: ${failed.Code}: ${failed.Message ?? ''}`,
            {
              context: { queueUrl: dlqUrl },
            },
          ),
        });
      }
    } catch (error) {
      result.failures.push({
        messages: batch.map((item) => item.rejected.message),
        error: new SqsError(`could not send ${batch.length} message(s) to the dead-letter queue`, {
          cause: error,
          context: { queueUrl: dlqUrl },
        }),
      });
    }
  }
  return result;
}
