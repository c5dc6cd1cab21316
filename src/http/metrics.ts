import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BuildNotice, Instant } from '../build-notice.js';
import { InvalidMessageCode } from '../errors.js';
import { FAILURE_REASONS } from '../failure-reasons.js';

/** What Redis says of the whole fleet: queue entries by state, and the concurrent-job limit in force. */
export interface FleetSnapshot {
  entries: Record<FleetEntryState, number>;
  limit: number;
}

export type FleetEntryState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

/** What the watch cache says (worker processes). */
export interface WatchSnapshot {
  /** unfinished Jobs of the deployment */
  activeJobs: number;
  /** when the longest-running unfinished Job started (epoch ms), if any */
  oldestActiveStart?: number;
  /** per watched resource, the last moment its cache was shown current (epoch ms) */
  resources: { resource: string; lastEventAt: number }[];
}

export interface MetricsOptions {
  /** reads the fleet's figures from Redis at scrape time; unset: no `kjl_fleet_queue_*` metrics */
  fleet?: () => Promise<FleetSnapshot>;
  /** the watch cache; unset: not a worker process; returns undefined until the watch exists */
  watch?: () => WatchSnapshot | undefined;
  /** true when this process runs the SQS intake */
  intake?: boolean;
  /** how long a scrape waits for Redis (default 1 s): a dead Redis never holds a scrape up */
  fleetTimeoutMs?: number;
  now?: () => number;
}

const FLEET_STATES: readonly FleetEntryState[] = ['waiting', 'delayed', 'active', 'completed', 'failed'];
const INTAKE_RESULTS = ['queued', 'duplicate', 'requeued', 'superseded', 'deferred'] as const;
const EVENT_PHASES = ['queued', 'started', 'succeeded', 'failed', 'cancelled'] as const;
/** how long after a fleet read settles the next gauge of the same scrape reuses it */
const SCRAPE_SHARE_MS = 250;
const FLEET = ' Fleet-wide: every replica reports the same value; aggregate with max, never sum.';
/** Build durations, a second to an hour. */
export const JOB_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600];
/** SQS send to Job created: milliseconds when there is room, up to an hour behind a full limit. */
export const DISPATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

const epochMs = (instant: Instant): number => (typeof instant === 'number' ? instant : instant.getTime());

/**
 * kjl's Prometheus metrics, one registry per process, served on `/metrics`. The adapters tell it
 * what happens through the composition root (notices, API requests, intake results, event
 * deliveries); the gauges of the fleet and of the watch cache are read at scrape time.
 */
export class KjlMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly fleetTimeoutMs: number;
  /** the Redis read in flight (at most one: a slow Redis never piles reads up) */
  private fleetInFlight: Promise<FleetSnapshot> | undefined;
  /** this scrape's result, shared by the fleet gauges (while pending, and just after) */
  private fleetRead: { result: Promise<FleetSnapshot | undefined>; settledAt?: number } | undefined;
  private intakeUnreachableSince: number | undefined;

  private readonly jobCreations: Counter<'status'>;
  private readonly jobDurations: Histogram<'status'>;
  private readonly jobFailures: Counter<'reason'>;
  private readonly dispatchLatency: Histogram;
  private readonly apiRequests: Counter<'verb' | 'code'>;
  private readonly apiRetries: Counter<'operation'>;
  private readonly intakeMessages: Counter<'result' | 'code'>;
  private readonly deadLetters: Counter<'code'>;
  private readonly events: Counter<'phase' | 'result'>;

  constructor(options: MetricsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.fleetTimeoutMs = options.fleetTimeoutMs ?? 1000;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.jobCreations = new Counter({
      name: 'k8s_job_creation_total',
      help: 'Job create calls by result, after the API retries: success (created) or failure (refused, unreachable, a conflicting Job). A create that ends in adopting an existing Job of the run counts as neither.',
      labelNames: ['status'],
      registers,
    });
    this.jobDurations = new Histogram({
      name: 'k8s_job_duration_seconds',
      help: "Run time of finished Jobs, from the Job's status.startTime to its completionTime (for a failure: when kjl saw it fail), by status.",
      labelNames: ['status'],
      buckets: JOB_DURATION_BUCKETS,
      registers,
    });
    this.jobFailures = new Counter({
      name: 'k8s_job_failures_total',
      help: 'Failed build runs by cause (the metric label of each failure reason), retried ones included; cancellations are not failures.',
      labelNames: ['reason'],
      registers,
    });
    this.dispatchLatency = new Histogram({
      name: 'kjl_dispatch_latency_seconds',
      help: "From the request's SQS SentTimestamp to its Job created by this process (Jobs adopted from another worker not counted).",
      buckets: DISPATCH_BUCKETS,
      registers,
    });
    this.apiRequests = new Counter({
      name: 'kjl_k8s_api_requests_total',
      help: 'Requests to the Kubernetes API server by verb and HTTP status code (code "error": no answer).',
      labelNames: ['verb', 'code'],
      registers,
    });
    this.apiRetries = new Counter({
      name: 'kjl_k8s_api_retries_total',
      help: 'Kubernetes API calls tried again after a 429, a 5xx or a dropped connection, by operation.',
      labelNames: ['operation'],
      registers,
    });
    this.intakeMessages = new Counter({
      name: 'kjl_intake_messages_total',
      help: 'SQS messages received by the intake, by result: queued, duplicate, requeued, invalid (with the dead-letter code) or deferred (kept in SQS: Redis could not take it).',
      labelNames: ['result', 'code'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'kjl_intake_dead_lettered_total',
      help: 'Invalid messages the intake sent to the dead-letter queue (KJL_SQS_DLQ_URL), by code.',
      labelNames: ['code'],
      registers,
    });
    this.events = new Counter({
      name: 'kjl_events_total',
      help: 'Build CloudEvents delivered to the events sink (sent) or given up after the retries (failed), by phase.',
      labelNames: ['phase', 'result'],
      registers,
    });

    for (const status of ['success', 'failure']) this.jobCreations.inc({ status }, 0);
    for (const status of ['succeeded', 'failed']) this.jobDurations.zero({ status });
    for (const { metric } of Object.values(FAILURE_REASONS)) this.jobFailures.inc({ reason: metric }, 0);
    for (const phase of EVENT_PHASES) {
      for (const result of ['sent', 'failed']) this.events.inc({ phase, result }, 0);
    }
    if (options.intake) this.registerIntake();
    if (options.fleet) this.registerFleet(options.fleet);
    if (options.watch) this.registerWatch(options.watch);
  }

  /** The Prometheus text exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric, as Prometheus scrapes it. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** A build notice (the composition root fans every notice out here). */
  notice(notice: BuildNotice): void {
    switch (notice.phase) {
      case 'started':
        if (!notice.adopted && notice.sentAt !== undefined && notice.createdAt !== undefined) {
          this.dispatchLatency.observe(Math.max(0, notice.createdAt - notice.sentAt) / 1000);
        }
        return;
      case 'succeeded':
        this.observeDuration('succeeded', notice.startedAt, notice.finishedAt);
        return;
      case 'failed':
        this.jobFailures.inc({ reason: FAILURE_REASONS[notice.reason].metric });
        this.observeDuration('failed', notice.startedAt, notice.finishedAt);
        return;
      case 'queued':
      case 'cancelled':
        return;
    }
  }

  private observeDuration(status: 'succeeded' | 'failed', startedAt?: Instant, finishedAt?: Instant): void {
    if (startedAt === undefined || finishedAt === undefined) return;
    this.jobDurations.observe({ status }, Math.max(0, epochMs(finishedAt) - epochMs(startedAt)) / 1000);
  }

  jobCreate(result: 'success' | 'failure'): void {
    this.jobCreations.inc({ status: result });
  }

  apiRequest(verb: string, code: string): void {
    this.apiRequests.inc({ verb, code });
  }

  apiRetry(operation: string): void {
    this.apiRetries.inc({ operation: operation.replaceAll(' ', '_') });
  }

  intakeMessage(result: string, code = ''): void {
    this.intakeMessages.inc({ result, code });
  }

  deadLettered(code: string): void {
    this.deadLetters.inc({ code });
  }

  /** Whether the intake reached Redis now; the gauge says for how long it has not. */
  intakeQueueReachable(reachable: boolean): void {
    if (reachable) this.intakeUnreachableSince = undefined;
    else this.intakeUnreachableSince ??= this.now();
  }

  eventDelivery(phase: string, result: 'sent' | 'failed'): void {
    this.events.inc({ phase, result });
  }

  private registerIntake(): void {
    for (const result of INTAKE_RESULTS) this.intakeMessages.inc({ result, code: '' }, 0);
    for (const code of Object.values(InvalidMessageCode)) {
      this.intakeMessages.inc({ result: 'invalid', code }, 0);
      this.deadLetters.inc({ code }, 0);
    }
    const unreachableSeconds = () =>
      this.intakeUnreachableSince === undefined ? 0 : (this.now() - this.intakeUnreachableSince) / 1000;
    new Gauge({
      name: 'kjl_intake_redis_unreachable_seconds',
      help: 'How long the intake has been unable to reach Redis (0 while it can); meanwhile nothing is received from SQS.',
      registers: [this.registry],
      collect() {
        this.set(unreachableSeconds());
      },
    });
  }

  /**
   * The fleet's figures, read from Redis once per scrape (both gauges share the read), never more
   * than one read at a time, and never waited for longer than `fleetTimeoutMs`: undefined then.
   */
  private readFleet(fleet: () => Promise<FleetSnapshot>): Promise<FleetSnapshot | undefined> {
    const last = this.fleetRead;
    if (last && (last.settledAt === undefined || Date.now() - last.settledAt < SCRAPE_SHARE_MS)) {
      return last.result;
    }
    if (!this.fleetInFlight) {
      const read = fleet().finally(() => {
        if (this.fleetInFlight === read) this.fleetInFlight = undefined;
      });
      read.catch(() => {});
      this.fleetInFlight = read;
    }
    const inFlight = this.fleetInFlight;
    const read: { result: Promise<FleetSnapshot | undefined>; settledAt?: number } = {
      result: new Promise<FleetSnapshot | undefined>((resolve) => {
        const settle = (snapshot: FleetSnapshot | undefined) => {
          clearTimeout(timer);
          read.settledAt = Date.now();
          resolve(snapshot);
        };
        const timer = setTimeout(() => settle(undefined), this.fleetTimeoutMs);
        timer.unref();
        inFlight.then(settle, () => settle(undefined));
      }),
    };
    this.fleetRead = read;
    return read.result;
  }

  private registerFleet(fleet: () => Promise<FleetSnapshot>): void {
    const read = () => this.readFleet(fleet);
    new Gauge({
      name: 'kjl_fleet_queue_entries',
      help: `Queue entries by state (waiting: ready for a worker; delayed: backoff or waiting for its target or a slot; active: held by a worker; completed and failed: kept for dedup and the failed set), read from Redis at scrape time (NaN: Redis did not answer in time).${FLEET}`,
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const snapshot = await read();
        for (const state of FLEET_STATES) this.set({ state }, snapshot?.entries[state] ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'kjl_fleet_concurrency_limit',
      help: `The concurrent-job limit in force (the queue's global concurrency), read from Redis at scrape time (NaN: Redis did not answer in time).${FLEET}`,
      registers: [this.registry],
      async collect() {
        this.set((await read())?.limit ?? Number.NaN);
      },
    });
  }

  private registerWatch(watch: () => WatchSnapshot | undefined): void {
    const now = () => this.now();
    new Gauge({
      name: 'k8s_active_jobs',
      help: `Unfinished Jobs of this deployment (they count against the limit), from the watch cache (NaN until the watch starts).${FLEET}`,
      registers: [this.registry],
      collect() {
        this.set(watch()?.activeJobs ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'kjl_fleet_oldest_active_job_age_seconds',
      help: `Age of the longest-running unfinished Job of this deployment, from its status.startTime (0 when none), from the watch cache.${FLEET}`,
      registers: [this.registry],
      collect() {
        const snapshot = watch();
        const oldest = snapshot?.oldestActiveStart;
        this.set(snapshot ? (oldest === undefined ? 0 : Math.max(0, now() - oldest) / 1000) : Number.NaN);
      },
    });
    new Gauge({
      name: 'kjl_k8s_watch_seconds_since_last_event',
      help: 'Seconds since the Job or Pod watch last showed it follows the cluster: a watch event (bookmarks count), a watch opened, or a list. Grows while the informer cannot list or watch.',
      labelNames: ['resource'],
      registers: [this.registry],
      collect() {
        for (const { resource, lastEventAt } of watch()?.resources ?? []) {
          this.set({ resource }, Math.max(0, now() - lastEventAt) / 1000);
        }
      },
    });
  }
}
