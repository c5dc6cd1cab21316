import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { KjlError } from '../../../errors.js';
import type { Container, Pod } from './kube-types.js';

const glob = z.string().min(1);
const seconds = z.number().nonnegative();

/** The longest line `repeat` may make (64 MiB): long enough for lines past any client's buffer. */
const MAX_LOG_LINE_BYTES = 64 * 1024 * 1024;

/**
 * One line a container prints, `after` seconds after it started; `container` defaults to the rule's
 * container; `repeat` prints `text` that many times on the one line (a 6 MiB line:
 * `{ text: 'x', repeat: 6291456 }`).
 */
const logLineSchema = z
  .strictObject({
    after: seconds.optional(),
    text: z.string(),
    repeat: z.number().int().min(1).optional(),
    container: z.string().min(1).optional(),
  })
  .refine((line) => Buffer.byteLength(line.text) * (line.repeat ?? 1) <= MAX_LOG_LINE_BYTES, {
    message: `a line may have at most ${MAX_LOG_LINE_BYTES} bytes`,
    path: ['repeat'],
  });

export const KUBELET_ACTIONS = [
  'succeed',
  'fail',
  'oom',
  'evict',
  'preempt',
  'pullError',
  'unschedulable',
  'hang',
] as const;

const kubeletRuleSchema = z
  .strictObject({
    /** shown in logs only */
    name: z.string().optional(),
    /** every given criterion must hold; values are globs (`*`, `?`); an empty match takes every pod */
    match: z
      .strictObject({
        labels: z.record(z.string(), glob).optional(),
        annotations: z.record(z.string(), glob).optional(),
        /** any container's image */
        image: glob.optional(),
        /** any container's env var (plain `value` only) */
        env: z.record(z.string(), glob).optional(),
      })
      .optional(),
    /** the container the action applies to; default the pod's first container */
    container: z.string().min(1).optional(),
    action: z.enum(KUBELET_ACTIONS),
    /** how long the container runs before the action happens (default 1) */
    seconds: seconds.optional(),
    /** `fail` only, default 1 */
    exitCode: z.number().int().min(1).max(255).optional(),
    logs: z.array(logLineSchema).optional(),
  })
  .refine((rule) => rule.exitCode === undefined || rule.action === 'fail', {
    message: 'exitCode is only valid with action "fail"',
    path: ['exitCode'],
  });

/** Validates an array of kubelet rules (a rules file's content). */
export const kubeletRulesSchema = z.array(kubeletRuleSchema);

export type KubeletRule = z.infer<typeof kubeletRuleSchema>;
export type KubeletAction = KubeletRule['action'];
export type LogLine = NonNullable<KubeletRule['logs']>[number];

/** What a pod does when no rule matches it. */
export const FALLBACK_RULE: KubeletRule = { name: 'fallback', action: 'succeed', seconds: 1 };

export const DEFAULT_RULE_SECONDS = 1;

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

function matchesAll(
  patterns: Record<string, string> | undefined,
  values: Record<string, string | undefined>,
): boolean {
  return Object.entries(patterns ?? {}).every(([key, pattern]) => {
    const value = values[key];
    return value !== undefined && globToRegExp(pattern).test(value);
  });
}

function envOf(container: Container): Record<string, string | undefined> {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
}

function ruleMatches(rule: KubeletRule, pod: Pod): boolean {
  const match = rule.match ?? {};
  const containers = pod.spec.containers;
  return (
    matchesAll(match.labels, pod.metadata.labels ?? {}) &&
    matchesAll(match.annotations, pod.metadata.annotations ?? {}) &&
    (match.image === undefined || containers.some((c) => globToRegExp(match.image!).test(c.image ?? ''))) &&
    (match.env === undefined || containers.some((c) => matchesAll(match.env, envOf(c))))
  );
}

/** The first rule that matches the pod, else FALLBACK_RULE. */
export function ruleFor(rules: readonly KubeletRule[], pod: Pod): KubeletRule {
  return rules.find((rule) => ruleMatches(rule, pod)) ?? FALLBACK_RULE;
}

/** The container a rule acts on: the named one when the pod has it, else the first. */
export function targetContainer(rule: KubeletRule, pod: Pod): string {
  const names = pod.spec.containers.map((c) => c.name);
  return rule.container && names.includes(rule.container) ? rule.container : names[0]!;
}

/** Reads and validates a rules file (YAML or JSON); reports every violation at once. */
export function loadKubeletRules(file: string): KubeletRule[] {
  let content: unknown;
  try {
    content = parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new KjlError(
      'KJL_KUBELET_RULES_INVALID',
      `cannot read kubelet rules ${file}: ${(cause as Error).message}`,
      {
        cause,
        context: { file },
      },
    );
  }
  const result = kubeletRulesSchema.safeParse(content);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new KjlError('KJL_KUBELET_RULES_INVALID', `invalid kubelet rules ${file}:\n${issues.join('\n')}`, {
      cause: result.error,
      context: { file },
    });
  }
  return result.data;
}
