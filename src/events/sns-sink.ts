import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AwsEventSink, awsClientConfig, type AwsSinkOptions, type EventMessage } from './aws-sink.js';

/** `region` is the topic's (from its ARN). */
export interface SnsEventSinkOptions extends AwsSinkOptions {
  topicArn: string;
}

/**
 * Publishes each event to an SNS topic. The message is the structured-mode CloudEvent (JSON), with
 * the message attributes `ce-type`, `ce-id`, `ce-source` and `ce-subject` for subscription filter
 * policies. A subscribed SQS queue receives the CloudEvent itself with `RawMessageDelivery`, or
 * wrapped in SNS's notification envelope (`Message`) without it.
 */
export class SnsEventSink extends AwsEventSink<SNSClient> {
  constructor(private readonly options: SnsEventSinkOptions) {
    super(`sns ${options.topicArn}`, options.topicArn, new SNSClient(awsClientConfig(options)));
  }

  protected async deliver(message: EventMessage): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.options.topicArn,
        Message: message.body,
        MessageAttributes: message.attributes,
        ...message.fifo,
      }),
    );
  }
}
