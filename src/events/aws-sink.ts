import type { CloudEvent } from 'cloudevents';
import { isConnectionError } from '../errors.js';
import { filterAttributes, toStructuredJson, type BuildEventData } from './build-events.js';

/** Static credentials; unset: the AWS SDK's default chain (environment, profile, IRSA, instance role). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
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
function isTransientAwsError(error: unknown): boolean {
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

/** What the SQS and SNS sinks share: where the service is and how long a request may take. */
export interface AwsSinkOptions {
  region: string;
  /** SQS/SNS-compatible endpoint (LocalStack, fauxqs); unset: AWS */
  endpoint?: string;
  credentials?: AwsCredentials;
  /** per request (connection and response) */
  timeoutMs: number;
}

/** AWS client settings of a sink: one attempt per send (the sink wrapper retries), bounded time. */
export function awsClientConfig(options: AwsSinkOptions, region = options.region) {
  return {
    region,
    endpoint: options.endpoint,
    credentials: options.credentials,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: options.timeoutMs, requestTimeout: options.timeoutMs },
  };
}

/**
 * An event as an SQS message or SNS notification: the structured-mode CloudEvent as the body,
 * `ce-*` attributes for filtering, and on FIFO the target as the group and the event id as the
 * deduplication id (a target's events stay in order; a repeat is dropped).
 */
export interface EventMessage {
  body: string;
  attributes: Record<string, { DataType: string; StringValue: string }>;
  fifo: { MessageGroupId?: string; MessageDeduplicationId?: string };
}

/**
 * What the SQS and SNS sinks share: each event sent once as an {@link EventMessage} (retries are
 * the caller's: see `createEventSink`), AWS's transient failures, and closing the client.
 */
export abstract class AwsEventSink<Client extends { destroy(): void }> {
  private readonly fifo: boolean;

  /** `destination`: the queue URL or topic ARN (`.fifo` makes it FIFO) */
  constructor(
    readonly description: string,
    destination: string,
    protected readonly client: Client,
  ) {
    this.fifo = destination.endsWith('.fifo');
  }

  protected abstract deliver(message: EventMessage): Promise<void>;

  async send(event: CloudEvent<BuildEventData>): Promise<void> {
    const attributes: EventMessage['attributes'] = {};
    for (const [name, value] of Object.entries(filterAttributes(event))) {
      attributes[name] = { DataType: 'String', StringValue: value };
    }
    await this.deliver({
      body: toStructuredJson(event),
      attributes,
      fifo: this.fifo
        ? { MessageGroupId: event.subject ?? event.source, MessageDeduplicationId: event.id }
        : {},
    });
  }

  isTransient(error: unknown): boolean {
    return isTransientAwsError(error);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
