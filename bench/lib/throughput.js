import { performance } from 'node:perf_hooks';
import { createdTwice } from './cluster-watch.js';
import { timeIntake } from './intake.js';
import { benchRequest, validMessage } from './messages.js';
import { round, summarise } from './stats.js';
import { waitFor } from './wait.js';

/**
 * Row 3: `builds` requests already in the queue (loaded by an intake runtime), then a runtime with
 * role `worker` and the concurrent-job limit; timed from `startRuntime` to the last entry completed.
 */
export async function buildThroughput(stack, { builds, limit, buildSeconds, report, check }) {
  const rules = [
    { match: { labels: { 'kjl.dev/parser-id': 'bench-*' } }, action: 'succeed', seconds: buildSeconds },
  ];
  const messages = Array.from({ length: builds }, (_, i) => validMessage(benchRequest('limit', i), i));
  const loaded = await timeIntake(stack, 'limit', messages);
  check(`throughput: ${builds} entries loaded`, loaded.entries === builds, { entries: loaded.entries });

  const cluster = await stack.cluster({ rules });
  const started = performance.now();
  const startedAt = Date.now();
  const { runtime, stop } = await stack.runtime({
    role: 'worker',
    queueName: loaded.queueName,
    env: {
      KJL_KUBECONFIG: cluster.kubeconfigPath,
      KJL_MAX_CONCURRENT_JOBS: String(limit),
    },
  });
  try {
    const queue = runtime.queue.queue;
    await waitFor(`${builds} builds completed`, async () => (await queue.getCompletedCount()) >= builds, {
      timeoutMs: Math.max(60_000, ((builds / limit) * buildSeconds + 30) * 1000),
      everyMs: 50,
    });
    const seconds = (performance.now() - started) / 1000;
    const ideal = (builds / limit) * buildSeconds;
    const stats = await cluster.stats();
    const twice = createdTwice(stats);
    const failed = await queue.getFailedCount();
    const lifetimes = [...cluster.done].map(([id, at]) => at - cluster.created.get(id));
    const lifetime = summarise(lifetimes);
    const attainable = (builds / limit) * (lifetime.mean / 1000);
    const firstJobMs = Math.min(...cluster.created.values()) - startedAt;
    check(
      `throughput: ${builds} Jobs, each created once, none failed, at most ${limit} active at once`,
      stats.maxActiveJobs <= limit && twice.length === 0 && failed === 0 && cluster.created.size === builds,
      { maxActiveJobs: stats.maxActiveJobs, createdTwice: twice, failed, jobs: cluster.created.size },
    );
    report({
      metric: 'build throughput at limit',
      value: round(builds / seconds, 2),
      unit: 'builds/s',
      notes: `${builds} builds of ${buildSeconds} s, limit ${limit}: ideal ${round(limit / buildSeconds, 2)}/s`,
      details: {
        builds,
        limit,
        buildSeconds,
        seconds: round(seconds, 3),
        idealSeconds: ideal,
        attainableSeconds: round(attainable, 2),
        firstJobMs,
        jobLifetimeMs: lifetime,
        maxActiveJobs: stats.maxActiveJobs,
        apiRequests: stats.requests,
      },
    });
    report({
      metric: 'build total time',
      value: round(seconds, 2),
      unit: 's',
      notes:
        `ideal ${ideal} s (+${round((seconds / ideal) * 100 - 100)}%); with the sim's Job lifetime ` +
        `(${round(lifetime.mean)} ms: +0.5 s container start) ${round(attainable, 1)} s`,
    });
    report({
      metric: 'max active Jobs',
      value: stats.maxActiveJobs,
      unit: 'jobs',
      notes: `cluster.stats().maxActiveJobs, limit ${limit}`,
    });
  } finally {
    await stop();
    await cluster.stop();
  }
}
