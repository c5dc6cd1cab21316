import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KjlMetrics } from '../../src/http/metrics.js';
import { parseExposition, prometheusBinary } from '../support/prometheus.js';

const DIR = fileURLToPath(new URL('../../prometheus/', import.meta.url));
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
}

const rules = (
  parse(readFileSync(`${DIR}alerts.yaml`, 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((group) => group.rules);
const tests = (parse(readFileSync(`${DIR}alerts.test.yaml`, 'utf8')) as { tests: RuleTest[] }).tests.flatMap(
  (test) => test.alert_rule_test ?? [],
);

/** Runs promtool (it must be installed: a missing promtool fails the test, saying how to get it). */
function promtool(...args: string[]) {
  const result = spawnSync(prometheusBinary('promtool'), args, { cwd: DIR, encoding: 'utf8' });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('prometheus/alerts.yaml', () => {
  it('is a valid rule file (promtool check rules)', () => {
    const result = promtool('check', 'rules', 'alerts.yaml');
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.code).toBe(0);
  });

  it('passes its unit tests (promtool test rules alerts.test.yaml)', () => {
    const result = promtool('test', 'rules', 'alerts.test.yaml');
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('tests every alert firing on one series and silent on another', () => {
    for (const { alert } of rules) {
      const cases = tests.filter((test) => test.alertname === alert);
      expect(
        cases.some((test) => (test.exp_alerts ?? []).length > 0),
        `${alert} has a case where it fires`,
      ).toBe(true);
      expect(
        cases.some((test) => (test.exp_alerts ?? []).length === 0),
        `${alert} has a case where it stays silent`,
      ).toBe(true);
    }
  });

  it('gives every alert a severity, a summary, a description with its value and a runbook in the README', () => {
    expect(rules.map((rule) => rule.alert)).toEqual([
      'KjlHighBuildFailureRate',
      'KjlJobCreationFailing',
      'KjlJobRunningTooLong',
      'KjlConcurrencyLimitSaturated',
      'KjlInformerNotLive',
      'KjlIntakeRedisUnreachable',
      'KjlMessagesDeadLettered',
    ]);
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toContain('$value');
      const anchor = rule.alert.toLowerCase();
      expect(rule.annotations?.runbook).toBe(`README.md#${anchor}`);
      // a heading whose GitHub anchor is the alert's name in lower case
      expect(
        new RegExp(`^#+ ${rule.alert}$`, 'm').test(README),
        `README has a runbook heading for ${rule.alert}`,
      ).toBe(true);
    }
  });

  it('uses only metrics kjl exports', async () => {
    const metrics = new KjlMetrics({
      intake: true,
      fleet: async () => ({
        entries: { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0 },
        limit: 1,
      }),
      watch: () => ({ activeJobs: 0, resources: [{ resource: 'jobs', lastEventAt: Date.now() }] }),
    });
    // the sample names Prometheus scrapes (histograms as their _bucket, _sum and _count)
    const exported = new Set(
      [...parseExposition(await metrics.metrics()).keys()].map((key) => key.replace(/\{.*$/, '')),
    );
    for (const rule of rules) {
      const used = rule.expr.match(/\b(?:k8s|kjl)_[a-z0-9_]+/g) ?? [];
      expect(used.length, rule.alert).toBeGreaterThan(0);
      for (const name of used) expect(exported, `${rule.alert} uses ${name}`).toContain(name);
    }
  });
});
