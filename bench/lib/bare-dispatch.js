// The baseline of the dispatch scenario: what a hand-written launcher does with the same clients
// and nothing else (no dedup, no limit across replicas, no watch, no outcome): sqs-consumer (long
// poll, 10 at a time) → BullMQ Queue.add → a BullMQ Worker (concurrency = the limit) that creates a
// minimal Job with @kubernetes/client-node; a message is deleted once its entry is added. Started
// by startBare with { redisUrl, queueName, sqsEndpoint, region, queueUrl, kubeconfigPath, limit, waitSeconds }.
import process from 'node:process';
import { BatchV1Api, KubeConfig } from '@kubernetes/client-node';
import { Queue, Worker } from 'bullmq';
import { Consumer } from 'sqs-consumer';
import { requestIdOf } from '../../dist/build-request.js';
import { createSqsClient } from '../../dist/intake/sqs-client.js';

const options = JSON.parse(process.argv[2]);
const connection = { url: options.redisUrl };
const queue = new Queue(options.queueName, { connection, prefix: 'kjl' });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(options.kubeconfigPath);
const batch = kubeConfig.makeApiClient(BatchV1Api);

/** The request of a message: the CloudEvent's `data` (structured) or the body itself (binary, plain). */
function requestOf(message) {
  const body = JSON.parse(message.Body);
  const request = body.specversion ? body.data : body;
  return { ...request, id: requestIdOf(request) };
}

const worker = new Worker(
  options.queueName,
  async (entry) => {
    const { id, parserId } = entry.data;
    await batch.createNamespacedJob({
      namespace: 'default',
      body: {
        metadata: { name: `bare-${id}`, labels: { 'kjl.dev/request-id': id, 'kjl.dev/parser-id': parserId } },
        spec: {
          backoffLimit: 0,
          template: {
            spec: { restartPolicy: 'Never', containers: [{ name: 'build', image: 'busybox' }] },
          },
        },
      },
    });
  },
  { connection, prefix: 'kjl', concurrency: options.limit },
);
worker.on('error', (error) => console.error(`worker: ${error.message}`));

const consumer = Consumer.create({
  queueUrl: options.queueUrl,
  sqs: createSqsClient({ region: options.region, endpoint: options.sqsEndpoint }),
  batchSize: 10,
  waitTimeSeconds: options.waitSeconds,
  handleMessageBatch: async (messages) => {
    await Promise.all(
      messages.map((message) => {
        const request = requestOf(message);
        return queue.add('build', request, { jobId: request.id });
      }),
    );
    return messages; // all added: delete them
  },
});
consumer.on('error', (error) => console.error(`consumer: ${error.message}`));
consumer.start();

process.once('SIGTERM', async () => {
  consumer.stop({ abort: true });
  await worker.close();
  await queue.close();
  process.exit(0);
});
await worker.waitUntilReady();
process.send({ type: 'ready' });
