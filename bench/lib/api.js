// API use per build: what kjl (`kjl start`, role all) asks of the API server for N builds that
// succeed, then N that fail, all running at once (the limit is N): requests by verb over the phase
// ÷ N, the watches open and the TCP connections to the API server (sampled, the most seen).
import { setTimeout as sleep } from 'node:timers/promises';
import { sendMessages } from '../../dist/intake/publisher.js';
import { startLauncher } from './child.js';
import { createdTwice } from './cluster-watch.js';
import { benchRequest, validMessage } from './messages.js';
import { connectionsTo, sampleMax } from './proc.js';
import { queueName } from './stack.js';
import { round } from './stats.js';
import { waitFor } from './wait.js';

export const SETTINGS = {
  full: { counts: [10, 100, 1000], succeedSeconds: 3, failSeconds: 1, idleSeconds: 1 },
  quick: { counts: [10], succeedSeconds: 1, failSeconds: 1, idleSeconds: 0.5 },
};

/** At and above this many Jobs the client-side rate limit is raised, so that a run takes seconds. */
const RAISED_QPS_FROM = 1000;
const RAISED_QPS = 500;

const rules = ({ succeedSeconds, failSeconds }) => [
  { match: { labels: { 'kjl.dev/parser-id': 'bench-ok-*' } }, action: 'succeed', seconds: succeedSeconds },
  { match: { labels: { 'kjl.dev/parser-id': 'bench-fail-*' } }, action: 'fail', seconds: failSeconds },
];

const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
const delta = (after, before) =>
  Object.fromEntries(
    Object.keys(after)
      .map((verb) => [verb, after[verb] - (before[verb] ?? 0)])
      .filter(([, n]) => n > 0),
  );

/**
 * One phase: N builds of `scope` ('ok' or 'fail') sent at once; measured from just before the
 * send until kjl has recorded every outcome and its requests have stopped (what follows an
 * outcome, the delete of a failed Job, included).
 */
async function phase(stack, { cluster, sqs, queue, apiPort }, scope, count) {
  const before = await cluster.stats();
  const watches = sampleMax(async () => (await cluster.stats()).openWatches, 100);
  // connections for requests: those established to the API port less the watch streams (each has
  // its own), both read in one sample
  const tcp = sampleMax(async () => {
    const [all, { openWatches }] = await Promise.all([connectionsTo(apiPort), cluster.stats()]);
    return all - openWatches;
  }, 100);
  const started = Date.now();
  const messages = Array.from({ length: count }, (_, i) => validMessage(benchRequest(scope, i), i));
  await sendMessages(sqs.client, sqs.queues.builds, messages);
  const state = scope === 'ok' ? 'completed' : 'failed';
  await waitFor(`${count} builds ${state}`, async () => (await queue.getJobCountByTypes(state)) >= count, {
    timeoutMs: 120_000,
    everyMs: 100,
  });
  // the requests that follow an outcome (a failed Job's delete): until none for 300 ms
  let last = sum((await cluster.stats()).requests);
  for (;;) {
    await sleep(300);
    const now = sum((await cluster.stats()).requests);
    if (now === last) break;
    last = now;
  }
  const seconds = (Date.now() - started) / 1000;
  const after = await cluster.stats();
  const jobsBefore = Object.keys(before.jobsCreated).length;
  return {
    requests: delta(after.requests, before.requests),
    jobs: Object.keys(after.jobsCreated).length - jobsBefore,
    twice: createdTwice(after),
    watches: await watches(),
    tcp: await tcp(),
    seconds,
  };
}

/** A launcher on fresh servers; the two phases; the idle requests in `idleSeconds` before them. */
async function apiRun(stack, count, settings) {
  const sqs = await stack.sqs();
  const cluster = await stack.cluster({ rules: rules(settings) });
  const name = queueName('api');
  const qps = count >= RAISED_QPS_FROM ? RAISED_QPS : undefined;
  const launcher = await startLauncher(stack, {
    role: 'all',
    sqs,
    cluster,
    queueName: name,
    env: {
      KJL_MAX_CONCURRENT_JOBS: String(count),
      KJL_MAX_ATTEMPTS: '1',
      KJL_SQS_WAIT_SECONDS: '1',
      ...(qps ? { KJL_K8S_QPS: String(qps), KJL_K8S_BURST: String(qps) } : {}),
    },
  });
  const queue = stack.queue(name);
  const servers = { cluster, sqs, queue, apiPort: Number(new URL(cluster.url).port) };
  try {
    const idleBefore = (await cluster.stats()).requests;
    await sleep(settings.idleSeconds * 1000);
    const idle = delta((await cluster.stats()).requests, idleBefore);
    const ok = await phase(stack, servers, 'ok', count);
    const fail = await phase(stack, servers, 'fail', count);
    return { qps, idle, ok, fail };
  } finally {
    await launcher.stop();
    await cluster.stop();
    await sqs.stop();
  }
}

const perBuild = (requests, count) =>
  Object.fromEntries(Object.entries(requests).map(([verb, n]) => [verb, round(n / count, 2)]));

export async function run(stack, { settings, repeats, figure, check }) {
  for (const count of settings.counts) {
    const runs = [];
    for (let r = 0; r < repeats; r++) runs.push(await apiRun(stack, count, settings));
    const bad = runs.filter((r) => [r.ok, r.fail].some((p) => p.jobs !== count || p.twice.length));
    check(`api ${count}: each build's Job created once`, !bad.length, {
      runs: bad.map((r) => ({ ok: r.ok.jobs, fail: r.fail.jobs, twice: [...r.ok.twice, ...r.fail.twice] })),
    });
    const jobs = `${count.toLocaleString('en')} Jobs`;
    const qps = runs[0].qps ? `KJL_K8S_QPS ${runs[0].qps} (raised)` : 'KJL_K8S_QPS default (50)';
    const verbs = (p) =>
      Object.entries(perBuild(runs[0][p].requests, count))
        .map(([verb, n]) => `${verb} ${n}`)
        .join(', ');
    for (const [p, label, max] of [
      ['ok', 'succeeded', 1],
      ['fail', 'failed', 3],
    ]) {
      figure({
        figure: `API requests per ${label} build (${jobs})`,
        unit: 'req',
        digits: 2,
        runs: runs.map((r) => sum(r[p].requests) / count),
        goal: { max },
        notes: `${count} ${label === 'failed' ? `failing (${settings.failSeconds} s)` : `succeeding (${settings.succeedSeconds} s)`} builds at once, limit ${count}, ${qps}; run 1: ${verbs(p)}`,
        details: {
          perBuildByVerb: runs.map((r) => perBuild(r[p].requests, count)),
          requests: runs.map((r) => r[p].requests),
          phaseSeconds: runs.map((r) => round(r[p].seconds, 1)),
          idleRequests: runs.map((r) => ({ seconds: settings.idleSeconds, ...r.idle })),
        },
      });
    }
    figure({
      figure: `open watches (${jobs})`,
      unit: 'watches',
      runs: runs.map((r) => Math.max(r.ok.watches, r.fail.watches)),
      goal: { max: 2 },
      notes: "the sim's watch streams, sampled every 100 ms over both phases, most seen",
      details: { ok: runs.map((r) => r.ok.watches), fail: runs.map((r) => r.fail.watches) },
    });
    figure({
      figure: `TCP connections for API requests (${jobs})`,
      unit: 'conns',
      runs: runs.map((r) => Math.max(r.ok.tcp, r.fail.tcp)),
      goal: { max: 4 },
      notes:
        'established to the API port (ss) less the open watch streams, sampled every 100 ms over both phases, most seen (KJL_K8S_CONNECTIONS default 4)',
      details: { ok: runs.map((r) => r.ok.tcp), fail: runs.map((r) => r.fail.tcp) },
    });
  }
}
