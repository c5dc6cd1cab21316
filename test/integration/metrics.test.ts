import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { runKjl, spawnKjl, type KjlProcess } from '../support/cli.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { waitFor } from '../support/wait.js';

/**
 * A real Prometheus scrapes a real `kjl dev` every second while it runs builds; every figure is
 * read back through Prometheus' query API, and the alert rules of prometheus/alerts.yaml are
 * loaded into it and evaluated on what it scraped.
 */

const ALERTS = fileURLToPath(new URL('../../prometheus/alerts.yaml', import.meta.url));

let dir: string;
let dev: KjlProcess;
let prometheus: PrometheusServer;
let sqs: SQSClient;
let buildsUrl: string;

const kjl = (...args: string[]) => runKjl(args, { cwd: dir });
const publish = async (parserId: string, contentHash = '0123abcd') => {
  const sent = await kjl(
    'publish',
    '--third-party-id',
    'metrics',
    '--parser-id',
    parserId,
    '--content-hash',
    contentHash,
  );
  expect(sent.code, sent.stderr).toBe(0);
};

/** Waits until `expr` (an instant query) has the value `check` wants; returns that value. */
async function until(expr: string, check: (value: number) => boolean, timeoutMs = 30_000): Promise<number> {
  return waitFor(
    `${expr} as expected`,
    async () => {
      const value = await prometheus.value(expr);
      return value !== undefined && check(value) ? { value } : undefined;
    },
    timeoutMs,
    250,
  ).then(({ value }) => value);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-metrics-'));
  dev = spawnKjl(
    ['dev', '--sqs-port', '0', '--http-port', '0', '--log-level', 'warn', '--max-concurrent-jobs', '2'],
    { cwd: dir, env: { KJL_REDIS_URL: '' } },
  );
  const [, endpoint] = await dev.waitFor(/SQS endpoint\s+(http:\/\/\S+)/);
  [, buildsUrl] = (await dev.waitFor(/ builds\s+(http:\/\/\S+)/)) as [string, string];
  const [, metricsUrl] = await dev.waitFor(/metrics\s+(http:\/\/\S+\/metrics)\n/);
  await dev.waitFor(/Ctrl-C stops everything/);
  sqs = createSqsClient({ region: 'us-east-1', endpoint: endpoint! });
  prometheus = await startPrometheus([new URL(metricsUrl!).host], { ruleFiles: [ALERTS] });
});

afterAll(async () => {
  sqs?.destroy();
  await prometheus?.stop();
  expect(await dev?.stop('SIGINT')).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

describe('metrics scraped by Prometheus from kjl dev', () => {
  it('serves /metrics, and Prometheus scrapes it', async () => {
    await until('up{job="kjl"}', (up) => up === 1);
    expect(await prometheus.value('process_cpu_user_seconds_total{job="kjl"}')).toBeGreaterThan(0);
    expect(await prometheus.value('kjl_fleet_concurrency_limit')).toBe(2);
  });

  it('counts Job creations, failures by reason, run times, intake results and events', async () => {
    await publish('invoice');
    await publish('invoice'); // the same request again: a duplicate
    await publish('invalid-parser');
    await publish('oom-parser');
    await sqs.send(new SendMessageCommand({ QueueUrl: buildsUrl, MessageBody: '{not json' }));

    await until('k8s_job_duration_seconds_count{status="failed"}', (count) => count === 2);
    await until('k8s_job_duration_seconds_count{status="succeeded"}', (count) => count === 1);
    expect(await prometheus.value('k8s_job_creation_total{status="success"}')).toBe(3);
    expect(await prometheus.value('k8s_job_creation_total{status="failure"}')).toBe(0);
    expect(await prometheus.value('k8s_job_failures_total{reason="oom"}')).toBe(1);
    expect(await prometheus.value('k8s_job_failures_total{reason="error"}')).toBe(1);
    expect(await prometheus.value('sum(k8s_job_failures_total)')).toBe(2);
    // the dev rules: a build runs about 2 s, a failing one 1.5 s (the API writes whole seconds)
    expect(await prometheus.value('k8s_job_duration_seconds_sum{status="succeeded"}')).toBeLessThanOrEqual(5);
    expect(await prometheus.value('kjl_dispatch_latency_seconds_count')).toBe(3);
    expect(await prometheus.value('kjl_dispatch_latency_seconds_sum')).toBeLessThan(15);

    await until('kjl_intake_dead_lettered_total{code="KJL_MALFORMED_JSON"}', (count) => count === 1);
    const intake = async (result: string, code = '') =>
      prometheus.value(`kjl_intake_messages_total{result="${result}",code="${code}"}`);
    expect(await intake('queued')).toBe(3);
    expect(await intake('duplicate')).toBe(1);
    expect(await intake('invalid', 'KJL_MALFORMED_JSON')).toBe(1);
    expect(await intake('deferred')).toBe(0);
    await until('kjl_events_total{phase="failed",result="sent"}', (count) => count === 2);
    expect(await prometheus.value('kjl_events_total{phase="queued",result="sent"}')).toBe(3);
    expect(await prometheus.value('kjl_events_total{phase="succeeded",result="sent"}')).toBe(1);
    expect(await prometheus.value('kjl_k8s_api_requests_total{verb="create",code="201"}')).toBe(3);
    expect(await prometheus.value('kjl_k8s_api_requests_total{verb="watch",code="200"}')).toBeGreaterThan(0);
    expect(await prometheus.value('kjl_intake_redis_unreachable_seconds')).toBe(0);
  });

  it('shows the limit reached with work waiting, and the alerts that follow evaluate on it', async () => {
    const sent = await kjl('publish', '--count', '4', '--third-party-id', 'metrics', '--parser-id', 'slow');
    expect(sent.stdout).toMatch(/sent 4 messages/);
    await until('max(k8s_active_jobs)', (active) => active === 2);
    await until('max(kjl_fleet_queue_entries{state="waiting"})', (waiting) => waiting === 2);
    expect(await prometheus.value('max(kjl_fleet_queue_entries{state="active"})')).toBe(2);
    expect(await prometheus.value('max(kjl_fleet_concurrency_limit)')).toBe(2);
    expect(await prometheus.value('kjl_fleet_queue_entries{state="failed"}')).toBe(2);
    await until('kjl_fleet_oldest_active_job_age_seconds', (age) => age >= 1);
    expect(await prometheus.value('max(kjl_k8s_watch_seconds_since_last_event)')).toBeLessThan(5);

    // Prometheus evaluates the rules of prometheus/alerts.yaml on what it scraped: those without
    // `for` fire, those with one are pending; nothing else is.
    const alerts = await waitFor(
      'the alerts to be evaluated',
      async () => {
        const list = await prometheus.alerts();
        const names = new Set(list.map((alert) => alert.labels.alertname));
        return names.has('KjlConcurrencyLimitSaturated') && names.has('KjlMessagesDeadLettered')
          ? list
          : undefined;
      },
      15_000,
      250,
    );
    const states = Object.fromEntries(alerts.map((alert) => [alert.labels.alertname, alert.state]));
    expect(states).toEqual({
      KjlHighBuildFailureRate: 'pending',
      KjlConcurrencyLimitSaturated: 'pending',
      KjlMessagesDeadLettered: 'firing',
    });
    const saturated = alerts.find((alert) => alert.labels.alertname === 'KjlConcurrencyLimitSaturated')!;
    expect(saturated.annotations.description).toContain('2 requests are waiting');
  });
});
