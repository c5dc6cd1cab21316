import { SendMessageCommand, SQSClient, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { CloudEvent } from 'cloudevents';
import { isConnectionError } from '../errors.js';
import { filterAttributes, toStructuredJson, type BuildEventData } from './build-events.js';

/** Static credentials; unset: the AWS SDK's default chain (environment, profile, IRSA, instance role). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SqsEventSinkOptions {
  queueUrl: string;
  region: string;
  /** SQS-compatible endpoint (LocalStack, fauxqs); unset: AWS */
  endpoint?: string;
  credentials?: AwsCredentials;
  /** per request (connection and response) */
  timeoutMs: number;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'KMSThrottlingException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/**
 * True for an AWS SDK failure worth another try: throttling, a server-side fault (5xx), a timeout,
 * or the endpoint not being reachable. A missing queue or topic, bad credentials or a rejected
 * message are not.
 */
export function isTransientAwsError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const failure = error as {
    name?: unknown;
    $retryable?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
  };
  const status = failure.$metadata?.httpStatusCode;
  return (
    Boolean(failure.$retryable) ||
    failure.$fault === 'server' ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    (typeof failure.name === 'string' && THROTTLING.has(failure.name)) ||
    isConnectionError(error) ||
    isConnectionError(failure.cause)
  );
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
    this.client = new SQSClient({
      region: options.endpoint ? options.region : (regionOfQueueUrl(options.queueUrl) ?? options.region),
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
      new SendMessageCommand({
        QueueUrl: this.options.queueUrl,
        MessageBody: toStructuredJson(event),
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
