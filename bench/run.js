// kjl benchmarks against baselines run side by side: `npm run bench` (builds first). Each figure
// is taken from the launcher as users run it (`kjl start` from dist/, a process of its own) and,
// where one exists, from a bare loop with the same clients on the same servers in the same run:
// a redis-server child (append-only, fsync always), an SQS-compatible server (fauxqs, in this
// process) and the simulated Kubernetes cluster (a process of its own). Loopback only.
//
//   npm run bench                    every scenario, repeated; the table, then bench/results.json
//   npm run bench -- --quick         small sizes, one run each (CI: proves the bench still runs)
//   npm run bench -- --only intake   some scenarios (comma-separated names), to bench/results-only.json
//
// Exits 1 when a correctness check fails (a Job created twice, the limit exceeded, a count off) or
// a scenario did not finish; a goal that is missed is reported, not an error.
import console from 'node:console';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath, URL } from 'node:url';
import * as api from './lib/api.js';
import * as dispatch from './lib/dispatch.js';
import * as intake from './lib/intake.js';
import * as memory from './lib/memory.js';
import * as refill from './lib/refill.js';
import * as scaleOut from './lib/scale-out.js';
import { machine, summariseFigure, table } from './lib/report.js';
import { Stack } from './lib/stack.js';

const SCENARIOS = { intake, dispatch, refill, api, memory, scaleOut };

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const names = flags.only ? flags.only.split(',') : Object.keys(SCENARIOS);
for (const name of names) {
  if (!SCENARIOS[name])
    throw new Error(`--only: no scenario "${name}" (${Object.keys(SCENARIOS).join(', ')})`);
}
const mode = flags.quick ? 'quick' : 'full';
const repeats = flags.quick ? 1 : 3;
const out =
  flags.out ??
  fileURLToPath(
    new URL(
      // a full run of some scenarios must not replace the last full run of all (the README's)
      flags.quick ? './results-quick.json' : flags.only ? './results-only.json' : './results.json',
      import.meta.url,
    ),
  );

const rows = [];
const checks = [];
const errors = [];
const settings = {};
let scenario = '';
const figure = (row) => {
  const summary = summariseFigure({ scenario, ...row });
  rows.push(summary);
  console.error(`  ${summary.figure}: ${summary.value} ${summary.unit} (runs ${summary.runs.join(', ')})`);
};
const check = (name, ok, detail) => {
  checks.push({ scenario, name, ok, ...(ok ? {} : { detail }) });
  if (!ok) console.error(`  CHECK FAILED: ${name} ${JSON.stringify(detail)}`);
};

const stack = await Stack.start();
const onSignal = (signal) => {
  console.error(`${signal}: cleaning up`);
  void stack.close().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const startedAt = performance.now();
try {
  for (const name of names) {
    const { SETTINGS, run } = SCENARIOS[name];
    scenario = name;
    settings[name] = SETTINGS[mode];
    console.error(`${name} …`);
    const began = performance.now();
    try {
      await run(stack, { settings: SETTINGS[mode], repeats, figure, check });
    } catch (error) {
      errors.push({ scenario: name, error: error.message });
      console.error(`  ${name} failed: ${error.stack}`);
    }
    console.error(`  (${Math.round((performance.now() - began) / 1000)} s)`);
  }
} finally {
  await stack.close();
}

const ok = errors.length === 0 && checks.every((c) => c.ok);
const results = {
  benchmark: 'kube-job-launcher',
  mode,
  repeats,
  machine: machine(),
  settings,
  durationSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
  results: rows,
  checks,
  errors,
  ok,
};
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);

const m = results.machine;
console.log(
  `\nkjl bench (${mode}, ${repeats} run(s) each) — node ${m.node}, ${m.cpus} × ${m.cpuModel}, redis ${m.redis}\n`,
);
console.log(table(rows));
console.log(
  `\nchecks: ${checks.filter((c) => c.ok).length}/${checks.length} passed` +
    `${errors.length ? `, ${errors.length} scenario(s) did not finish` : ''}; ` +
    `goals: ${rows.filter((r) => r.met).length} met, ${rows.filter((r) => r.met === false).length} missed; ` +
    `${results.durationSeconds} s; written to ${out}`,
);
for (const failed of checks.filter((c) => !c.ok)) console.log(`FAILED: ${failed.name}`);
for (const error of errors) console.log(`ERROR in ${error.scenario}: ${error.error}`);
process.exitCode = ok ? 0 : 1;
