import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { CloudEvent } from 'cloudevents';
import { awsClientConfig, eventMessage, isTransientAwsError, type AwsSinkOptions } from './aws-message.js';
import type { BuildEventData } from './build-events.js';

export interface SqsEventSinkOptions extends AwsSinkOptions {
  queueUrl: string;
}

/** Region in an AWS queue URL (`https://sqs.eu-west-1.amazonaws.com/…`), when it names one. */
function regionOfQueueUrl(queueUrl: string): string | undefined {
  const host = new URL(queueUrl).hostname;
  return (
    /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(host)?.[1] ??
    /^([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?$/.exec(host)?.[1]
  );
}

/**
 * Sends each event to an SQS queue, once (retries are the caller's: see `createEventSink`).
 * The body is the structured-mode CloudEvent (JSON); the message attributes `ce-type`, `ce-id`,
 * `ce-source` and `ce-subject` let consumers filter without parsing it. On a FIFO queue the
 * message group is the subject (the build target, so a target's events stay in order) and the
 * deduplication id is the event id.
 */
export class SqsEventSink {
  readonly description: string;
  private readonly client: SQSClient;
  private readonly fifo: boolean;

  constructor(private readonly options: SqsEventSinkOptions) {
    this.description = `sqs ${options.queueUrl}`;
    this.fifo = options.queueUrl.endsWith('.fifo');
    this.client = new SQSClient(
      awsClientConfig(
        options,
        options.endpoint ? options.region : (regionOfQueueUrl(options.queueUrl) ?? options.region),
      ),
    );
  }

  async send(event: CloudEvent<BuildEventData>): Promise<void> {
    const message = eventMessage(event, this.fifo);
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.options.queueUrl,
        MessageBody: message.body,
        MessageAttributes: message.attributes,
        ...message.fifo,
      }),
    );
  }

  isTransient(error: unknown): boolean {
    return isTransientAwsError(error);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
