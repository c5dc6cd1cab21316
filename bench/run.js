// kjl benchmarks: `npm run bench` (builds first). Runs the launcher built in dist/ (startRuntime,
// in this process) against a redis-server child, an in-process SQS-compatible server (fauxqs) and
// the simulated Kubernetes cluster in a child process of its own (its controllers deep-copy every
// Pod on each sync; sharing kjl's event loop, they would dominate the figures). Loopback only.
// Prints a table and writes bench/results.json; exits 1 when a correctness check fails (wrong
// counts, the concurrent-job limit exceeded) or a scenario does not finish in time.
// KJL_BENCH_TIMELINE=1 prints each latency request's send/receive/queue/Job times to stderr.
import console from 'node:console';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath, URL } from 'node:url';
import { buildThroughput } from './lib/throughput.js';
import { dedupCost, intakeThroughput } from './lib/intake.js';
import { endToEndLatency } from './lib/latency.js';
import { machine, table } from './lib/report.js';
import { Stack } from './lib/stack.js';

const SETTINGS = {
  intake: { count: 2000, invalidShare: 0.2 },
  latency: { rate: 20, seconds: 10, limit: 50, warmup: 5 },
  throughput: { builds: 200, limit: 10, buildSeconds: 1 },
  dedup: { unique: 100, copies: 10 },
};
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

const rows = [];
const checks = [];
const errors = [];
let scenario = '';
const report = ({ details, ...row }) => {
  rows.push({ scenario, ...row, ...(details ? { details } : {}) });
  console.error(`  ${row.metric}: ${row.value} ${row.unit}`);
};
const check = (name, ok, detail) => {
  checks.push({ scenario, name, ok, detail });
  if (!ok) console.error(`  CHECK FAILED: ${name} ${JSON.stringify(detail)}`);
};

async function step(name, run) {
  scenario = name;
  console.error(`${name} …`);
  try {
    await run();
  } catch (error) {
    errors.push({ scenario: name, error: error.message });
    console.error(`  ${name} failed: ${error.stack}`);
  }
}

const stack = await Stack.start();
const onSignal = (signal) => {
  console.error(`${signal}: cleaning up`);
  void stack.close().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const startedAt = performance.now();
try {
  let perMessageMs;
  await step('intake', async () => {
    const { clean } = await intakeThroughput(stack, { ...SETTINGS.intake, report, check });
    perMessageMs = (clean.seconds * 1000) / SETTINGS.intake.count;
  });
  await step('latency', () => endToEndLatency(stack, { ...SETTINGS.latency, report, check }));
  await step('throughput', () => buildThroughput(stack, { ...SETTINGS.throughput, report, check }));
  await step('dedup', () => dedupCost(stack, { ...SETTINGS.dedup, perMessageMs, report, check }));
} finally {
  await stack.close();
}

const ok = errors.length === 0 && checks.every((c) => c.ok);
const results = {
  benchmark: 'kube-job-launcher',
  machine: machine(),
  settings: SETTINGS,
  durationSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
  results: rows,
  checks,
  errors,
  ok,
};
await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

const m = results.machine;
console.log(`\nkjl bench — node ${m.node}, ${m.cpus} × ${m.cpuModel}, redis ${m.redis}, ${m.date}\n`);
console.log(table(rows));
console.log(
  `\nchecks: ${checks.filter((c) => c.ok).length}/${checks.length} passed` +
    `${errors.length ? `, ${errors.length} scenario(s) did not finish` : ''}; ` +
    `${results.durationSeconds} s; written to bench/results.json`,
);
for (const failed of checks.filter((c) => !c.ok)) console.log(`FAILED: ${failed.name}`);
for (const error of errors) console.log(`ERROR in ${error.scenario}: ${error.error}`);
process.exitCode = ok ? 0 : 1;
