import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, platform, arch, release } from 'node:os';
import { round } from './stats.js';

/** Where the figures were taken: they mean little without it. */
export function machine() {
  let redis = 'unknown';
  try {
    redis = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? redis;
  } catch {
    // reported as unknown
  }
  const cores = cpus();
  return {
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    redis,
    date: new Date().toISOString(),
  };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/**
 * One figure of the table from its repeated runs: the median and the spread (min–max) of `runs`,
 * the baseline's median (`baseline.runs`, or `baseline.value` when it is fixed), their ratio
 * (figure ÷ baseline), and whether the goal holds. `goal`: `{ max }` or `{ min }`, on the figure,
 * or on the ratio with `on: 'ratio'`.
 */
export function summariseFigure({ runs, baseline, goal, digits = 1, ...row }) {
  const value = round(median(runs), digits);
  const base = baseline && (baseline.runs ? round(median(baseline.runs), digits) : baseline.value);
  const ratio = base ? round(median(runs) / base, 2) : undefined;
  const judged = goal?.on === 'ratio' ? ratio : value;
  const met =
    goal === undefined || judged === undefined
      ? undefined
      : (goal.max === undefined || judged <= goal.max) && (goal.min === undefined || judged >= goal.min);
  return {
    ...row,
    value,
    runs: runs.map((run) => round(run, digits)),
    spread:
      runs.length > 1 ? [round(Math.min(...runs), digits), round(Math.max(...runs), digits)] : undefined,
    ...(baseline
      ? {
          baseline: {
            label: baseline.label,
            value: base,
            ...(baseline.runs ? { runs: baseline.runs.map((run) => round(run, digits)) } : {}),
          },
          ratio,
        }
      : {}),
    ...(goal ? { goal, met } : {}),
  };
}

/** The goal as text: "≤ 15 ms", "ratio ≥ 0.8". */
export function goalText(row) {
  const { goal } = row;
  if (!goal) return '';
  const bound = goal.max !== undefined ? `≤ ${goal.max}` : `≥ ${goal.min}`;
  return goal.on === 'ratio' ? `ratio ${bound}` : `${bound}${row.unit === '%' ? '%' : ` ${row.unit}`}`;
}

const metText = (row) => (row.met === undefined ? '' : row.met ? 'met' : 'MISSED');
const spreadText = (row) => (row.spread ? `${row.spread[0]}–${row.spread[1]}` : '');
const baselineText = (row) => (row.baseline ? `${row.baseline.value} (${row.baseline.label})` : '');

/** The columns of the table, in order: header and how a row fills it. */
export const COLUMNS = [
  ['figure', (row) => row.figure],
  ['kjl', (row) => `${row.value} ${row.unit}`],
  ['spread', spreadText],
  ['baseline', baselineText],
  ['ratio', (row) => (row.ratio === undefined ? '' : String(row.ratio))],
  ['goal', goalText],
  ['met', metText],
];

/** A fixed-width table of the figures for the terminal. */
export function table(rows) {
  const cells = [
    COLUMNS.map(([header]) => header),
    ...rows.map((row) => COLUMNS.map(([, cell]) => cell(row))),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  const line = (cellsOfLine) =>
    cellsOfLine
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(cells[0]), '-'.repeat(line(cells[0]).length + 20), ...cells.slice(1).map(line)].join('\n');
}

/** The same table in Markdown, with each figure's notes (the README's Performance table). */
export function markdownTable(rows) {
  const headers = [...COLUMNS.map(([header]) => header), 'how it was measured', 'reproduce'];
  const line = (cells) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [
    line(headers),
    line(headers.map(() => '---')),
    ...rows.map((row) =>
      line([
        ...COLUMNS.map(([, cell]) => cell(row)),
        row.notes ?? '',
        `\`npm run bench -- --only ${row.scenario}\``,
      ]),
    ),
  ].join('\n');
}
