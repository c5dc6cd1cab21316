import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AwsEventSink, awsClientConfig, type AwsSinkOptions, type EventMessage } from './aws-sink.js';

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
 * Sends each event to an SQS queue. The body is the structured-mode CloudEvent (JSON); the message
 * attributes `ce-type`, `ce-id`, `ce-source` and `ce-subject` let consumers filter without parsing it.
 */
export class SqsEventSink extends AwsEventSink<SQSClient> {
  constructor(private readonly options: SqsEventSinkOptions) {
    const region = options.endpoint ? options.region : (regionOfQueueUrl(options.queueUrl) ?? options.region);
    super(`sqs ${options.queueUrl}`, options.queueUrl, new SQSClient(awsClientConfig(options, region)));
  }

  protected async deliver(message: EventMessage): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.options.queueUrl,
        MessageBody: message.body,
        MessageAttributes: message.attributes,
        ...message.fifo,
      }),
    );
  }
}
