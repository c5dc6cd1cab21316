import { PublishCommand, SNSClient, type MessageAttributeValue } from '@aws-sdk/client-sns';
import type { CloudEvent } from 'cloudevents';
import { filterAttributes, toStructuredJson, type BuildEventData } from './build-events.js';
import { isTransientAwsError, type AwsCredentials } from './sqs-sink.js';

export interface SnsEventSinkOptions {
  topicArn: string;
  /** the topic's region (from its ARN) */
  region: string;
  /** SNS-compatible endpoint (LocalStack, fauxqs); unset: AWS */
  endpoint?: string;
  credentials?: AwsCredentials;
  /** per request (connection and response) */
  timeoutMs: number;
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
    this.client = new SNSClient({
      region: options.region,
      endpoint: options.endpoint,
      credentials: options.credentials,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: options.timeoutMs, requestTimeout: options.timeoutMs },
    });
  }

  async send(event: CloudEvent<BuildEventData>): Promise<void> {
    const attributes: Record<string, MessageAttributeValue> = {};
    for (const [name, value] of Object.entries(filterAttributes(event))) {
      attributes[name] = { DataType: 'String', StringValue: value };
    }
    await this.client.send(
      new PublishCommand({
        TopicArn: this.options.topicArn,
        Message: toStructuredJson(event),
        MessageAttributes: attributes,
        ...(this.fifo
          ? { MessageGroupId: event.subject ?? event.source, MessageDeduplicationId: event.id }
          : {}),
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
