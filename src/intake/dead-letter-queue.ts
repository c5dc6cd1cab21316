import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterQueuePort,
  ReplayProgress,
  ReplayResult,
} from '../app/ports.js';
import { SqsError } from '../errors.js';

export interface DeadLetterQueueOptions {
  sqs: SQSClient;
  dlqUrl: string;
  /** where a message without a `kjl-source-queue` attribute goes back to */
  sourceQueueUrl?: string;
  /** how long a message being replayed stays hidden from other readers */
  visibilitySeconds?: number;
}

const KJL_ATTRIBUTES = ['kjl-error-code', 'kjl-error-message', 'kjl-source-queue', 'kjl-original-attributes'];
const MOVE_TASK_UNSUPPORTED =
  /UnknownOperation|InvalidAction|UnsupportedOperation|not (implemented|supported)/i;

/** The message attributes a dead-lettered message had before kjl added its own. */
export function originalAttributes(message: Message): Record<string, MessageAttributeValue> {
  const attributes = { ...message.MessageAttributes };
  const packed = attributes['kjl-original-attributes']?.StringValue;
  for (const name of KJL_ATTRIBUTES) delete attributes[name];
  if (packed) Object.assign(attributes, JSON.parse(packed) as Record<string, MessageAttributeValue>);
  return attributes;
}

function view(message: Message, fallbackSource: string | undefined): DeadLetter {
  const attribute = (name: string) => message.MessageAttributes?.[name]?.StringValue;
  const sent = Number(message.Attributes?.SentTimestamp);
  const received = Number(message.Attributes?.ApproximateReceiveCount);
  return {
    messageId: message.MessageId ?? '',
    ...(attribute('kjl-error-code') ? { code: attribute('kjl-error-code')! } : {}),
    ...(attribute('kjl-error-message') ? { reason: attribute('kjl-error-message')! } : {}),
    sourceQueue: attribute('kjl-source-queue') ?? fallbackSource ?? '',
    ...(Number.isFinite(sent) ? { sentAt: sent } : {}),
    ...(Number.isFinite(received) ? { receiveCount: received } : {}),
    body: message.Body ?? '',
  };
}

function matches(letter: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    (filter.code === undefined || letter.code === filter.code) &&
    (filter.messageId === undefined || letter.messageId === filter.messageId)
  );
}

/**
 * The SQS dead-letter queue: the messages that never became build requests. Lists them without
 * taking them, moves them back to their source queue (SQS's message-move task for a whole queue
 * where the endpoint has it, else receive → send → delete, each message sent before it is deleted so
 * that an interrupted replay loses nothing), and purges it.
 */
export class DeadLetterQueue implements DeadLetterQueuePort {
  constructor(private readonly options: DeadLetterQueueOptions) {}

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw new SqsError(`${what}: ${(error as Error).message}`, {
        cause: error,
        context: { queueUrl: this.options.dlqUrl },
      });
    }
  }

  private receive(visibilitySeconds: number): Promise<Message[]> {
    return this.call('receive from the dead-letter queue', async () => {
      const out = await this.options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.options.dlqUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: visibilitySeconds,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
        }),
      );
      return out.Messages ?? [];
    });
  }

  /** The messages in the DLQ, without taking them (they stay visible to everyone). */
  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const seen = new Map<string, DeadLetter>();
    for (let idle = 0; idle < 3 && seen.size < (filter.max ?? Infinity);) {
      const batch = await this.receive(0);
      const before = seen.size;
      for (const message of batch) {
        const letter = view(message, this.options.sourceQueueUrl);
        if (matches(letter, filter) && !seen.has(letter.messageId)) seen.set(letter.messageId, letter);
      }
      idle = seen.size === before ? idle + 1 : 0;
    }
    return [...seen.values()].slice(0, filter.max);
  }

  /** Messages in the DLQ now, as SQS counts them (approximate). */
  async depth(): Promise<number> {
    const out = await this.call('read the dead-letter queue', () =>
      this.options.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.options.dlqUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      ),
    );
    return (
      Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  }

  /**
   * Moves messages back to their source queue; `onProgress` hears after each one (or poll). A
   * message still invalid comes back to the DLQ through the intake; one sent twice (an interrupted
   * replay) is a duplicate the intake drops.
   */
  async replay(
    filter: DeadLetterFilter = {},
    onProgress?: (progress: ReplayProgress) => void,
  ): Promise<ReplayResult> {
    const whole = filter.code === undefined && filter.messageId === undefined && filter.max === undefined;
    if (whole) {
      const moved = await this.moveTask(onProgress);
      if (moved !== undefined) return { moved, method: 'move-task' };
    }
    return { moved: await this.copy(filter, onProgress), method: 'copy' };
  }

  /** SQS's own move of the whole DLQ to its source queue; undefined when the endpoint has none. */
  private async moveTask(onProgress?: (progress: ReplayProgress) => void): Promise<number | undefined> {
    const { sqs, dlqUrl } = this.options;
    const arnOf = async (queueUrl: string) =>
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })))
        .Attributes?.QueueArn;
    let sourceArn: string | undefined;
    try {
      sourceArn = await arnOf(dlqUrl);
      const destinationArn = this.options.sourceQueueUrl
        ? await arnOf(this.options.sourceQueueUrl)
        : undefined;
      await sqs.send(
        new StartMessageMoveTaskCommand({
          SourceArn: sourceArn,
          ...(destinationArn ? { DestinationArn: destinationArn } : {}),
        }),
      );
    } catch (error) {
      const text = `${(error as Error).name} ${(error as Error).message}`;
      if (MOVE_TASK_UNSUPPORTED.test(text)) return undefined;
      throw new SqsError(`start a message move task: ${(error as Error).message}`, {
        cause: error,
        context: { queueUrl: dlqUrl },
      });
    }
    for (;;) {
      const out = await this.call('read the message move task', () =>
        sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 })),
      );
      const task = out.Results?.[0];
      const moved = Number(task?.ApproximateNumberOfMessagesMoved ?? 0);
      const total = Number(task?.ApproximateNumberOfMessagesToMove ?? moved);
      onProgress?.({ moved, remaining: Math.max(0, total - moved) });
      if (!task || task.Status === 'COMPLETED') return moved;
      if (task.Status === 'FAILED' || task.Status === 'CANCELLED') {
        throw new SqsError(`the message move task ended ${task.Status}: ${task.FailureReason ?? ''}`, {
          context: { queueUrl: dlqUrl },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /**
   * Receive → send to the source → delete, one message at a time; the kjl attributes removed. Only
   * messages that were in the DLQ when the replay started move: one that is still invalid comes
   * straight back, and must not go round again.
   */
  private async copy(
    filter: DeadLetterFilter,
    onProgress?: (progress: ReplayProgress) => void,
  ): Promise<number> {
    const { sqs, dlqUrl } = this.options;
    const startedAt = Date.now();
    const visibility = this.options.visibilitySeconds ?? 60;
    let moved = 0;
    const skipped: Message[] = [];
    for (let idle = 0; idle < 3 && moved < (filter.max ?? Infinity);) {
      const batch = await this.receive(visibility);
      let progressed = false;
      for (const message of batch) {
        if (moved >= (filter.max ?? Infinity)) break;
        const letter = view(message, this.options.sourceQueueUrl);
        if (!matches(letter, filter) || !letter.sourceQueue || (letter.sentAt ?? 0) > startedAt) {
          skipped.push(message);
          continue;
        }
        await this.call('send back to the source queue', () =>
          sqs.send(
            new SendMessageCommand({
              QueueUrl: letter.sourceQueue,
              MessageBody: letter.body,
              MessageAttributes: originalAttributes(message),
            }),
          ),
        );
        const deleted = await this.call('delete from the dead-letter queue', () =>
          sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: dlqUrl,
              Entries: [{ Id: '0', ReceiptHandle: message.ReceiptHandle! }],
            }),
          ),
        );
        const refused = deleted.Failed?.[0];
        if (refused) {
          // sent back but still here: the intake drops the copy as a duplicate; say so and stop
          throw new SqsError(
            `the dead-letter queue kept a replayed message: ${refused.Code} ${refused.Message ?? ''}`,
            {
              context: { queueUrl: dlqUrl, messageId: letter.messageId },
            },
          );
        }
        moved += 1;
        progressed = true;
        onProgress?.({ moved });
      }
      // the messages that did not match stay hidden while the replay runs; stop once nothing new comes
      idle = progressed ? 0 : idle + 1;
    }
    await this.release(skipped);
    return moved;
  }

  /** Makes messages received but not replayed visible again at once. */
  private async release(messages: Message[]): Promise<void> {
    for (let start = 0; start < messages.length; start += 10) {
      const entries = messages.slice(start, start + 10).map((message, index) => ({
        Id: String(index),
        ReceiptHandle: message.ReceiptHandle!,
        VisibilityTimeout: 0,
      }));
      await this.options.sqs
        .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.options.dlqUrl, Entries: entries }))
        .catch(() => {}); // they become visible again after the visibility timeout anyway
    }
  }

  async purge(): Promise<void> {
    await this.call('purge the dead-letter queue', () =>
      this.options.sqs.send(new PurgeQueueCommand({ QueueUrl: this.options.dlqUrl })),
    );
  }
}
