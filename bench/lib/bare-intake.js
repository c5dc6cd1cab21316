// The intake's baseline: what a hand-written intake does with the same clients — receive up to 10
// messages (long poll), add them to a BullMQ queue in one addBulk, delete them in one batch, again.
// No validation, no dedup, no bookkeeping. Started by bench/lib/intake.js through startBare.
import process from 'node:process';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { Queue } from 'bullmq';
import { createSqsClient } from '../../dist/intake/sqs-client.js';

const { region, endpoint, queueUrl, redisUrl, queueName } = JSON.parse(process.argv[2]);
const sqs = createSqsClient({ region, endpoint });
const queue = new Queue(queueName, { connection: { url: redisUrl }, prefix: 'kjl' });
await queue.waitUntilReady();
process.once('SIGTERM', () => process.exit(0));
process.send({ type: 'ready' });

for (;;) {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  if (Messages.length === 0) continue;
  await queue.addBulk(
    Messages.map((message) => ({
      name: 'build',
      data: JSON.parse(message.Body),
      opts: { jobId: message.MessageId },
    })),
  );
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: Messages.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
    }),
  );
}
