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
export function eventMessage(event: CloudEvent<BuildEventData>, fifo: boolean) {
  const attributes: Record<string, { DataType: string; StringValue: string }> = {};
  for (const [name, value] of Object.entries(filterAttributes(event))) {
    attributes[name] = { DataType: 'String', StringValue: value };
  }
  return {
    body: toStructuredJson(event),
    attributes,
    fifo: fifo ? { MessageGroupId: event.subject ?? event.source, MessageDeduplicationId: event.id } : {},
  };
}
