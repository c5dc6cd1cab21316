import { describe, expect, it } from 'vitest';
import type { BuildIdentity, BuildNotice } from '../../src/build-notice.js';
import { FAILURE_REASONS, type FailureReason } from '../../src/failure-reasons.js';
import { KjlMetrics, type FleetSnapshot } from '../../src/http/metrics.js';
import { parseExposition, sample } from '../support/prometheus.js';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');
const build: BuildIdentity = {
  requestId: 'r0123456789abcdef012',
  thirdPartyId: 'acme',
  parserId: 'invoice',
  contentHash: '0123abcd',
  attempt: 1,
};

const scrape = async (metrics: KjlMetrics) => parseExposition(await metrics.metrics());

type FailedNotice = Extract<BuildNotice, { phase: 'failed' }>;
const failed = (reason: FailureReason, extra: Partial<FailedNotice> = {}): FailedNotice => ({
  ...build,
  phase: 'failed',
  reason,
  message: 'x',
  retryable: FAILURE_REASONS[reason].retryable,
  willRetry: false,
  ...extra,
});

describe('KjlMetrics: notices', () => {
  it('counts each failed run under its reason label, retried ones too, and no cancellation', async () => {
    const metrics = new KjlMetrics();
    metrics.notice(failed('OOMKilled'));
    metrics.notice(failed('Evicted', { willRetry: true }));
    metrics.notice(failed('NodeLost', { willRetry: true }));
    metrics.notice(failed('ApiRejected'));
    metrics.notice({ ...build, phase: 'cancelled', reason: 'Cancelled', message: 'by admin' });
    metrics.notice({ ...build, phase: 'cancelled', reason: 'Superseded', message: 'newer' });
    const samples = await scrape(metrics);
    expect(sample(samples, 'k8s_job_failures_total', { reason: 'oom' })).toBe(1);
    expect(sample(samples, 'k8s_job_failures_total', { reason: 'evicted' })).toBe(2);
    expect(sample(samples, 'k8s_job_failures_total', { reason: 'api_error' })).toBe(1);
    // every reason label exists from the start (a rate over it needs the 0)
    const labels = new Set(Object.values(FAILURE_REASONS).map((reason) => reason.metric));
    for (const reason of labels) expect(sample(samples, 'k8s_job_failures_total', { reason })).toBeDefined();
    expect(sample(samples, 'k8s_job_failures_total', { reason: 'timeout' })).toBe(0);
    expect(labels).toEqual(
      new Set([
        'timeout',
        'oom',
        'error',
        'evicted',
        'preempted',
        'image_pull',
        'unschedulable',
        'deleted',
        'api_error',
      ]),
    );
  });

  it('observes run times from the Job start and end the notices carry, by status', async () => {
    const metrics = new KjlMetrics();
    metrics.notice({ ...build, phase: 'succeeded', jobName: 'j', startedAt: NOW - 42_000, finishedAt: NOW });
    metrics.notice({
      ...build,
      phase: 'succeeded',
      jobName: 'j',
      startedAt: new Date(NOW - 700_000),
      finishedAt: new Date(NOW),
    });
    metrics.notice(failed('Error', { startedAt: NOW - 3_000, finishedAt: NOW }));
    // a run that never had a Job (template invalid) has no run time
    metrics.notice(failed('TemplateInvalid'));
    const samples = await scrape(metrics);
    const count = (status: string) => sample(samples, 'k8s_job_duration_seconds_count', { status });
    expect(count('succeeded')).toBe(2);
    expect(count('failed')).toBe(1);
    expect(sample(samples, 'k8s_job_duration_seconds_sum', { status: 'succeeded' })).toBe(742);
    expect(sample(samples, 'k8s_job_duration_seconds_bucket', { status: 'succeeded', le: '60' })).toBe(1);
    expect(sample(samples, 'k8s_job_duration_seconds_bucket', { status: 'succeeded', le: '600' })).toBe(1);
    expect(sample(samples, 'k8s_job_duration_seconds_bucket', { status: 'succeeded', le: '900' })).toBe(2);
    expect(sample(samples, 'k8s_job_duration_seconds_bucket', { status: 'failed', le: '5' })).toBe(1);
  });

  it('observes the dispatch latency of Jobs it created, not of adopted ones', async () => {
    const metrics = new KjlMetrics();
    const started = { ...build, phase: 'started', jobName: 'j' } as const;
    metrics.notice({ ...started, adopted: false, sentAt: NOW - 80, createdAt: NOW });
    metrics.notice({ ...started, adopted: true, sentAt: NOW - 60_000, createdAt: NOW });
    metrics.notice({ ...started, adopted: false });
    const samples = await scrape(metrics);
    expect(sample(samples, 'kjl_dispatch_latency_seconds_count')).toBe(1);
    expect(sample(samples, 'kjl_dispatch_latency_seconds_sum')).toBeCloseTo(0.08, 6);
    expect(sample(samples, 'kjl_dispatch_latency_seconds_bucket', { le: '0.05' })).toBe(0);
    expect(sample(samples, 'kjl_dispatch_latency_seconds_bucket', { le: '0.1' })).toBe(1);
  });
});

describe('KjlMetrics: counters the adapters feed', () => {
  it('counts creates, API requests, retries, intake results, dead letters and event deliveries', async () => {
    const metrics = new KjlMetrics({ intake: true });
    const before = await scrape(metrics);
    expect(sample(before, 'k8s_job_creation_total', { status: 'failure' })).toBe(0);
    expect(sample(before, 'kjl_intake_dead_lettered_total', { code: 'KJL_OVERSIZED' })).toBe(0);
    expect(sample(before, 'kjl_intake_messages_total', { result: 'superseded', code: '' })).toBe(0);
    expect(
      sample(before, 'kjl_intake_messages_total', { result: 'invalid', code: 'KJL_MALFORMED_JSON' }),
    ).toBe(0);
    metrics.jobCreate('success');
    metrics.jobCreate('success');
    metrics.jobCreate('failure');
    metrics.apiRequest('create', '201');
    metrics.apiRequest('create', '503');
    metrics.apiRequest('watch', 'error');
    metrics.apiRetry('create job');
    metrics.intakeMessage('queued');
    metrics.intakeMessage('duplicate');
    metrics.intakeMessage('superseded');
    metrics.intakeMessage('invalid', 'KJL_MALFORMED_JSON');
    metrics.deadLettered('KJL_MALFORMED_JSON');
    metrics.eventDelivery('failed', 'sent');
    metrics.eventDelivery('queued', 'failed');
    const samples = await scrape(metrics);
    expect(sample(samples, 'k8s_job_creation_total', { status: 'success' })).toBe(2);
    expect(sample(samples, 'k8s_job_creation_total', { status: 'failure' })).toBe(1);
    expect(sample(samples, 'kjl_k8s_api_requests_total', { verb: 'create', code: '503' })).toBe(1);
    expect(sample(samples, 'kjl_k8s_api_requests_total', { verb: 'watch', code: 'error' })).toBe(1);
    expect(sample(samples, 'kjl_k8s_api_retries_total', { operation: 'create_job' })).toBe(1);
    expect(sample(samples, 'kjl_intake_messages_total', { result: 'queued', code: '' })).toBe(1);
    expect(sample(samples, 'kjl_intake_messages_total', { result: 'duplicate', code: '' })).toBe(1);
    expect(sample(samples, 'kjl_intake_messages_total', { result: 'superseded', code: '' })).toBe(1);
    expect(
      sample(samples, 'kjl_intake_messages_total', { result: 'invalid', code: 'KJL_MALFORMED_JSON' }),
    ).toBe(1);
    expect(sample(samples, 'kjl_intake_dead_lettered_total', { code: 'KJL_MALFORMED_JSON' })).toBe(1);
    expect(sample(samples, 'kjl_events_total', { phase: 'failed', result: 'sent' })).toBe(1);
    expect(sample(samples, 'kjl_events_total', { phase: 'queued', result: 'failed' })).toBe(1);
  });

  it('says how long the intake has been unable to reach Redis, and 0 once it can', async () => {
    let now = NOW;
    const metrics = new KjlMetrics({ intake: true, now: () => now });
    const unreachable = async () => sample(await scrape(metrics), 'kjl_intake_redis_unreachable_seconds');
    expect(await unreachable()).toBe(0);
    metrics.intakeQueueReachable(false);
    now += 30_000;
    metrics.intakeQueueReachable(false);
    now += 45_000;
    expect(await unreachable()).toBe(75);
    metrics.intakeQueueReachable(true);
    expect(await unreachable()).toBe(0);
  });

  it('has no intake metrics in a process without the intake', async () => {
    const samples = await scrape(new KjlMetrics());
    expect(sample(samples, 'kjl_intake_redis_unreachable_seconds')).toBeUndefined();
    expect([...samples.keys()].some((key) => key.startsWith('kjl_intake_'))).toBe(false);
  });
});

describe('KjlMetrics: gauges read at scrape time', () => {
  const snapshot: FleetSnapshot = {
    entries: { waiting: 4, delayed: 1, active: 2, completed: 7, failed: 3 },
    limit: 2,
  };

  it('reads queue entries and the limit from the fleet source, once per scrape', async () => {
    let reads = 0;
    const metrics = new KjlMetrics({
      fleet: async () => {
        reads += 1;
        return snapshot;
      },
    });
    const samples = await scrape(metrics);
    expect(reads).toBe(1);
    for (const [state, count] of Object.entries(snapshot.entries)) {
      expect(sample(samples, 'kjl_fleet_queue_entries', { state })).toBe(count);
    }
    expect(sample(samples, 'kjl_fleet_concurrency_limit')).toBe(2);
    expect(await metrics.metrics()).toMatch(
      /# HELP kjl_fleet_concurrency_limit .*Fleet-wide: every replica reports the same value; aggregate with max/,
    );
  });

  it('never waits for a Redis that does not answer longer than its timeout, nor piles reads up', async () => {
    let reads = 0;
    const metrics = new KjlMetrics({
      fleetTimeoutMs: 200,
      fleet: () => {
        reads += 1;
        return new Promise<FleetSnapshot>(() => {});
      },
    });
    for (let scrapeNumber = 0; scrapeNumber < 3; scrapeNumber++) {
      const started = Date.now();
      const samples = await scrape(metrics);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(sample(samples, 'kjl_fleet_concurrency_limit')).toBeNaN();
      expect(sample(samples, 'kjl_fleet_queue_entries', { state: 'waiting' })).toBeNaN();
    }
    expect(reads).toBe(1);
  });

  it('reports NaN when the read fails, and the figures again once it works', async () => {
    let fail = true;
    const metrics = new KjlMetrics({
      fleetTimeoutMs: 50,
      fleet: async () => {
        if (fail) throw new Error('Redis is unavailable');
        return snapshot;
      },
    });
    expect(sample(await scrape(metrics), 'kjl_fleet_concurrency_limit')).toBeNaN();
    fail = false;
    // the next scrape (a scrape's gauges share one read)
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sample(await scrape(metrics), 'kjl_fleet_concurrency_limit')).toBe(2);
  });

  it('reports the watch cache: active Jobs, the oldest one, and how long each watch has been silent', async () => {
    let cache:
      | {
          activeJobs: number;
          oldestActiveStart?: number;
          resources: { resource: string; lastEventAt: number }[];
        }
      | undefined;
    const metrics = new KjlMetrics({ watch: () => cache, now: () => NOW });
    let samples = await scrape(metrics);
    expect(sample(samples, 'k8s_active_jobs')).toBeNaN();
    cache = {
      activeJobs: 3,
      oldestActiveStart: NOW - 1_500_000,
      resources: [
        { resource: 'jobs', lastEventAt: NOW - 2_000 },
        { resource: 'pods', lastEventAt: NOW - 300_000 },
      ],
    };
    samples = await scrape(metrics);
    expect(sample(samples, 'k8s_active_jobs')).toBe(3);
    expect(sample(samples, 'kjl_fleet_oldest_active_job_age_seconds')).toBe(1500);
    expect(sample(samples, 'kjl_k8s_watch_seconds_since_last_event', { resource: 'jobs' })).toBe(2);
    expect(sample(samples, 'kjl_k8s_watch_seconds_since_last_event', { resource: 'pods' })).toBe(300);
    cache = { activeJobs: 0, resources: [] };
    samples = await scrape(metrics);
    expect(sample(samples, 'k8s_active_jobs')).toBe(0);
    expect(sample(samples, 'kjl_fleet_oldest_active_job_age_seconds')).toBe(0);
  });

  it('serves the default process metrics', async () => {
    const samples = await scrape(new KjlMetrics());
    // the CPU counter counts from the registry's creation: present, possibly still 0
    expect(sample(samples, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(sample(samples, 'nodejs_heap_size_total_bytes')).toBeGreaterThan(0);
  });
});
