import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudEvent } from 'cloudevents';
import type { SinkTarget } from '../config/sink-target.js';
import { EventSinkError, KjlError } from '../errors.js';
import type { Logger } from '../logger.js';
import { phaseOf, type BuildEventData } from './build-events.js';
import { HttpEventSink } from './http-sink.js';
import { SnsEventSink } from './sns-sink.js';
import type { AwsCredentials } from './aws-sink.js';
import { SqsEventSink } from './sqs-sink.js';

/** Where build events go. `send` resolves once the sink has taken the event. */
export interface EventSink {
  send(event: CloudEvent<BuildEventData>): Promise<void>;
  close(): Promise<void>;
  /** `none`, `sqs <queue url>`, `sns <topic arn>` or `http <url without query>` */
  readonly description: string;
}

/** One delivery attempt, and which of its failures are worth another. */
export interface EventDelivery extends EventSink {
  isTransient(error: unknown): boolean;
}

export interface RetryPolicy {
  /** attempts in all, the first included */
  attempts: number;
  /** delay before the first retry; each further retry waits twice as long as the one before */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  attempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 5000,
});
export const DEFAULT_SINK_TIMEOUT_MS = 10_000;

export interface EventSinkDeps {
  /** AWS region (`AWS_REGION`); an SNS topic's own region comes from its ARN */
  region: string;
  /** SQS-compatible endpoint (`KJL_SQS_ENDPOINT`); also used for SNS, as LocalStack and fauxqs serve both */
  endpoint?: string;
  logger: Logger;
  fetch?: typeof fetch;
  /** waits between retries; tests pass one that does not sleep */
  delay?: (ms: number) => Promise<void>;
  /** static AWS credentials (for `kjl dev`); unset: the SDK's default chain */
  credentials?: AwsCredentials;
  retry?: Partial<RetryPolicy>;
  /** per request; default 10 s */
  timeoutMs?: number;
  onDelivery?: DeliveryObserver;
}

/** Told how each event's delivery ended, after the retries: its phase (`queued`, …) and `sent` or `failed`. */
export type DeliveryObserver = (phase: string, result: 'sent' | 'failed') => void;

const NO_SINK: EventSink = Object.freeze({
  description: 'none',
  async send() {},
  async close() {},
});

/** Retries one delivery's transient failures with exponential backoff, then gives up with an `EventSinkError`. */
export class RetryingEventSink implements EventSink {
  readonly description: string;
  private closed = false;

  constructor(
    private readonly delivery: EventDelivery,
    private readonly options: {
      logger: Logger;
      retry?: Partial<RetryPolicy>;
      delay?: (ms: number) => Promise<void>;
      onDelivery?: DeliveryObserver;
    },
  ) {
    this.description = delivery.description;
  }

  /** Delay before retry number `retry` (1-based): base, 2×base, 4×base, … capped at the maximum. */
  static backoff(policy: RetryPolicy, retry: number): number {
    return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  }

  async send(event: CloudEvent<BuildEventData>): Promise<void> {
    const context = { sink: this.description, eventId: event.id, eventType: event.type };
    if (this.closed)
      throw new EventSinkError(`${this.description}: closed, event ${event.id} not sent`, { context });
    const policy = { ...DEFAULT_RETRY_POLICY, ...this.options.retry };
    const delay = this.options.delay ?? ((ms: number) => sleep(ms));
    const phase = phaseOf(event.type) ?? event.type;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.delivery.send(event);
        this.options.logger.debug({ ...context, attempt }, 'build event sent');
        this.options.onDelivery?.(phase, 'sent');
        return;
      } catch (error) {
        const transient = this.delivery.isTransient(error);
        if (!transient || attempt >= policy.attempts) {
          this.options.onDelivery?.(phase, 'failed');
          const reason = error instanceof Error ? error.message : String(error);
          const status = error instanceof KjlError ? error.context.status : undefined;
          throw new EventSinkError(
            `${this.description}: could not deliver event ${event.id} (${event.type}) after ${attempt} ${
              attempt === 1 ? 'attempt' : 'attempts'
            }${transient ? '' : ' (not retryable)'}: ${reason}`,
            { cause: error, context: { ...context, attempts: attempt, status } },
          );
        }
        const wait = RetryingEventSink.backoff(policy, attempt);
        this.options.logger.warn(
          { ...context, attempt, retryInMs: wait, err: error },
          'build event not sent, retrying',
        );
        await delay(wait);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.delivery.close();
  }
}

/** The sink `KJL_EVENTS_SINK` names, with retries: a no-op sink (`description: 'none'`) for none. */
export function createEventSink(parsed: SinkTarget, deps: EventSinkDeps): EventSink {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_SINK_TIMEOUT_MS;
  const aws = { endpoint: deps.endpoint, credentials: deps.credentials, timeoutMs };
  let delivery: EventDelivery;
  switch (parsed.kind) {
    case 'none':
      return NO_SINK;
    case 'sqs':
      delivery = new SqsEventSink({ ...aws, queueUrl: parsed.queueUrl, region: deps.region });
      break;
    case 'sns':
      delivery = new SnsEventSink({ ...aws, topicArn: parsed.topicArn, region: parsed.region });
      break;
    case 'http':
      delivery = new HttpEventSink({ url: parsed.url, fetch: deps.fetch, timeoutMs });
      break;
  }
  const logger = deps.logger.child({ module: 'events', sink: delivery.description });
  return new RetryingEventSink(delivery, {
    logger,
    retry: deps.retry,
    delay: deps.delay,
    onDelivery: deps.onDelivery,
  });
}
