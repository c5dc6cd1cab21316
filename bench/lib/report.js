import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, platform, arch, release } from 'node:os';

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

/** A fixed-width table: metric, value (right-aligned), unit, notes. */
export function table(rows) {
  const header = { metric: 'metric', value: 'value', unit: 'unit', notes: 'notes' };
  const cells = [header, ...rows.map((row) => ({ ...row, value: String(row.value) }))];
  const width = (key) => Math.max(...cells.map((cell) => cell[key].length));
  const [m, v, u] = [width('metric'), width('value'), width('unit')];
  const line = (cell) =>
    `${cell.metric.padEnd(m)}  ${cell.value.padStart(v)}  ${cell.unit.padEnd(u)}  ${cell.notes}`.trimEnd();
  const rule = '-'.repeat(Math.max(...cells.map((cell) => line(cell).length)));
  return [line(header), rule, ...rows.map((row) => line({ ...row, value: String(row.value) }))].join('\n');
}
