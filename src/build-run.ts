import type { CancelReason, FailureReason } from './failure-reasons.js';

/**
 * One run of a build as a Kubernetes Job: what the cluster side reports and the application layer
 * records and acts on. Shared shapes only.
 */

/** A Job created (or adopted: it existed already, a restarted worker picked it up) for a run. */
export interface StartedJob {
  jobName: string;
  uid: string;
  image?: string;
  adopted: boolean;
  /** epoch ms: the Job's creation */
  startedAt: number;
  /**
   * epoch ms: when this worker's create call returned the new Job (absent when adopted); finer
   * than `startedAt`, which the API server writes to the second
   */
  createdAt?: number;
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
  reason: FailureReason;
  message: string;
  retryable: boolean;
  jobName?: string;
  image?: string;
  exitCode?: number;
  /** the last lines of the main container's log (bounded in lines and bytes) */
  logTail: string[];
  startedAt?: number;
  finishedAt: number;
}

export interface CancelledRun {
  status: 'cancelled';
  reason: CancelReason;
  message: string;
  jobName?: string;
  startedAt?: number;
  finishedAt: number;
}

/** How a run ended. */
export type RunOutcome = SucceededRun | FailedRun;
export type BuildOutcome = RunOutcome | CancelledRun;

/** What starting a run gave: a Job to wait for, or already an outcome (a conflict, a finished Job). */
export type StartResult = { status: 'started'; job: StartedJob } | RunOutcome;
