/**
 * One run of a build as a Kubernetes Job: what the cluster side (k8s adapter) reports and the
 * queue side acts on. Shared shapes only.
 */

export interface StartedRun {
  jobName: string;
  image?: string;
  /** the Job already existed (a restarted worker picked it up) */
  adopted: boolean;
  startedAt: number;
}

export interface SucceededRun {
  status: 'succeeded';
  jobName: string;
  image?: string;
  startedAt: number;
  finishedAt: number;
}

export interface FailedRun {
  status: 'failed';
  jobName: string;
  image?: string;
  /** BackoffLimitExceeded, DeadlineExceeded, OOMKilled, Evicted, … */
  reason: string;
  retryable: boolean;
  message: string;
  exitCode?: number;
  /** the last lines of the main container's log */
  logTail: string[];
  /** the Job vanished before it finished (deleted by a cancel, or by someone else) */
  vanished: boolean;
  startedAt: number;
  finishedAt: number;
}

export type RunResult = SucceededRun | FailedRun;
