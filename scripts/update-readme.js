// Rewrites the README's generated parts (run `npm run docs`): the configuration table from the
// settings, the error table from the error codes, the failure reasons from their table, and the Performance table from bench/results.json (written by `npm run bench`); and the Helm chart's values table from its values.schema.json.
import { readFileSync, writeFileSync } from 'node:fs';
import {
  renderConfigTable,
  renderErrorTable,
  renderFailureTable,
  renderValuesTable,
} from '../dist/config/docs.js';
import { markdownTable } from '../bench/lib/report.js';

function replaceBetween(text, name, content) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md lacks ${start} … ${end}`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

function benchTable() {
  const bench = JSON.parse(readFileSync(new URL('../bench/results.json', import.meta.url), 'utf8'));
  const { machine } = bench;
  const met = bench.results.filter((row) => row.met === true).length;
  const missed = bench.results.filter((row) => row.met === false).length;
  return [
    `Measured on ${machine.date.slice(0, 10)} by \`npm run bench\` (${bench.repeats} runs of each, ` +
      `${Math.round(bench.durationSeconds / 60)} min): Node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ` +
      `${machine.memoryGiB} GiB, redis ${machine.redis} (append-only, fsync always). ` +
      `${bench.checks.filter((check) => check.ok).length}/${bench.checks.length} correctness checks passed; ` +
      `goals: ${met} met, ${missed} missed.`,
    '',
    markdownTable(bench.results),
  ].join('\n');
}

const file = new URL('../README.md', import.meta.url);
let readme = readFileSync(file, 'utf8');
readme = replaceBetween(readme, 'config-table', renderConfigTable());
readme = replaceBetween(readme, 'error-table', renderErrorTable());
readme = replaceBetween(readme, 'failure-table', renderFailureTable());
readme = replaceBetween(readme, 'bench', benchTable());
writeFileSync(file, readme);
console.log('README.md: configuration table, error table and Performance table updated');

const chartDir = new URL('../helm/kube-job-launcher/', import.meta.url);
const chartReadme = new URL('README.md', chartDir);
const schema = JSON.parse(readFileSync(new URL('values.schema.json', chartDir), 'utf8'));
writeFileSync(
  chartReadme,
  replaceBetween(readFileSync(chartReadme, 'utf8'), 'values-table', renderValuesTable(schema)),
);
console.log('helm/kube-job-launcher/README.md: values table updated from values.schema.json');
