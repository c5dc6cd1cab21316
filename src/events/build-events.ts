import { CloudEvent } from 'cloudevents';
import type { BuildNotice, BuildPhase, Instant, Timing } from '../build-notice.js';
import { targetKey } from '../build-request.js';

/**
 * The build lifecycle as CloudEvents 1.0. Pure: no client, no I/O; time comes from the clock passed
 * in, so a test (or the simulated cluster) decides what `time` and `durationMs` say.
 *
 * Event id rule: `${requestId}-${attempt}-${phase}` (for example `r3f9c0d2e1a4b5c6d7e8-2-failed`).
 * It is the same for the same (request, attempt, type) however many times, and by whichever replica,
 * the event is built, so a consumer that remembers the ids it has seen (CloudEvents' `source` + `id`
 * uniqueness rule) can drop a repeat; a retry (next attempt) or another phase gets a new id.
 */

/** CloudEvent `type` of each phase. */
export const BUILD_EVENT_TYPES = {
  queued: 'dev.kjl.build.queued',
  started: 'dev.kjl.build.started',
  succeeded: 'dev.kjl.build.succeeded',
  failed: 'dev.kjl.build.failed',
  cancelled: 'dev.kjl.build.cancelled',
} as const satisfies Record<BuildPhase, string>;

export type BuildEventType = (typeof BUILD_EVENT_TYPES)[BuildPhase];

/** The `data` of every build event (JSON). Fields that do not apply to a phase are absent. */
export interface BuildEventData {
  requestId: string;
  thirdPartyId: string;
  parserId: string;
  contentHash: string;
  /** 1 for the first run; a retry after a retryable failure is the next attempt */
  attempt: number;
  /** the Kubernetes Job's name, once there is one */
  jobName?: string;
  /** from the Job's start to its end (or to the cancellation), in milliseconds */
  durationMs?: number;
  /** image reference the build pushes (or pushed) */
  image?: string;
  /** machine-readable failure or cancellation cause: `OOMKilled`, `BackoffLimitExceeded`, `Evicted`, … */
  reason?: string;
  /** human-readable detail */
  message?: string;
  /** exit code of the failed container, when there is one */
  exitCode?: number;
  /** whether the cause of a failure is one that is worth retrying (eviction, preemption, API error) */
  retryable?: boolean;
  /** whether kjl will run the build again (retryable and attempts left) */
  willRetry?: boolean;
  /** 1-based position in the queue when queued */
  queuePosition?: number;
}

export interface BuildEventOptions {
  /** CloudEvent `source`; see {@link defaultEventSource} */
  source: string;
  /** epoch milliseconds now; defaults to `Date.now` (a `SimClock` fits) */
  clock?: { now(): number };
}

/** The default CloudEvent `source` of a launcher creating Jobs in `namespace`: `kjl/<namespace>`. */
export function defaultEventSource(namespace: string): string {
  return `kjl/${namespace}`;
}

/** The id of the event for (requestId, attempt, phase); see the rule at the top of this file. */
export function buildEventId(requestId: string, attempt: number, phase: BuildPhase): string {
  return `${requestId}-${attempt}-${phase}`;
}

/** The phase of a build event type (`dev.kjl.build.failed` → `failed`), or undefined for another type. */
export function phaseOf(type: string): BuildPhase | undefined {
  return (Object.keys(BUILD_EVENT_TYPES) as BuildPhase[]).find((phase) => BUILD_EVENT_TYPES[phase] === type);
}

function epochMs(instant: Instant): number {
  return typeof instant === 'number' ? instant : instant.getTime();
}

/** Copies the fields that are set; an absent field stays absent rather than `undefined`. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/**
 * The CloudEvent for one step of a build's life, validated by the CloudEvents SDK (it throws the
 * SDK's `ValidationError` when an attribute is invalid, for example an empty source).
 */
export function buildEvent(notice: BuildNotice, options: BuildEventOptions): CloudEvent<BuildEventData> {
  const now = options.clock?.now() ?? Date.now();
  const { phase, requestId, thirdPartyId, parserId, contentHash, attempt, ...details } = notice;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  }
  // the dispatch bookkeeping (`adopted`, `sentAt`, `createdAt`) is for metrics, not for event consumers
  const {
    startedAt,
    finishedAt,
    adopted: _adopted,
    sentAt: _sentAt,
    createdAt: _createdAt,
    ...fields
  } = details as typeof details & Timing & { adopted?: boolean; sentAt?: number; createdAt?: number };
  const durationMs =
    startedAt === undefined ? undefined : Math.max(0, epochMs(finishedAt ?? now) - epochMs(startedAt));
  const data: BuildEventData = defined({
    requestId,
    thirdPartyId,
    parserId,
    contentHash,
    attempt,
    ...fields,
    durationMs,
  });
  return new CloudEvent<BuildEventData>(
    {
      specversion: '1.0',
      id: buildEventId(requestId, attempt, phase),
      type: BUILD_EVENT_TYPES[phase],
      source: options.source,
      subject: targetKey({ thirdPartyId, parserId }),
      time: new Date(now).toISOString(),
      datacontenttype: 'application/json',
      data,
    },
    true,
  );
}

/**
 * The attributes a consumer filters on, as transport metadata (SQS/SNS message attributes):
 * `ce-type`, `ce-id`, `ce-source` and, when set, `ce-subject`.
 */
export function filterAttributes(event: CloudEvent<BuildEventData>): Record<string, string> {
  return defined({
    'ce-type': event.type,
    'ce-id': event.id,
    'ce-source': event.source,
    'ce-subject': event.subject,
  }) as Record<string, string>;
}

/** The event in structured mode: the whole CloudEvent as one JSON document. */
export function toStructuredJson(event: CloudEvent<BuildEventData>): string {
  return JSON.stringify(event);
}
