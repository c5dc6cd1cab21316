import {
  SendMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SqsError, type InvalidMessageError } from '../errors.js';

/** SQS allows 10 message attributes; kjl's three leave room for 7 of the original ones. */
const MAX_ORIGINAL_ATTRIBUTES = 7;
const MAX_ERROR_MESSAGE = 1024;

export interface Rejected {
  message: Message;
  error: InvalidMessageError;
}

/** The message attributes a dead-lettered message carries: the reason, then the original ones. */
export function deadLetterAttributes(
  message: Message,
  error: InvalidMessageError,
  sourceQueueUrl: string,
): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {
    'kjl-error-code': { DataType: 'String', StringValue: error.code },
    'kjl-error-message': { DataType: 'String', StringValue: error.message.slice(0, MAX_ERROR_MESSAGE) },
    'kjl-source-queue': { DataType: 'String', StringValue: sourceQueueUrl },
  };
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

/**
 * Sends rejected messages to the dead-letter queue with their reason. Returns the messages the DLQ
 * took (only those may be deleted from the source queue).
 */
export async function sendToDeadLetter(
  sqs: SQSClient,
  dlqUrl: string,
  sourceQueueUrl: string,
  rejected: Rejected[],
): Promise<Message[]> {
  if (rejected.length === 0) return [];
  const entries = rejected.map(({ message, error }, index) => ({
    Id: String(index),
    MessageBody: message.Body ?? '',
    MessageAttributes: deadLetterAttributes(message, error, sourceQueueUrl),
  }));
  let output;
  try {
    output = await sqs.send(new SendMessageBatchCommand({ QueueUrl: dlqUrl, Entries: entries }));
  } catch (error) {
    throw new SqsError(`could not send ${entries.length} message(s) to the dead-letter queue`, {
      cause: error,
      context: { queueUrl: dlqUrl },
    });
  }
  return (output.Successful ?? []).map((entry) => rejected[Number(entry.Id)]!.message);
}
