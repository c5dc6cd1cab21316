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
  /** the uid of the run's Job: its cleanup deletes that Job, never a newer one of the same name */
  jobUid?: string;
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
  jobUid?: string;
  startedAt?: number;
  finishedAt: number;
}

/** How a run ended. */
export type RunOutcome = SucceededRun | FailedRun;
export type BuildOutcome = RunOutcome | CancelledRun;

/**
 * What starting a run gave: a Job to wait for, already an outcome (a conflict, a finished Job), or
 * `unavailable`: the API could not say whether the Job exists (try the same run again later).
 */
export type StartResult =
  { status: 'started'; job: StartedJob } | RunOutcome | { status: 'unavailable'; message: string };

/** Where a running build's Job stands, read from the cluster (`kjl status <id>`). */
export interface RunDetail {
  /** `pending`: its pod has not started (`detail` says why); `gone`: there is no such Job */
  phase: 'pending' | 'running' | 'finished' | 'gone';
  pod?: string;
  detail?: string;
}
