// Scale-out: a limit far above what one worker process keeps busy, a backlog already in the queue,
// then one worker process and, on a fresh backlog and cluster, three. Adding worker processes must
// add capacity when the workers, not the limit, are the bottleneck, and the limit must still hold.
import { checkRun, prepareBacklog, runBacklog } from './refill.js';
import { round } from './stats.js';

export const SETTINGS = {
  full: { backlog: 1500, limit: 300, buildSeconds: [0.5, 0.5], workers: [1, 3], repeats: 3 },
  quick: { backlog: 100, limit: 300, buildSeconds: [0.5, 0.5], workers: [1, 3], repeats: 1 },
};

/** Builds per second over the cluster's own record: first Job created to last Job ended. */
function throughput(jobs) {
  const first = Math.min(...jobs.map((job) => job.created));
  const last = Math.max(...jobs.map((job) => job.ended ?? Number.NaN));
  return { buildsPerSecond: jobs.length / ((last - first) / 1000), seconds: (last - first) / 1000 };
}

/** Jobs created per second over the busiest second (how close one process gets to its QPS). */
function peakCreateRate(jobs) {
  const creates = jobs.map((job) => job.created).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < creates.length; i++) {
    while (creates[i] - creates[j] >= 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

export async function run(stack, { settings, repeats, figure, check }) {
  const { backlog, limit, buildSeconds } = settings;
  const times = Math.min(repeats, settings.repeats);
  const scope = 'scale';
  const byWorkers = Object.fromEntries(settings.workers.map((workers) => [workers, []]));
  // every backlog first (intakes in parallel), so that no intake shares the machine with a run
  const prepared = await Promise.all(
    Array.from({ length: times * settings.workers.length }, () => prepareBacklog(stack, { scope, backlog })),
  );
  for (let i = 0; i < times; i++) {
    for (const [w, workers] of settings.workers.entries()) {
      const result = await runBacklog(stack, prepared[i * settings.workers.length + w], {
        scope,
        backlog,
        limit,
        buildSeconds,
        workers,
      });
      checkRun(check, `scale-out (${workers} worker${workers > 1 ? 's' : ''})`, result, { backlog, limit });
      const { buildsPerSecond, seconds } = throughput(result.jobs);
      byWorkers[workers].push({
        buildsPerSecond,
        seconds: round(seconds, 2),
        peakCreatesPerSecond: peakCreateRate(result.jobs),
        maxActiveJobs: result.stats.maxActiveJobs,
        entriesTakenAgain: result.retaken,
        entryStarts: result.starts,
        workersReadyMs: result.readyMs,
        workerCpuSeconds: result.cpuSeconds.map((s) => round(s, 2)),
        apiRequests: result.stats.requests,
      });
    }
  }
  const [one, many] = settings.workers;
  const oneRuns = byWorkers[one];
  const manyRuns = byWorkers[many];
  const details = (runs) =>
    runs.map(({ buildsPerSecond, ...rest }) => ({ buildsPerSecond: round(buildsPerSecond, 2), ...rest }));
  figure({
    figure: `builds/s with ${many} worker processes`,
    unit: 'builds/s',
    runs: manyRuns.map((r) => r.buildsPerSecond),
    baseline: { label: `${one} worker process`, runs: oneRuns.map((r) => r.buildsPerSecond) },
    goal: { min: 1.5, on: 'ratio' },
    notes:
      `${backlog} queued, limit ${limit}, ${buildSeconds[0]} s builds (+0.5 s start), default KJL_K8S_QPS ` +
      `(50/s per process, which bounds one process's create rate): jobs ÷ (first create → last end)`,
    details: { [`${one}`]: details(oneRuns), [`${many}`]: details(manyRuns) },
  });
  figure({
    figure: 'most active Jobs seen by the cluster',
    unit: 'jobs',
    runs: manyRuns.map((r) => r.maxActiveJobs),
    goal: { max: limit },
    digits: 0,
    notes: `cluster.stats().maxActiveJobs with ${many} workers; with ${one}: ${oneRuns.map((r) => r.maxActiveJobs).join(', ')}`,
  });
}
