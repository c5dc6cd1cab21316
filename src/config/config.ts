import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { SETTINGS, type Setting } from './settings.js';
import { parseSinkTarget, type SinkTarget } from './sink-target.js';

type UnionToIntersection<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void
  ? I
  : never;
type Place<P extends string, V> = P extends `${infer Head}.${infer Rest}`
  ? { readonly [K in Head]: Place<Rest, V> }
  : { readonly [K in P]: V };
type Nested<S> = UnionToIntersection<
  S extends { path: infer P extends string; schema: infer Z extends z.ZodType }
    ? Place<P, z.output<Z>>
    : never
>;

/** What is read from the settings rather than given: the parsed events sink. */
interface Derived {
  readonly events: { readonly sink: SinkTarget };
}

/** The frozen, validated configuration of one kjl process. */
export type Config = Nested<Setting> & Derived;

/**
 * What the configuration is for: `service` (`kjl start`, `kjl dev`) also checks the rules a
 * running launcher needs (the intake roles need a queue URL); `command` (one-shot commands) not.
 */
export type ConfigPurpose = 'service' | 'command';

/** Environment variables (and CLI flags under the same names) to read settings from. */
export type SettingSource = Record<string, string | undefined>;

/** Settings whose values are never echoed in an error. */
const SECRETS = new Set<string>(
  SETTINGS.filter((setting) => 'secret' in setting).map((setting) => setting.env),
);

function flatSchema(purpose: ConfigPurpose) {
  return z
    .object(
      Object.fromEntries(SETTINGS.map((setting) => [setting.env, setting.schema])) as Record<
        string,
        z.ZodType
      >,
    )
    .superRefine((flat, ctx) => {
      const issue = (variable: string, message: string) =>
        ctx.addIssue({ code: 'custom', path: [variable], message });
      const visibility = flat.KJL_SQS_VISIBILITY_TIMEOUT_SECONDS as number;
      const heartbeat = flat.KJL_SQS_HEARTBEAT_SECONDS as number;
      if (heartbeat >= visibility) {
        issue(
          'KJL_SQS_HEARTBEAT_SECONDS',
          `must be less than KJL_SQS_VISIBILITY_TIMEOUT_SECONDS (${visibility})`,
        );
      }
      const templates = flat.KJL_TEMPLATES as string[];
      if (!templates.includes(flat.KJL_DEFAULT_TEMPLATE as string)) {
        issue('KJL_DEFAULT_TEMPLATE', `must be one of KJL_TEMPLATES (${templates.join(', ')})`);
      }
      try {
        parseSinkTarget(
          flat.KJL_EVENTS_SINK as string | undefined,
          flat.KJL_SQS_ENDPOINT as string | undefined,
        );
      } catch (error) {
        for (const found of (error as ConfigError).issues ?? []) issue(found.variable, found.message);
      }
      if (!flat.KJL_DASHBOARD_USER !== !flat.KJL_DASHBOARD_PASSWORD) {
        const [missing, given] = flat.KJL_DASHBOARD_USER
          ? ['KJL_DASHBOARD_PASSWORD', 'KJL_DASHBOARD_USER']
          : ['KJL_DASHBOARD_USER', 'KJL_DASHBOARD_PASSWORD'];
        issue(missing, `is required when ${given} is set`);
      }
      if (purpose === 'service' && flat.KJL_ROLE !== 'worker' && !flat.KJL_SQS_QUEUE_URL) {
        issue('KJL_SQS_QUEUE_URL', `is required when the intake runs (KJL_ROLE ${String(flat.KJL_ROLE)})`);
      }
    });
}

function place(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[keys.at(-1)!] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses every setting from `env`, with `overrides` (CLI flags, keyed by variable name) taking
 * precedence. Empty strings count as unset. Throws ConfigError listing every violation at once.
 */
export function loadConfig(
  env: SettingSource,
  overrides: SettingSource = {},
  purpose: ConfigPurpose = 'command',
): Config {
  const input: Record<string, string> = {};
  for (const { env: name } of SETTINGS) {
    const value = overrides[name] ?? env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = flatSchema(purpose).safeParse(input);
  if (!parsed.success) {
    const issues: ConfigIssue[] = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'config');
      const given = input[variable];
      // inside a structured value (a JSON array, say): where, as `[0].effect`
      const where = issue.path
        .slice(1)
        .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
        .join('')
        .replace(/^\./, '');
      const message = where ? `${where}: ${issue.message}` : issue.message;
      return {
        variable,
        message:
          given === undefined || SECRETS.has(variable)
            ? message
            : `${message} (got ${JSON.stringify(given)})`,
      };
    });
    throw new ConfigError(issues);
  }
  const flat = parsed.data;
  flat.KJL_INSTANCE ||= `${String(flat.KJL_QUEUE_PREFIX)}-${String(flat.KJL_QUEUE_NAME)}`.slice(0, 63);
  const nested: Record<string, unknown> = {};
  for (const setting of SETTINGS) place(nested, setting.path, flat[setting.env]);
  place(
    nested,
    'events.sink',
    parseSinkTarget(flat.KJL_EVENTS_SINK as string | undefined, flat.KJL_SQS_ENDPOINT as string | undefined),
  );
  return deepFreeze(nested) as unknown as Config;
}

/** `loadConfig` from this process's environment: the one place kjl reads `process.env`. */
export function loadConfigFromEnvironment(
  overrides: SettingSource = {},
  purpose: ConfigPurpose = 'command',
): Config {
  return loadConfig(process.env, overrides, purpose);
}

/** True when the variable is set (non-empty) in this process's environment or in `overrides`. */
export function settingGiven(variable: string, overrides: SettingSource = {}): boolean {
  return Boolean(overrides[variable] ?? process.env[variable]);
}
