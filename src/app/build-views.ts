import { targetKey } from '../build-request.js';
import type { BuildOutcome, RunDetail } from '../build-run.js';
import type { EntryResult, EntryState, EntryView } from './ports.js';

/** Where a build stands, as a person reads it. */
export type BuildState =
  'queued' | 'waiting' | 'running' | 'succeeded' | 'superseded' | 'failed' | 'cancelled';

export const BUILD_STATES: readonly BuildState[] = [
  'queued',
  'waiting',
  'running',
  'succeeded',
  'superseded',
  'failed',
  'cancelled',
];

/** The queue states a build state is found in. */
export const ENTRY_STATES_OF: Readonly<Record<BuildState, readonly EntryState[]>> = {
  queued: ['waiting'],
  waiting: ['delayed'],
  running: ['active'],
  succeeded: ['completed'],
  superseded: ['completed'],
  failed: ['failed'],
  cancelled: ['failed', 'waiting', 'delayed', 'active'],
};

/** One build as a list shows it: what it was, where it stands, and how its last run went. */
export interface BuildSummary {
  requestId: string;
  target: string;
  contentHash: string;
  state: BuildState;
  /** the current (or last) run number */
  attempt?: number;
  jobName?: string;
  image?: string;
  /** why it failed or was cancelled */
  reason?: string;
  message?: string;
  /** epoch ms: queued, its Job started (from the Job's status), ended */
  queuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
}

/** What a caller is told about one request. */
export interface BuildStatus extends BuildSummary {
  /** a sentence for people */
  summary: string;
  position?: number;
  /** when a waiting request is looked at again (epoch ms) */
  until?: number;
  result?: EntryResult;
  /** how the last run ended (a failure keeps its reason and log tail) */
  outcome?: BuildOutcome & { run: number };
  /** a running build's Job in the cluster: its pod pending (and why) or running */
  run?: RunDetail;
}

/** What `describe` needs beyond the entry. */
export interface DescribeContext {
  cancelled: boolean;
  position?: number;
  /** active entries and the limit, for a queued request */
  active?: number;
  limit?: number;
  run?: RunDetail;
}

function stateOf(entry: EntryView, cancelled: boolean): BuildState {
  const outcome = entry.build.outcome;
  if (
    entry.state !== 'completed' &&
    (cancelled || (entry.state === 'failed' && outcome?.status === 'cancelled'))
  ) {
    return 'cancelled';
  }
  switch (entry.state) {
    case 'waiting':
      return 'queued';
    case 'delayed':
      return 'waiting';
    case 'active':
      return 'running';
    case 'completed':
      return entry.result?.status === 'superseded' ? 'superseded' : 'succeeded';
    case 'failed':
      return 'failed';
  }
}

/** A list's line about an entry. Pure. */
export function summarize(entry: EntryView, cancelled = false): BuildSummary {
  const build = entry.build;
  const outcome = build.outcome;
  const state = stateOf(entry, cancelled);
  const ended = state === 'succeeded' || state === 'failed' || state === 'cancelled';
  const last = ended ? outcome : undefined;
  const jobName = last?.jobName ?? build.run?.jobName;
  const image = last && 'image' in last ? last.image : undefined;
  const startedAt = last?.startedAt ?? build.run?.startedAt;
  const finishedAt = last?.finishedAt ?? (ended ? entry.finishedAt : undefined);
  return {
    requestId: build.requestId,
    target: targetKey(build.request),
    contentHash: build.request.contentHash,
    state,
    ...(build.run ? { attempt: build.run.number } : {}),
    ...(jobName ? { jobName } : {}),
    ...(image ? { image } : {}),
    ...(last && last.status !== 'succeeded' ? { reason: last.reason, message: last.message } : {}),
    ...(state === 'superseded' && entry.result?.status === 'superseded'
      ? { reason: 'Superseded', message: `superseded by newer request ${entry.result.by}` }
      : {}),
    queuedAt: entry.addedAt,
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(finishedAt !== undefined ? { finishedAt } : {}),
    ...(startedAt !== undefined && finishedAt !== undefined ? { durationMs: finishedAt - startedAt } : {}),
  };
}

/** Everything about an entry, with a sentence a caller can act on. Pure. */
export function describe(entry: EntryView, context: DescribeContext): BuildStatus {
  const summary = summarize(entry, context.cancelled);
  const outcome = entry.build.outcome;
  const base = {
    ...summary,
    ...(outcome ? { outcome } : {}),
    ...(entry.result ? { result: entry.result } : {}),
  };
  switch (summary.state) {
    case 'cancelled':
      return {
        ...base,
        summary: entry.state === 'active' ? 'cancelled; its Job is being deleted' : 'cancelled',
      };
    case 'queued': {
      const { position, active, limit } = context;
      const full =
        active !== undefined && limit !== undefined && active >= limit
          ? `; the concurrent job limit (${active}/${limit}) is reached`
          : '';
      return {
        ...base,
        ...(position ? { position } : {}),
        summary: `queued${position ? ` at position ${position}` : ''}${full}`,
      };
    }
    case 'waiting': {
      const progress = entry.progress?.state === 'waiting' ? entry.progress : undefined;
      const why =
        progress?.reason ??
        (outcome?.status === 'failed' ? `retry after ${outcome.reason}` : 'retry backoff');
      const until = progress?.until ?? entry.dueAt;
      return {
        ...base,
        ...(until ? { until } : {}),
        summary: `waiting (${why})${until ? ` until ${new Date(until).toISOString()}` : ''}`,
      };
    }
    case 'running': {
      const jobName = entry.progress?.state === 'running' ? entry.progress.jobName : summary.jobName;
      const run = context.run;
      const where =
        run?.phase === 'pending'
          ? `pending as Job ${jobName}: ${run.detail ?? 'its pod has not started'}`
          : `running${jobName ? ` as Job ${jobName}` : ''}`;
      return { ...base, ...(jobName ? { jobName } : {}), ...(run ? { run } : {}), summary: where };
    }
    case 'succeeded':
      return { ...base, summary: 'succeeded' };
    case 'superseded':
      return { ...base, summary: summary.message ?? 'superseded' };
    case 'failed':
      return {
        ...base,
        summary: `failed: ${summary.reason ? `${summary.reason}: ${summary.message}` : (entry.failedReason ?? 'unknown')}`,
      };
  }
}
