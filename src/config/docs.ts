import { fileURLToPath } from 'node:url';
import { flagOf } from './flags.js';
import { ERROR_CODES } from '../errors.js';
import { FAILURE_REASONS } from '../failure-reasons.js';
import { SETTINGS } from './settings.js';

/** The folder `KJL_TEMPLATES_DIR` defaults to: `templates/` of the installed package. */
const PACKAGE_TEMPLATES_DIR = fileURLToPath(new URL('../../templates', import.meta.url));

interface DocumentedSetting {
  env: string;
  /** the default as words, when it is derived from other settings */
  defaultText?: string;
  schema: { safeParse(value: unknown): { success: boolean; data?: unknown } };
  doc: string;
}

/** A table cell: one line, `|` escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

/** The default of a setting as the README shows it: `—` when there is none (unset). */
export function defaultOf(setting: DocumentedSetting): string {
  if (setting.defaultText) return setting.defaultText;
  const parsed = setting.schema.safeParse(undefined);
  const value = parsed.success ? parsed.data : undefined;
  if (value === undefined) return '—';
  if (value === PACKAGE_TEMPLATES_DIR) return '`templates/` of the package';
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return `\`${text}\``;
}

/**
 * The README's configuration table (Markdown), one row per entry of SETTINGS in its order:
 * environment variable, command-line flag, default, meaning. The docs test checks that the README
 * holds exactly this between its `config-table` markers.
 */
export function renderConfigTable(settings: readonly DocumentedSetting[] = SETTINGS): string {
  const rows = settings.map(
    (setting) =>
      `| \`${setting.env}\` | \`${flagOf(setting.env)}\` | ${cell(defaultOf(setting))} | ${cell(setting.doc)} |`,
  );
  return ['| Variable | Flag | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The README's error table (Markdown): code and meaning, from ERROR_CODES. */
export function renderErrorTable(codes: Readonly<Record<string, string>> = ERROR_CODES): string {
  const rows = Object.entries(codes).map(([code, meaning]) => `| \`${code}\` | ${cell(meaning)} |`);
  return ['| Code | Meaning |', '| --- | --- |', ...rows].join('\n');
}

/** The README's failure-reason table (Markdown): reason, retried or not, metric label, meaning. */
export function renderFailureTable(): string {
  const rows = Object.entries(FAILURE_REASONS).map(
    ([reason, { retryable, metric, doc }]) =>
      `| \`${reason}\` | ${retryable ? 'yes' : 'no'} | \`${metric}\` | ${cell(doc)} |`,
  );
  return [
    '| Reason | Retried | `reason` label of `k8s_job_failures_total` | Meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** The part of a JSON Schema the Helm chart's values table reads. */
export interface ValuesSchema {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Readonly<Record<string, ValuesSchema>>;
  items?: ValuesSchema;
}

/**
 * The Helm chart's values table (Markdown) from its `values.schema.json`: one row per leaf value
 * (an object with `properties` and no default of its own is walked into), with its dotted key, type, default and description.
 * The chart test checks that the chart's README holds exactly this between its `values-table`
 * markers, and that the schema's defaults are those of `values.yaml`.
 */
export function renderValuesTable(schema: ValuesSchema): string {
  const rows: string[] = [];
  const walk = (node: ValuesSchema, path: string) => {
    if (node.type === 'object' && node.properties && !('default' in node)) {
      for (const [key, child] of Object.entries(node.properties)) walk(child, path ? `${path}.${key}` : key);
      return;
    }
    const type =
      node.type === 'array' && node.items?.type ? `array of ${node.items.type}` : (node.type ?? 'any');
    rows.push(
      `| \`${path}\` | ${type} | \`${JSON.stringify(node.default)}\` | ${cell(node.description ?? '')} |`,
    );
  };
  walk(schema, '');
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
