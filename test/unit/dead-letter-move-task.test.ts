import { SQSClient, SQSServiceException } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { SqsError } from '../../src/errors.js';
import { DeadLetterQueue } from '../../src/intake/dead-letter-queue.js';

/**
 * A whole-queue replay uses SQS's message-move task where the endpoint has it. fauxqs has none
 * (the integration tests run the copy path), so here a real SDK client is answered by a middleware
 * before the network, the way SQS answers StartMessageMoveTask and ListMessageMoveTasks.
 */

const SOURCE = 'https://sqs.us-east-1.amazonaws.com/000000000000/builds';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/000000000000/builds-dlq';
const arnOf = (url: string) => `arn:aws:sqs:us-east-1:000000000000:${url.split('/').at(-1)}`;

function answeringSqs(answer: (command: string, input: Record<string, unknown>) => unknown): {
  client: SQSClient;
  calls: { command: string; input: Record<string, unknown> }[];
} {
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const calls: { command: string; input: Record<string, unknown> }[] = [];
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      calls.push({ command: context.commandName!, input });
      return {
        output: { $metadata: {}, ...(answer(context.commandName!, input) as object) },
        response: {},
      } as never;
    },
    { step: 'initialize', priority: 'high', name: 'answer' },
  );
  return { client, calls };
}

const queueArn = (input: Record<string, unknown>) => ({
  Attributes: { QueueArn: arnOf(String(input.QueueUrl)) },
});

describe('DeadLetterQueue.replay of a whole queue', () => {
  it('starts a message-move task to the source queue and reports its progress until it completes', async () => {
    const polls = [
      { Status: 'RUNNING', ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 10 },
      { Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 10, ApproximateNumberOfMessagesToMove: 10 },
    ];
    const { client, calls } = answeringSqs((command, input) => {
      if (command === 'GetQueueAttributesCommand') return queueArn(input);
      if (command === 'StartMessageMoveTaskCommand') return { TaskHandle: 'task-1' };
      if (command === 'ListMessageMoveTasksCommand') return { Results: [polls.shift()] };
      throw new Error(`unexpected ${command}`);
    });
    const progress: { moved: number; remaining?: number }[] = [];
    const dlq = new DeadLetterQueue({ sqs: client, dlqUrl: DLQ, sourceQueueUrl: SOURCE });
    const result = await dlq.replay({}, (step) => progress.push(step));
    expect(result).toEqual({ moved: 10, method: 'move-task' });
    expect(progress).toEqual([
      { moved: 3, remaining: 7 },
      { moved: 10, remaining: 0 },
    ]);
    expect(calls.find((call) => call.command === 'StartMessageMoveTaskCommand')?.input).toEqual({
      SourceArn: arnOf(DLQ),
      DestinationArn: arnOf(SOURCE),
    });
  });

  it('reports a move task that failed, with SQS reason', async () => {
    const { client } = answeringSqs((command, input) => {
      if (command === 'GetQueueAttributesCommand') return queueArn(input);
      if (command === 'StartMessageMoveTaskCommand') return { TaskHandle: 'task-2' };
      return { Results: [{ Status: 'FAILED', FailureReason: 'AccessDenied on the destination' }] };
    });
    const dlq = new DeadLetterQueue({ sqs: client, dlqUrl: DLQ, sourceQueueUrl: SOURCE });
    const error = await dlq.replay({}).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SqsError);
    expect((error as SqsError).message).toContain('FAILED: AccessDenied on the destination');
  });

  it('falls back to receive, send, delete where the endpoint has no move task', async () => {
    const { client, calls } = answeringSqs((command, input) => {
      if (command === 'GetQueueAttributesCommand') return queueArn(input);
      if (command === 'StartMessageMoveTaskCommand') {
        throw new SQSServiceException({
          name: 'UnsupportedOperation',
          message: 'The action StartMessageMoveTask is not valid for this endpoint.',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        });
      }
      if (command === 'ReceiveMessageCommand') return { Messages: [] };
      throw new Error(`unexpected ${command}`);
    });
    const dlq = new DeadLetterQueue({ sqs: client, dlqUrl: DLQ, sourceQueueUrl: SOURCE });
    expect(await dlq.replay({})).toEqual({ moved: 0, method: 'copy' });
    expect(calls.filter((call) => call.command === 'ReceiveMessageCommand')).toHaveLength(3);
  });
});
