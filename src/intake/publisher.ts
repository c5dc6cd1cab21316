import { randomUUID } from 'node:crypto';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SqsError } from '../errors.js';

/** How a build request is put on the queue: the three formats the intake accepts. */
export type MessageFormat = 'structured' | 'binary' | 'plain';
export const MESSAGE_FORMATS: readonly MessageFormat[] = ['structured', 'binary', 'plain'];

export interface EventAttributes {
  type: string;
  source: string;
}

/** An SQS message carrying `data` (a build request) in `format`. */
export function buildRequestMessage(
  data: object,
  format: MessageFormat,
  attributes: EventAttributes,
  id: string = randomUUID(),
): Omit<SendMessageBatchRequestEntry, 'Id'> {
  const time = new Date().toISOString();
  switch (format) {
    case 'structured':
      return {
        MessageBody: JSON.stringify({
          specversion: '1.0',
          id,
          source: attributes.source,
          type: attributes.type,
          time,
          datacontenttype: 'application/json',
          data,
        }),
      };
    case 'binary': {
      const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
      return {
        MessageBody: JSON.stringify(data),
        MessageAttributes: {
          'ce-specversion': attribute('1.0'),
          'ce-id': attribute(id),
          'ce-source': attribute(attributes.source),
          'ce-type': attribute(attributes.type),
          'ce-time': attribute(time),
          'ce-datacontenttype': attribute('application/json'),
        },
      };
    }
    case 'plain':
      return { MessageBody: JSON.stringify(data) };
  }
}

/** Sends messages in batches of ten; returns the SQS message ids in order. */
export async function sendMessages(
  sqs: SQSClient,
  queueUrl: string,
  messages: Omit<SendMessageBatchRequestEntry, 'Id'>[],
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < messages.length; start += 10) {
    const entries = messages
      .slice(start, start + 10)
      .map((message, index) => ({ ...message, Id: String(index) }));
    let output;
    try {
      output = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    } catch (error) {
      throw new SqsError(`could not send to ${queueUrl}: ${(error as Error).message}`, {
        cause: error,
        context: { queueUrl },
      });
    }
    if (output.Failed?.length) {
      const failed = output.Failed[0]!;
      throw new SqsError(`SQS refused a message: ${failed.Code} ${failed.Message ?? ''}`.trim(), {
        context: { queueUrl },
      });
    }
    const byEntry = new Map((output.Successful ?? []).map((entry) => [entry.Id, entry.MessageId ?? '']));
    ids.push(...entries.map((entry) => byEntry.get(entry.Id) ?? ''));
  }
  return ids;
}
