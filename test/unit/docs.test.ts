import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultOf, renderConfigTable, renderErrorTable } from '../../src/config/docs.js';
import { flagOf } from '../../src/config/flags.js';
import { SETTINGS } from '../../src/config/settings.js';
import { ERROR_CODES, InvalidMessageCode } from '../../src/errors.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_EVENT_TYPES } from '../../src/events/build-events.js';
import { FAILURE_REASONS } from '../../src/failure-reasons.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The text between `<!-- {name}:start -->` and `<!-- {name}:end -->`, without the surrounding newlines. */
function between(name: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = README.indexOf(start);
  const to = README.indexOf(end);
  expect(from, `README has ${start}`).toBeGreaterThanOrEqual(0);
  expect(to, `README has ${end} after ${start}`).toBeGreaterThan(from);
  return README.slice(from + start.length, to).trim();
}

describe('the README', () => {
  it('holds exactly the configuration table generated from SETTINGS', () => {
    // To update it: npm run docs
    expect(between('config-table')).toBe(renderConfigTable());
  });

  it('holds exactly the error table generated from ERROR_CODES', () => {
    expect(between('error-table')).toBe(renderErrorTable());
  });

  it('documents every error code the code uses', () => {
    const src = fileURLToPath(new URL('../../src', import.meta.url));
    const variables = new Set<string>(SETTINGS.map((setting) => setting.env));
    const used = new Set<string>();
    for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      for (const [, code] of readFileSync(join(src, file), 'utf8').matchAll(/'(KJL_[A-Z_]+)'/g)) {
        if (!variables.has(code!)) used.add(code!);
      }
    }
    expect([...used].filter((code) => !(code in ERROR_CODES))).toEqual([]);
  });

  it('names every setting', () => {
    const missing = SETTINGS.map((setting) => setting.env).filter((env) => !README.includes(`\`${env}\``));
    expect(missing).toEqual([]);
  });

  it('explains every dead-letter code', () => {
    const missing = Object.values(InvalidMessageCode).filter((code) => !README.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('lists every failure reason', () => {
    const missing = Object.keys(FAILURE_REASONS).filter((reason) => !README.includes(`\`${reason}\``));
    expect(missing).toEqual([]);
  });

  it('lists every build event type', () => {
    const missing = Object.values(BUILD_EVENT_TYPES).filter((type) => !README.includes(`\`${type}\``));
    expect(missing).toEqual([]);
  });

  it('shows every figure of the last full bench run in the Performance table', () => {
    expect(README).toContain('## Performance');
    const table = README.slice(README.indexOf('<!-- bench:start -->'), README.indexOf('<!-- bench:end -->'));
    const bench = JSON.parse(readFileSync(new URL('../../bench/results.json', import.meta.url), 'utf8')) as {
      mode: string;
      results: { figure: string; value: number; unit: string }[];
    };
    expect(bench.mode).toBe('full');
    const missing = bench.results.filter(
      (row) => !table.includes(`| ${row.figure} | ${row.value} ${row.unit} |`),
    );
    expect(missing).toEqual([]);
  });
});

describe('renderConfigTable', () => {
  it('has one row per setting, in order, with its flag and its default', () => {
    const rows = renderConfigTable().split('\n').slice(2);
    expect(rows).toHaveLength(SETTINGS.length);
    SETTINGS.forEach((setting, index) => {
      expect(rows[index]).toContain(`| \`${setting.env}\` | \`${flagOf(setting.env)}\` |`);
    });
    expect(rows.find((row) => row.includes('KJL_MAX_CONCURRENT_JOBS'))).toContain('| `10` |');
    expect(rows.find((row) => row.includes('KJL_TEMPLATES`'))).toContain('| `kaniko,generic` |');
  });

  it('shows an unset default as — and the templates folder without a machine path', () => {
    const byEnv = (env: string) => SETTINGS.find((setting) => setting.env === env)!;
    expect(defaultOf(byEnv('KJL_SQS_QUEUE_URL'))).toBe('—');
    expect(defaultOf(byEnv('KJL_TEMPLATES_DIR'))).toBe('`templates/` of the package');
    expect(renderConfigTable()).not.toContain(process.cwd());
  });

  it('escapes | inside cells', () => {
    const table = renderConfigTable([{ env: 'KJL_X', schema: SETTINGS[0].schema, doc: 'a | b' }]);
    expect(table.split('\n')[2]).toBe('| `KJL_X` | `--x` | — | a \\| b |');
  });
});
