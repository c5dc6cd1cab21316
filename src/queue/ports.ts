import type { QueuedBuild } from '../build-request.js';
import type { RunResult, StartedRun } from '../build-run.js';

/** What the queue needs from the cluster side; implemented by the k8s adapter's JobRunner. */

export interface BuildRunner {
  /** Creates (or adopts) the request's Job, waits for its end, captures and cleans up a failure. */
  run(build: QueuedBuild, attempt: number, onStarted: (run: StartedRun) => Promise<void>): Promise<RunResult>;
  /** Jobs running now, from the watch cache, not counting the given request's own Job. */
  activeJobCount(exceptRequestId?: string): number;
  /** Deletes the request's Job and Pods, if any; true when there was one. */
  deleteJobOf(requestId: string): Promise<boolean>;
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
