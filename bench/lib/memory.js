import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendMessages } from '../../dist/intake/publisher.js';
import { startBare, startLauncher } from './child.js';
import { benchRequest, validMessage } from './messages.js';
import { queueName } from './stack.js';
import { waitFor } from './wait.js';

export const SETTINGS = {
  full: { queued: 10_000, running: 1000, settleSeconds: 5, windowSeconds: 10 },
  quick: { queued: 300, running: 30, settleSeconds: 1, windowSeconds: 2 },
};

const MIB = 1024 * 1024;
// what `kjl start` with role all loads (the cluster half included)
const LAUNCHER_MODULES = ['../../dist/cli/runtime.js', '../../dist/cli/runtime-cluster.js'];

/**
 * After `settle` seconds: the CPU the process used over `window` seconds (in cores), its RSS as a
 * user sees it, then its heap after a full GC (the probe).
 */
async function measure(process, { settleSeconds, windowSeconds }) {
  await sleep(settleSeconds * 1000);
  const cpu0 = await process.cpuSeconds();
  const began = performance.now();
  await sleep(windowSeconds * 1000);
  const cores = ((await process.cpuSeconds()) - cpu0) / ((performance.now() - began) / 1000);
  const rss = await process.rssMiB();
  const memory = await process.probe();
  return {
    rss,
    cores,
    heapAfterGc: memory.heapUsed / MIB,
    heapCommitted: memory.heapTotal / MIB,
    external: memory.external / MIB,
  };
}

/** RSS of a process that loads `imports` and then idles. */
async function idleRss(stack, imports, settings) {
  const process = await startBare(stack, './bare-idle.js', { imports });
  try {
    await sleep(settings.settleSeconds * 1000);
    return await process.rssMiB();
  } finally {
    await process.stop();
  }
}

/** One launcher (role all) idle, then with `queued` entries waiting and `running` Jobs running. */
async function launcherRun(stack, settings) {
  const { queued, running } = settings;
  const sqs = await stack.sqs();
  const cluster = await stack.cluster({
    rules: [{ match: { labels: { 'kjl.dev/parser-id': 'bench-*' } }, action: 'succeed', seconds: 3600 }],
  });
  const name = queueName('memory');
  const queue = stack.queue(name);
  const launcher = await startLauncher(stack, {
    role: 'all',
    sqs,
    cluster,
    queueName: name,
    env: { KJL_MAX_CONCURRENT_JOBS: String(running), KJL_SQS_WAIT_SECONDS: '1' },
  });
  try {
    const idle = await measure(launcher, settings);
    const messages = Array.from({ length: queued + running }, (_, i) =>
      validMessage(benchRequest('memory', i), i),
    );
    for (let i = 0; i < messages.length; i += 500) {
      await sendMessages(sqs.client, sqs.queues.builds, messages.slice(i, i + 500));
    }
    await waitFor(
      `${running} Jobs running and ${queued} entries waiting`,
      async () => {
        const [stats, waiting] = await Promise.all([cluster.stats(), queue.getWaitingCount()]);
        return stats.activeJobs === running && waiting === queued;
      },
      { timeoutMs: 300_000, everyMs: 500 },
    );
    const loaded = await measure(launcher, settings);
    const stats = await cluster.stats();
    return { idle, loaded, maxActiveJobs: stats.maxActiveJobs };
  } finally {
    await launcher.stop();
    await cluster.stop();
    await queue.obliterate({ force: true });
    await sqs.stop();
  }
}

/**
 * Memory and CPU of the launcher as its own process (the simulated cluster and the SQS server are
 * others): idle, and with a large backlog and many Jobs running while nothing changes. Baselines:
 * bare Node, and Node that has only loaded the launcher's modules.
 */
export async function run(stack, { settings, repeats, figure, check }) {
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    const bareNode = await idleRss(stack, [], settings);
    const imports = await idleRss(stack, LAUNCHER_MODULES, settings);
    runs.push({ bareNode, imports, ...(await launcherRun(stack, settings)) });
  }
  const { queued, running } = settings;
  check(
    `memory: ${running} Jobs running at most (the limit)`,
    runs.every((r) => r.maxActiveJobs <= running),
    runs.map((r) => r.maxActiveJobs),
  );
  const load = `${queued.toLocaleString('en')} queued + ${running.toLocaleString('en')} running`;
  const bareNode = { label: 'bare node', runs: runs.map((r) => r.bareNode) };
  figure({
    figure: 'RSS idle',
    unit: 'MiB',
    digits: 0,
    runs: runs.map((r) => r.idle.rss),
    baseline: bareNode,
    notes: 'role all, connected, nothing queued',
    details: runs.map(({ bareNode: node, imports, idle }) => ({
      bareNode: node,
      importsOnly: imports,
      ...idle,
    })),
  });
  figure({
    figure: "RSS of the launcher's modules, loaded only",
    unit: 'MiB',
    digits: 0,
    runs: runs.map((r) => r.imports),
    baseline: bareNode,
    notes: 'a process that imports what role all loads and does nothing: the code part of the idle figure',
  });
  figure({
    figure: `RSS, ${load}`,
    unit: 'MiB',
    digits: 0,
    runs: runs.map((r) => r.loaded.rss),
    baseline: bareNode,
    goal: { max: 250 },
    notes: 'the Jobs run for an hour; measured once all are running and the rest wait',
    details: runs.map((r) => r.loaded),
  });
  figure({
    figure: `heap after GC, ${load}`,
    unit: 'MiB',
    digits: 0,
    runs: runs.map((r) => r.loaded.heapAfterGc),
    notes: "the launcher's own figure after a full collection",
  });
  figure({
    figure: 'CPU idle',
    unit: 'cores',
    digits: 3,
    runs: runs.map((r) => r.idle.cores),
    goal: { max: 0.02 },
    notes: `user + system over ${settings.windowSeconds} s (/proc)`,
  });
  figure({
    figure: `CPU, ${load}, nothing changing`,
    unit: 'cores',
    digits: 3,
    runs: runs.map((r) => r.loaded.cores),
    goal: { max: 0.02 },
    notes: `user + system over ${settings.windowSeconds} s (/proc)`,
  });
}
