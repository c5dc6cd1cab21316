// Slot refill and utilisation: a backlog already in the queue, worker processes (`kjl start`,
// role `worker`) under a global limit, and the simulated cluster's own record of every Job's
// creation and end (GET /sim/jobs). How soon after a Job ends does the next one take its slot, and
// how full are the slots kept while there is work?
import { sendMessages } from '../../dist/intake/publisher.js';
import { startLauncher } from './child.js';
import { createdTwice } from './cluster-watch.js';
import { benchRequest, validMessage } from './messages.js';
import { depth, queueName } from './stack.js';
import { round, summarise } from './stats.js';
import { waitFor } from './wait.js';

export const SETTINGS = {
  full: {
    backlog: 300,
    limit: 10,
    // a build's container runs 0.5–0.95 s (by the last digit of its parser id), after the sim's
    // 0.5 s container start
    buildSeconds: [0.5, 0.95],
    failShares: [0, 0.2],
    workers: [1, 3],
    // 4 configurations of ~40 s each: one run apiece keeps the scenario within ~3 minutes
    repeats: 1,
  },
  quick: {
    backlog: 30,
    limit: 5,
    // shorter builds than in full: quick only proves the scenario runs
    buildSeconds: [0.2, 0.4],
    failShares: [0.2],
    workers: [1, 3],
    repeats: 1,
  },
};

const PARSER_ID = 'kjl.dev/parser-id';

/**
 * Kubelet rules: parser ids `bench-<scope>fail-*` fail (exit 1), `bench-<scope>-*` succeed; the
 * container runs from `min` to `max` seconds by the id's last digit, so that Jobs end apart.
 */
export function buildRules(scope, [min, max]) {
  const rules = [];
  for (const [kind, action] of [
    [`${scope}fail`, 'fail'],
    [scope, 'succeed'],
  ]) {
    for (let digit = 0; digit < 10; digit++) {
      rules.push({
        match: { labels: { [PARSER_ID]: `bench-${kind}-*${digit}` } },
        action,
        seconds: round(min + ((max - min) * digit) / 9, 3),
      });
    }
  }
  return rules;
}

/** `count` requests of which `failShare` (spread evenly) get a parser id the rules fail. */
export function backlogRequests(scope, count, failShare = 0) {
  return Array.from({ length: count }, (_, i) => {
    const fails = Math.floor((i + 1) * failShare) > Math.floor(i * failShare);
    return benchRequest(fails ? `${scope}fail` : scope, i);
  });
}

/**
 * Puts `requests` into a fresh queue the way users do: through SQS and a launcher with role
 * `intake`, stopped once every entry is queued. Returns the queue's name and a handle on it.
 */
export async function loadBacklog(stack, scenario, requests) {
  const sqs = await stack.sqs();
  try {
    await sendMessages(
      sqs.client,
      sqs.queues.builds,
      requests.map((request, i) => validMessage(request, i)),
    );
    const name = queueName(scenario);
    const queue = stack.queue(name);
    // a short long-poll: the intake's stop waits for the receive in flight (20 s by default)
    const intake = await startLauncher(stack, {
      role: 'intake',
      sqs,
      queueName: name,
      env: { KJL_SQS_WAIT_SECONDS: '1' },
    });
    try {
      await waitFor(
        `${scenario}: ${requests.length} entries queued`,
        async () => {
          const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
          return counts.waiting + counts.prioritized + counts.delayed >= requests.length;
        },
        { timeoutMs: 120_000, everyMs: 100 },
      );
      await waitFor(
        `${scenario}: the source queue to empty`,
        async () => (await depth(sqs.client, sqs.queues.builds)) === 0,
        { timeoutMs: 30_000, everyMs: 50 },
      );
    } finally {
      await intake.stop();
    }
    return { name, queue };
  } finally {
    await sqs.stop();
  }
}

/** Every Job the simulated cluster created, from its own record: times in epoch ms. */
export async function jobLifetimes(cluster) {
  const response = await fetch(`${cluster.url}/sim/jobs`);
  if (!response.ok) throw new Error(`GET /sim/jobs: ${response.status}`);
  return (await response.json()).map((job) => ({
    name: job.name,
    parserId: job.labels[PARSER_ID],
    created: Date.parse(job.createdAt),
    ended: job.finishedAt
      ? Date.parse(job.finishedAt)
      : job.deletedAt
        ? Date.parse(job.deletedAt)
        : undefined,
  }));
}

/**
 * Refill and utilisation from the Jobs' lifetimes under `limit`. The k-th Job to end frees the slot
 * the (limit + k)-th Job to be created takes (with the limit held, that create cannot come
 * earlier): refill latency is the time between the two, for every end that a later create
 * followed. Utilisation: Job-seconds active ÷ (limit × span) from the moment `limit` Jobs were
 * first active to the last create (the backlog was not empty in between).
 */
export function slotTimeline(jobs, limit) {
  const creates = jobs.map((job) => job.created).sort((a, b) => a - b);
  const byEnd = jobs.filter((job) => job.ended !== undefined).sort((a, b) => a.ended - b.ended);
  const refills = [];
  for (let k = 0; k < byEnd.length && limit + k < creates.length; k++) {
    refills.push({ ms: creates[limit + k] - byEnd[k].ended, after: byEnd[k] });
  }
  const events = [
    ...jobs.map((job) => ({ at: job.created, delta: 1 })),
    ...byEnd.map((job) => ({ at: job.ended, delta: -1 })),
  ].sort((a, b) => a.at - b.at || a.delta - b.delta);
  let active = 0;
  let full;
  for (const event of events) {
    active += event.delta;
    if (active >= limit) {
      full = event.at;
      break;
    }
  }
  const last = creates.at(-1);
  let utilisation;
  let jobSeconds = 0;
  if (full !== undefined && last > full) {
    for (const job of jobs) {
      const from = Math.max(job.created, full);
      const to = Math.min(job.ended ?? last, last);
      if (to > from) jobSeconds += (to - from) / 1000;
    }
    utilisation = (jobSeconds / (limit * ((last - full) / 1000))) * 100;
  }
  return {
    refills,
    utilisation,
    windowSeconds: full === undefined ? 0 : (last - full) / 1000,
    jobSeconds,
    firstCreate: creates[0],
    lastCreate: last,
    lastEnd: byEnd.at(-1)?.ended,
  };
}

/**
 * A backlog for one run, loaded ahead of it: `backlog` requests (`failShare` of them failing) in a
 * fresh queue. Every run's backlog is loaded before the first run starts, so that no intake
 * shares the machine with a measured run.
 */
export async function prepareBacklog(stack, { scope, backlog, failShare = 0 }) {
  const requests = backlogRequests(scope, backlog, failShare);
  const failing = requests.filter((request) => request.parserId.startsWith(`bench-${scope}fail-`)).length;
  const { name, queue } = await loadBacklog(stack, scope, requests);
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
  return { name, queue, failing, loaded: counts.waiting + counts.prioritized + counts.delayed };
}

/**
 * One run on a prepared backlog: a fresh simulated cluster, `workers` worker processes started at
 * once; waits until every entry is completed or failed, then reads the cluster's record.
 */
export async function runBacklog(
  stack,
  prepared,
  { scope, backlog, limit, buildSeconds, workers, env = {} },
) {
  const { name, queue } = prepared;
  const cluster = await stack.cluster({ rules: buildRules(scope, buildSeconds) });
  const started = Date.now();
  const launchers = await Promise.all(
    Array.from({ length: workers }, () =>
      startLauncher(stack, {
        role: 'worker',
        cluster,
        queueName: name,
        env: { KJL_MAX_CONCURRENT_JOBS: String(limit), KJL_MAX_ATTEMPTS: '1', ...env },
      }),
    ),
  );
  const readyMs = Date.now() - started;
  try {
    const jobSeconds = 0.5 + (buildSeconds[0] + buildSeconds[1]) / 2;
    await waitFor(
      `${scope}: ${backlog} entries completed or failed`,
      async () => {
        const counts = await queue.getJobCounts('completed', 'failed');
        return counts.completed + counts.failed >= backlog;
      },
      // at least 10 builds/s, whatever the limit
      { timeoutMs: Math.max(60_000, ((backlog * jobSeconds) / limit) * 3000, backlog * 100), everyMs: 100 },
    );
    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
    const stats = await cluster.stats();
    const jobs = await jobLifetimes(cluster);
    const cpuSeconds = await Promise.all(launchers.map((launcher) => launcher.cpuSeconds()));
    // an entry taken more than once was put back (delayed): for a slot, a target, or the API
    const finished = await queue.getJobs(['completed', 'failed'], 0, -1);
    const retaken = finished.filter((entry) => entry.attemptsStarted > 1).length;
    const starts = finished.reduce((sum, entry) => sum + entry.attemptsStarted, 0);
    return { ...prepared, counts, stats, jobs, readyMs, cpuSeconds, retaken, starts };
  } finally {
    await Promise.all(launchers.map((launcher) => launcher.stop()));
    await cluster.stop();
  }
}

/** The checks every run of a backlog must pass: each Job once, the limit held, every entry done. */
export function checkRun(check, label, run, { backlog, limit }) {
  const twice = createdTwice(run.stats);
  const created = Object.keys(run.stats.jobsCreated).length;
  const ended = run.jobs.filter((job) => job.ended !== undefined).length;
  check(`${label}: ${backlog} entries loaded`, run.loaded === backlog, { loaded: run.loaded });
  check(`${label}: each request's Job created exactly once`, twice.length === 0 && created === backlog, {
    createdTwice: twice.slice(0, 5),
    created,
    expected: backlog,
  });
  check(`${label}: never more than ${limit} Jobs active`, run.stats.maxActiveJobs <= limit, {
    maxActiveJobs: run.stats.maxActiveJobs,
  });
  check(
    `${label}: all ${backlog} finished (${backlog - run.failing} succeeded, ${run.failing} failed, none retried)`,
    ended === backlog && run.counts.completed === backlog - run.failing && run.counts.failed === run.failing,
    { ended, counts: run.counts, failing: run.failing },
  );
}

export async function run(stack, { settings, repeats, figure, check }) {
  const { backlog, limit, buildSeconds } = settings;
  const times = Math.min(repeats, settings.repeats);
  const configs = settings.failShares.flatMap((failShare) =>
    settings.workers.map((workers) => ({ failShare, workers })),
  );
  const prepared = await Promise.all(
    configs.map(({ failShare }) =>
      Promise.all(
        Array.from({ length: times }, () => prepareBacklog(stack, { scope: 'refill', backlog, failShare })),
      ),
    ),
  );
  for (const [c, { failShare, workers }] of configs.entries()) {
    const config = `${Math.round(failShare * 100)}% failing, ${workers} worker${workers > 1 ? 's' : ''}`;
    const p99 = [];
    const utilisation = [];
    const details = [];
    for (const backlogOfRun of prepared[c]) {
      const result = await runBacklog(stack, backlogOfRun, {
        scope: 'refill',
        backlog,
        limit,
        buildSeconds,
        workers,
      });
      checkRun(check, `refill (${config})`, result, { backlog, limit });
      const timeline = slotTimeline(result.jobs, limit);
      const all = summarise(timeline.refills.map((refill) => refill.ms));
      const afterFailure = timeline.refills.filter((refill) => refill.after.parserId.includes('refillfail-'));
      const afterSuccess = timeline.refills.filter((refill) => !afterFailure.includes(refill));
      p99.push(all.p99);
      utilisation.push(timeline.utilisation ?? 0);
      details.push({
        refillMs: msSummary(all),
        ...(afterFailure.length
          ? {
              refillAfterFailedJobMs: msSummary(summarise(afterFailure.map((refill) => refill.ms))),
              refillAfterSucceededJobMs: msSummary(summarise(afterSuccess.map((refill) => refill.ms))),
            }
          : {}),
        refillsOver50Ms: timeline.refills.filter((refill) => refill.ms > 50).length,
        windowSeconds: round(timeline.windowSeconds, 2),
        jobSeconds: round(timeline.jobSeconds, 1),
        buildsPerSecond: round(backlog / ((timeline.lastEnd - timeline.firstCreate) / 1000), 2),
        entriesTakenAgain: result.retaken,
        entryStarts: result.starts,
        workersReadyMs: result.readyMs,
        workerCpuSeconds: result.cpuSeconds.map((s) => round(s, 2)),
        maxActiveJobs: result.stats.maxActiveJobs,
        apiRequests: result.stats.requests,
      });
    }
    const runDetails = details.length === 1 ? details[0] : details;
    figure({
      figure: `refill p99 (${config})`,
      unit: 'ms',
      runs: p99,
      goal: { max: 50 },
      notes:
        `${backlog} queued, limit ${limit}, ${buildSeconds.join('–')} s builds (+0.5 s start): from the k-th ` +
        `Job's end to the (limit+k)-th Job's create, the sim's clock`,
      details: runDetails,
    });
    figure({
      figure: `slot utilisation (${config})`,
      unit: '%',
      runs: utilisation,
      goal: { min: 99 },
      notes: 'Job-seconds active ÷ (limit × span), from the limit first full to the last create',
    });
  }
}

const msSummary = (summary) =>
  Object.fromEntries(
    ['count', 'p50', 'p95', 'p99', 'max'].map((key) => [key, round(summary[key] ?? Number.NaN)]),
  );
