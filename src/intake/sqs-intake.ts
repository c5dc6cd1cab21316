import { ChangeMessageVisibilityBatchCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { targetKey, type QueuedBuild } from '../build-request.js';
import { InvalidMessageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sendToDeadLetter, type Rejected } from './dead-letter.js';
import { parseMessage, type ParseOptions } from './parse-message.js';

/** What became of a request. */
export interface SubmitOutcome {
  status: 'queued' | 'duplicate' | 'requeued' | 'superseded';
}

/**
 * Where valid requests go (the application layer). `submitAll` resolves once every request of the
 * batch is safe, with one outcome per request in order, or fails as a whole.
 */
export interface BuildSubmitter {
  submitAll(builds: readonly QueuedBuild[]): Promise<SubmitOutcome[]>;
  /** true when a submit can succeed now (Redis reachable) */
  ready(): Promise<boolean>;
}

export interface IntakeCounts {
  received: number;
  queued: number;
  deduplicated: number;
  /** sent before a newer request of the same target: nothing to build */
  superseded: number;
  invalid: number;
  deadLettered: number;
  /** messages kept in SQS because the queue could not take them */
  deferred: number;
}

/**
 * What became of a received message: `queued`, `duplicate`, `requeued` (what the queue said),
 * `invalid` (never a build; dead-lettered or left to the redrive policy), `deferred` (kept in SQS
 * because the queue could not take it).
 */
export type IntakeResult = SubmitOutcome['status'] | 'invalid' | 'deferred';

/** What the composition root may learn of the intake's work (metrics). */
export interface IntakeObserver {
  /** each received message's fate; `code` is the dead-letter code of an invalid one */
  onMessage?(result: IntakeResult, code?: string): void;
  /** an invalid message the DLQ accepted, with its code */
  onDeadLettered?(code: string): void;
  /** whether the queue (Redis) answered the check before a receive, or took a request */
  onQueueReachable?(reachable: boolean): void;
}

export interface SqsIntakeOptions {
  sqs: SQSClient;
  queueUrl: string;
  dlqUrl?: string;
  batchSize: number;
  waitTimeSeconds: number;
  visibilityTimeoutSeconds: number;
  heartbeatSeconds: number;
  retryBackoffSeconds: number;
  parse: ParseOptions;
  submitter: BuildSubmitter;
  logger: Logger;
  observer?: IntakeObserver;
}

const MAX_REMEMBERED = 10_000;
const MAX_BACKOFF_FACTOR = 8;

/**
 * The intake: long-polls SQS in batches, validates each message, puts valid requests durably in
 * the queue and dead-letters invalid ones. A message is deleted from SQS only after the queue (or
 * the DLQ) has it; while Redis is unreachable nothing is received or deleted.
 */
export class SqsIntake {
  readonly counts: IntakeCounts = {
    received: 0,
    queued: 0,
    deduplicated: 0,
    superseded: 0,
    invalid: 0,
    deadLettered: 0,
    deferred: 0,
  };
  private readonly consumer: Consumer;
  private readonly logger: Logger;
  private readonly loggedInvalid = new Set<string>();
  private failures = 0;
  private stopping = false;

  constructor(private readonly options: SqsIntakeOptions) {
    this.logger = options.logger;
    this.consumer = Consumer.create({
      queueUrl: options.queueUrl,
      sqs: options.sqs,
      batchSize: options.batchSize,
      waitTimeSeconds: options.waitTimeSeconds,
      visibilityTimeout: options.visibilityTimeoutSeconds,
      heartbeatInterval: options.heartbeatSeconds,
      // stop() waits for the poll in flight, so no receive outlives the intake
      pollingCompleteWaitTimeMs: (options.waitTimeSeconds + 5) * 1000,
      messageAttributeNames: ['All'],
      messageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
      strictReturn: true,
      suppressFifoWarning: true,
      handleMessageBatch: (messages) => this.handleBatch(messages),
      preReceiveMessageCallback: () => this.waitForQueue(),
    });
    this.consumer.on('error', (error) => this.logger.warn({ err: error }, 'sqs intake error'));
    this.consumer.on('processing_error', (error) => this.logger.warn({ err: error }, 'sqs batch failed'));
  }

  start(): void {
    this.stopping = false;
    this.consumer.start();
    this.logger.info({ queueUrl: this.options.queueUrl }, 'intake started');
  }

  /** Stops receiving; the batch in hand is finished first. */
  async stop(): Promise<void> {
    this.stopping = true;
    await new Promise<void>((resolve) => {
      if (!this.consumer.status.isRunning) return resolve();
      this.consumer.once('stopped', () => resolve());
      this.consumer.stop({ abort: false });
    });
  }

  private backoffMs(): number {
    const factor = Math.min(2 ** Math.max(0, this.failures - 1), MAX_BACKOFF_FACTOR);
    return this.options.retryBackoffSeconds * 1000 * factor;
  }

  /** Holds the next receive while the queue cannot take requests, so messages stay in SQS untouched. */
  private async waitForQueue(): Promise<void> {
    const { observer } = this.options;
    for (;;) {
      if (this.stopping) return;
      const reachable = await this.options.submitter.ready();
      observer?.onQueueReachable?.(reachable);
      if (reachable) return;
      this.failures += 1;
      const wait = this.backoffMs();
      this.logger.warn({ retryInMs: wait }, 'queue unreachable; not receiving from SQS');
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private async handleBatch(messages: Message[]): Promise<Message[]> {
    const { observer } = this.options;
    this.counts.received += messages.length;
    const valid: { message: Message; build: QueuedBuild }[] = [];
    const rejected: Rejected[] = [];
    for (const message of messages) {
      try {
        valid.push({ message, build: parseMessage(message, this.options.parse) });
      } catch (error) {
        if (!(error instanceof InvalidMessageError)) throw error;
        rejected.push({ message, error });
      }
    }
    const done: Message[] = [];
    if (valid.length > 0) {
      try {
        const outcomes = await this.options.submitter.submitAll(valid.map(({ build }) => build));
        this.failures = 0;
        observer?.onQueueReachable?.(true);
        valid.forEach(({ message, build }, index) => {
          const { status } = outcomes[index]!;
          if (status === 'duplicate') this.counts.deduplicated += 1;
          else if (status === 'superseded') this.counts.superseded += 1;
          else this.counts.queued += 1;
          observer?.onMessage?.(status);
          this.logger.info(
            {
              requestId: build.requestId,
              messageId: message.MessageId,
              status,
              target: targetKey(build.request),
            },
            'request accepted',
          );
          done.push(message);
        });
      } catch (error) {
        this.failures += 1;
        this.logger.warn(
          { err: error, messageIds: valid.map(({ message }) => message.MessageId) },
          'queue did not take the requests; messages kept in SQS',
        );
        await this.defer(valid.map(({ message }) => message));
      }
    }
    done.push(...(await this.deadLetter(rejected)));
    return done;
  }

  /**
   * Sends the invalid messages to the DLQ; returns those it took. A DLQ that fails keeps only its
   * own messages in SQS (for the queue's redrive policy): the valid ones of the batch go on.
   */
  private async deadLetter(rejected: Rejected[]): Promise<Message[]> {
    const { observer } = this.options;
    this.counts.invalid += rejected.length;
    for (const { message, error } of rejected) {
      observer?.onMessage?.('invalid', error.code);
      if (this.options.dlqUrl || !this.loggedInvalid.has(message.MessageId ?? '')) {
        this.logger.info(
          { messageId: message.MessageId, code: error.code, reason: error.message },
          this.options.dlqUrl
            ? 'invalid message sent to the dead-letter queue'
            : 'invalid message left to the redrive policy',
        );
      }
      this.remember(message.MessageId);
    }
    if (!this.options.dlqUrl) return [];
    const { sent, failures } = await sendToDeadLetter(
      this.options.sqs,
      this.options.dlqUrl,
      this.options.queueUrl,
      rejected,
    );
    for (const failure of failures) {
      this.logger.warn(
        { err: failure.error, messageIds: failure.messages.map((message) => message.MessageId) },
        'dead-letter queue did not take invalid messages; they stay in the source queue',
      );
    }
    this.counts.deadLettered += sent.length;
    if (observer?.onDeadLettered) {
      const codes = new Map(rejected.map(({ message, error }) => [message, error.code]));
      for (const message of sent) observer.onDeadLettered(codes.get(message) ?? 'unknown');
    }
    return sent;
  }

  private remember(messageId: string | undefined): void {
    if (!messageId) return;
    if (this.loggedInvalid.size >= MAX_REMEMBERED) this.loggedInvalid.clear();
    this.loggedInvalid.add(messageId);
  }

  /** Makes kept messages visible again after the back-off instead of the full visibility timeout. */
  private async defer(messages: Message[]): Promise<void> {
    this.counts.deferred += messages.length;
    messages.forEach(() => this.options.observer?.onMessage?.('deferred'));
    const seconds = Math.min(Math.ceil(this.backoffMs() / 1000), this.options.visibilityTimeoutSeconds);
    try {
      await this.options.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: seconds,
          })),
        }),
      );
    } catch (error) {
      this.logger.warn({ err: error }, 'could not shorten the visibility of kept messages');
    }
  }
}
