import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { CloudEvent } from 'cloudevents';
import { awsClientConfig, eventMessage, isTransientAwsError, type AwsSinkOptions } from './aws-message.js';
import type { BuildEventData } from './build-events.js';

/** `region` is the topic's (from its ARN). */
export interface SnsEventSinkOptions extends AwsSinkOptions {
  topicArn: string;
}

/**
 * Publishes each event to an SNS topic, once (retries are the caller's: see `createEventSink`).
 * The message is the structured-mode CloudEvent (JSON), with the message attributes `ce-type`,
 * `ce-id`, `ce-source` and `ce-subject` for subscription filter policies. A subscribed SQS queue
 * receives the CloudEvent itself with `RawMessageDelivery`, or wrapped in SNS's notification
 * envelope (`Message`) without it. On a FIFO topic the group is the subject, the dedup id the event id.
 */
export class SnsEventSink {
  readonly description: string;
  private readonly client: SNSClient;
  private readonly fifo: boolean;

  constructor(private readonly options: SnsEventSinkOptions) {
    this.description = `sns ${options.topicArn}`;
    this.fifo = options.topicArn.endsWith('.fifo');
    this.client = new SNSClient(awsClientConfig(options));
  }

  async send(event: CloudEvent<BuildEventData>): Promise<void> {
    const message = eventMessage(event, this.fifo);
    await this.client.send(
      new PublishCommand({
        TopicArn: this.options.topicArn,
        Message: message.body,
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
