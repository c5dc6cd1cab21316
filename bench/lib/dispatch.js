// Dispatch latency: SQS send → Job create received by the API server, at a steady rate, for kjl
// (`kjl start`, role all) and for a bare loop with the same clients (bare-dispatch.js), in turn: a
// run is one launcher on fresh servers that takes each load in turn. Latency = the sim's store
// time of the Job (its process) minus the bench's time just before SendMessageBatch (this
// process): one machine, one clock.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendMessages } from '../../dist/intake/publisher.js';
import { DEV_REGION } from '../../dist/dev/embedded-sqs.js';
import { startBare, startLauncher } from './child.js';
import { createdTwice } from './cluster-watch.js';
import { requestIdOf } from '../../dist/build-request.js';
import { benchRequest, validMessage } from './messages.js';
import { queueName } from './stack.js';
import { round, summarise } from './stats.js';
import { waitFor } from './wait.js';

const BUILD_SECONDS = 0.3;
const LIMIT = 300;
// kjl's SIGTERM waits for the long poll in flight (up to the wait); both use 1 s so that stopping
// between runs is quick. Messages keep arriving during a run, so a poll returns with them at once.
const WAIT_SECONDS = 1;
// kjl's client-side rate limit (KJL_K8S_QPS, default 50/s) would hold 200/s back by itself: raised
// to twice the highest rate, so that the figure is latency rather than the configured limit
const K8S_QPS = 400;

/** 20/s for `slow` seconds, then 200/s for `fast` seconds, after a few warm-up requests. */
const loads = (slow, fast) => ({
  loads: [
    { rate: 20, seconds: slow },
    { rate: 200, seconds: fast },
  ],
  warmup: 5,
  limit: LIMIT,
});

export const SETTINGS = { full: loads(10, 5), quick: loads(2, 1) };

const RULES = [
  { match: { labels: { 'kjl.dev/parser-id': 'bench-*' } }, action: 'succeed', seconds: BUILD_SECONDS },
];

/** A launcher of `variant` ('kjl' or 'bare') on fresh servers; stop() stops it and them. */
async function startVariant(stack, variant, limit) {
  const [sqs, cluster] = await Promise.all([stack.sqs(), stack.cluster({ rules: RULES })]);
  const name = queueName('dispatch');
  const launcher =
    variant === 'kjl'
      ? await startLauncher(stack, {
          role: 'all',
          sqs,
          cluster,
          queueName: name,
          env: {
            KJL_MAX_CONCURRENT_JOBS: String(limit),
            KJL_SQS_WAIT_SECONDS: String(WAIT_SECONDS),
            KJL_K8S_QPS: String(K8S_QPS),
          },
        })
      : await startBare(stack, './bare-dispatch.js', {
          redisUrl: stack.redis.url,
          queueName: name,
          sqsEndpoint: sqs.endpoint,
          region: DEV_REGION,
          queueUrl: sqs.queues.builds,
          kubeconfigPath: cluster.kubeconfigPath,
          limit,
          waitSeconds: WAIT_SECONDS,
        });
  const stop = async () => {
    await launcher.stop();
    await Promise.all([cluster.stop(), sqs.stop()]);
  };
  return { sqs, cluster, launcher, queue: stack.queue(name), stop };
}

/**
 * One session of `variant`: a few warm-up requests (connections, JIT, the watch; not counted),
 * then each load in turn — `rate × seconds` requests, one message each, at a steady rate — until
 * its builds have finished. The latencies and what the cluster saw, per load.
 */
async function session(stack, variant, { loads, warmup, limit }) {
  const { sqs, cluster, launcher, queue, stop } = await startVariant(stack, variant, limit);
  const sentAt = new Map();
  const sends = [];
  const send = (scope, i) => {
    const request = benchRequest(`${variant}-${scope}`, i);
    const id = requestIdOf(request);
    sentAt.set(id, Date.now());
    sends.push(sendMessages(sqs.client, sqs.queues.builds, [validMessage(request, i)]));
    return id;
  };
  const finished = (what, ids) =>
    waitFor(what, () => ids.every((id) => cluster.done.has(id)), { timeoutMs: 60_000, everyMs: 50 }).catch(
      () => {},
    );
  try {
    const warm = Array.from({ length: warmup }, (_, i) => send('warmup', i));
    await finished(`${variant}: the warm-up builds`, warm);
    const results = [];
    for (const { rate, seconds } of loads) {
      const before = await cluster.stats();
      const cpuBefore = await launcher.cpuSeconds();
      const count = Math.round(rate * seconds);
      const interval = 1000 / rate;
      const first = performance.now() + 20;
      const ids = [];
      for (let i = 0; i < count; i++) {
        const wait = first + i * interval - performance.now();
        if (wait > 0) await sleep(wait);
        ids.push(send(`${rate}`, i));
      }
      await Promise.all(sends);
      const sendSpan = (sentAt.get(ids.at(-1)) - sentAt.get(ids[0])) / 1000;
      // every build finished: a Job created twice would have been by now
      await finished(`${variant}: ${count} builds at ${rate}/s`, ids);
      const stats = await cluster.stats();
      const cpuMsPerBuild = (((await launcher.cpuSeconds()) - cpuBefore) * 1000) / count;
      const entries = await queue.getJobs(['completed', 'active', 'waiting', 'delayed'], 0, -1);
      const queuedAt = new Map(entries.map((entry) => [entry.id, entry.timestamp]));
      const createdAt = (id) => cluster.created.get(id);
      const from = (start, end) => summarise(ids.map((id) => end(id) - start(id)).filter(Number.isFinite));
      results.push({
        latency: from((id) => sentAt.get(id), createdAt),
        sendToQueued: from(
          (id) => sentAt.get(id),
          (id) => queuedAt.get(id),
        ),
        queuedToJob: from((id) => queuedAt.get(id), createdAt),
        rate: round((count - 1) / sendSpan, 1),
        cpuMsPerBuild: round(cpuMsPerBuild, 2),
        missing: ids.filter((id) => !cluster.created.has(id)).length,
        twice: createdTwice(stats),
        jobs: Object.keys(stats.jobsCreated).length - Object.keys(before.jobsCreated).length,
        expected: count,
        maxActiveJobs: stats.maxActiveJobs,
      });
    }
    return results;
  } finally {
    await stop();
  }
}

export async function run(stack, { settings, repeats, figure, check }) {
  const { loads, warmup, limit } = settings;
  const sessions = { kjl: [], bare: [] };
  for (let r = 0; r < repeats; r++) {
    // alternate which goes first, so that neither always runs on a warmer machine
    for (const variant of r % 2 ? ['bare', 'kjl'] : ['kjl', 'bare']) {
      sessions[variant].push(await session(stack, variant, settings));
    }
  }
  loads.forEach((load, l) => {
    const runs = { kjl: sessions.kjl.map((s) => s[l]), bare: sessions.bare.map((s) => s[l]) };
    for (const variant of ['kjl', 'bare']) {
      const bad = runs[variant].filter(
        (r) => r.missing || r.twice.length || r.jobs !== r.expected || r.maxActiveJobs >= limit,
      );
      check(
        `dispatch ${load.rate}/s (${variant}): each request's Job created once, none missing, limit never reached`,
        !bad.length,
        {
          runs: bad.map(({ missing, twice, jobs, expected, maxActiveJobs }) => ({
            missing,
            twice,
            jobs,
            expected,
            maxActiveJobs,
          })),
        },
      );
    }
    const count = Math.round(load.rate * load.seconds);
    const detail = (variant) =>
      runs[variant].map((r) => ({
        rate: r.rate,
        latencyMs: r.latency,
        sendToQueuedMs: r.sendToQueued,
        queuedToJobMs: r.queuedToJob,
        launcherCpuMsPerBuild: r.cpuMsPerBuild,
        maxActiveJobs: r.maxActiveJobs,
      }));
    for (const [p, max] of [
      ['p50', 15],
      ['p99', 60],
    ]) {
      const stage = (variant, key) => round(runs[variant][0][key][p]);
      figure({
        figure: `dispatch latency ${p} at ${load.rate}/s`,
        unit: 'ms',
        runs: runs.kjl.map((r) => r.latency[p]),
        baseline: { label: 'bare loop', runs: runs.bare.map((r) => r.latency[p]) },
        goal: { max },
        notes:
          `SQS send → Job stored by the sim, ${count} reqs at ${load.rate}/s; run 1: send→queued ` +
          `${stage('kjl', 'sendToQueued')} + queued→Job ${stage('kjl', 'queuedToJob')} ms (bare ` +
          `${stage('bare', 'sendToQueued')} + ${stage('bare', 'queuedToJob')}); launcher CPU per build ` +
          `${runs.kjl[0].cpuMsPerBuild} ms (bare ${runs.bare[0].cpuMsPerBuild})` +
          (l === 0 && p === 'p50'
            ? `; one launcher per run serves ${loads.map((x) => `${x.rate}/s`).join(' then ')} after ` +
              `${warmup} warm-up reqs; builds ${BUILD_SECONDS} s, limit ${limit} (never reached), SQS wait ${WAIT_SECONDS} s, KJL_K8S_QPS ${K8S_QPS} (default 50 caps 200/s)`
            : ''),
        ...(p === 'p50' ? { details: { requests: count, kjl: detail('kjl'), bare: detail('bare') } } : {}),
      });
    }
  });
}
