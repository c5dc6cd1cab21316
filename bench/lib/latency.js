import console from 'node:console';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendMessages } from '../../dist/intake/publisher.js';
import { createdTwice } from './cluster-watch.js';
import { benchRequest, requestId, validMessage } from './messages.js';
import { queueName } from './stack.js';
import { round, summarise } from './stats.js';
import { waitFor } from './wait.js';

const RULES = [{ match: { labels: { 'kjl.dev/parser-id': 'bench-*' } }, action: 'succeed', seconds: 0.5 }];

/**
 * Row 2: one request at a time at a steady rate into a runtime with role `all`; latency = the
 * time the simulated API server stored the Job minus the time the producer called SendMessageBatch
 * (one process, one clock). A few warm-up requests go first and are not counted.
 */
export async function endToEndLatency(stack, { rate, seconds, limit, warmup, report, check }) {
  const count = rate * seconds;
  const sqs = await stack.sqs();
  const cluster = await stack.cluster({ rules: RULES });
  const { runtime, stop } = await stack.runtime({
    role: 'all',
    sqs,
    queueName: queueName('latency'),
    env: {
      KJL_KUBECONFIG: cluster.kubeconfigPath,
      KJL_MAX_CONCURRENT_JOBS: String(limit),
    },
  });
  const sentAt = new Map();
  const send = async (request, i) => {
    const id = requestId(request);
    sentAt.set(id, Date.now());
    await sendMessages(sqs.client, sqs.queues.builds, [validMessage(request, i)]);
    return id;
  };
  try {
    // warm-up: connections, JIT, the watch; not measured
    const warm = await Promise.all(
      Array.from({ length: warmup }, (_, i) => send(benchRequest('warmup', i), i)),
    );
    await waitFor('the warm-up Jobs', () => warm.every((id) => cluster.created.has(id)), {
      timeoutMs: 30_000,
    });
    const interval = 1000 / rate;
    const first = performance.now() + 20;
    const sends = [];
    const ids = [];
    for (let i = 0; i < count; i++) {
      const wait = first + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      const request = benchRequest('latency', i);
      ids.push(requestId(request));
      sends.push(send(request, i));
    }
    await Promise.all(sends);
    const sendSpan = (sentAt.get(ids.at(-1)) - sentAt.get(ids[0])) / 1000;
    await waitFor(`${count} Jobs created`, () => ids.every((id) => cluster.created.has(id)), {
      timeoutMs: 60_000,
    });
    await waitFor(
      `${count + warmup} builds completed`,
      async () => (await runtime.queue.queue.getCompletedCount()) >= count + warmup,
      { timeoutMs: 60_000, everyMs: 100 },
    );
    const latencies = ids.map((id) => cluster.created.get(id) - sentAt.get(id));
    const entries = await runtime.queue.queue.getJobs(['completed'], 0, -1);
    const queuedAt = new Map(entries.map((entry) => [entry.id, entry.timestamp]));
    const receivedAt = new Map(entries.map((entry) => [entry.id, entry.data.origin.receivedAt]));
    const toReceived = ids.map((id) => receivedAt.get(id) - sentAt.get(id)).filter(Number.isFinite);
    if (process.env.KJL_BENCH_TIMELINE) {
      for (const id of ids) {
        console.error(
          `${id} sent ${sentAt.get(id)} recv +${receivedAt.get(id) - sentAt.get(id)} queued +${queuedAt.get(id) - sentAt.get(id)} job +${cluster.created.get(id) - sentAt.get(id)}`,
        );
      }
    }
    const toQueue = ids.map((id) => queuedAt.get(id) - sentAt.get(id)).filter(Number.isFinite);
    const toJob = ids.map((id) => cluster.created.get(id) - queuedAt.get(id)).filter(Number.isFinite);
    const total = summarise(latencies);
    const received = summarise(toReceived);
    const intake = summarise(toQueue);
    const worker = summarise(toJob);
    const stats = await cluster.stats();
    const twice = createdTwice(stats);
    const failed = await runtime.queue.queue.getFailedCount();
    check(
      `latency: ${count} Jobs created once each, none failed, at most ${limit} active`,
      twice.length === 0 && failed === 0 && stats.maxActiveJobs <= limit,
      {
        createdTwice: twice,
        failed,
        maxActiveJobs: stats.maxActiveJobs,
      },
    );
    const how = `${count} reqs at ${round((count - 1) / sendSpan, 1)}/s`;
    report({
      metric: 'send → Job created p50',
      value: round(total.p50),
      unit: 'ms',
      notes: `${how}; Job created = sim store ADDED; SQS→queue ${round(intake.p50)} + queue→Job ${round(worker.p50)}`,
      details: {
        requests: count,
        rate,
        limit,
        sendSpanSeconds: round(sendSpan, 3),
        latencyMs: total,
        sendToReceivedMs: received,
        sendToQueuedMs: intake,
        queuedToJobMs: worker,
      },
    });
    report({
      metric: 'send → Job created p95',
      value: round(total.p95),
      unit: 'ms',
      notes: `SQS→queue ${round(intake.p95)} + queue→Job ${round(worker.p95)} (each its own p95)`,
    });
    report({
      metric: 'send → Job created max',
      value: round(total.max),
      unit: 'ms',
      notes: `max active Jobs ${stats.maxActiveJobs} (limit ${limit}); builds 0.5 s`,
    });
  } finally {
    await stop();
    await cluster.stop();
    await sqs.stop();
  }
}
