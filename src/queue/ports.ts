import type { QueuedBuild } from '../build-request.js';
import type { RunResult, StartedRun } from '../build-run.js';

/** What the queue needs from the cluster side; implemented by the k8s adapter's JobRunner. */

export interface BuildRunner {
  /** Creates (or adopts) the request's Job, waits for its end, captures and cleans up a failure. */
  run(build: QueuedBuild, attempt: number, onStarted: (run: StartedRun) => Promise<void>): Promise<RunResult>;
  /** Jobs running now, from the watch cache, not counting the given request's own Job. */
  activeJobCount(exceptRequestId?: string): number;
}

/** The lifecycle events the queue reports (CloudEvents, through the events adapter). */
export type BuildPhase = 'queued' | 'started' | 'succeeded' | 'failed' | 'cancelled';

export interface BuildNotice {
  phase: BuildPhase;
  requestId: string;
  thirdPartyId: string;
  parserId: string;
  contentHash: string;
  attempt: number;
  jobName?: string;
  image?: string;
  queuePosition?: number;
  reason?: string;
  message?: string;
  exitCode?: number;
  retryable?: boolean;
  willRetry?: boolean;
  startedAt?: number;
  finishedAt?: number;
}

export type BuildNotifier = (notice: BuildNotice) => Promise<void>;

/** A notice about a build: its identity and run number, with the phase's details. */
export function noticeOf(
  build: QueuedBuild,
  phase: BuildPhase,
  attempt: number,
  details: Partial<BuildNotice> = {},
): BuildNotice {
  const { thirdPartyId, parserId, contentHash } = build.request;
  return { phase, requestId: build.requestId, thirdPartyId, parserId, contentHash, attempt, ...details };
}
