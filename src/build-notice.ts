import type { CancelReason, FailureReason } from './failure-reasons.js';

/**
 * What the application layer announces about a build, one notice per step of its life. The
 * composition root fans every notice out to the events sink (a CloudEvent each) and the metrics.
 */

export type BuildPhase = 'queued' | 'started' | 'succeeded' | 'failed' | 'cancelled';

/** Which build and which run a notice is about: `attempt` is the run number (1, 2, … across retries and replays). */
export interface BuildIdentity {
  requestId: string;
  thirdPartyId: string;
  parserId: string;
  contentHash: string;
  attempt: number;
}

/** An instant: epoch milliseconds or a `Date`. */
export type Instant = number | Date;

/** When the Job started and ended. */
export interface Timing {
  startedAt?: Instant;
  finishedAt?: Instant;
}

export type BuildNotice = BuildIdentity &
  (
    | { phase: 'queued'; queuePosition?: number }
    | {
        phase: 'started';
        jobName: string;
        image?: string;
        /** the Job existed already: a worker took over a stalled build */
        adopted: boolean;
        /** when the request was sent to SQS (epoch ms), for the dispatch latency */
        sentAt?: number;
        /** when this worker's create call returned the Job (epoch ms; absent when adopted), for the dispatch latency */
        createdAt?: number;
      }
    | ({ phase: 'succeeded'; jobName: string; image?: string } & Timing)
    | ({
        phase: 'failed';
        reason: FailureReason;
        message: string;
        retryable: boolean;
        willRetry: boolean;
        jobName?: string;
        image?: string;
        exitCode?: number;
      } & Timing)
    | ({ phase: 'cancelled'; reason: CancelReason; message: string; jobName?: string } & Timing)
  );

/** Where notices go; the composition root gives the application layer one that fans out. */
export type Notify = (notice: BuildNotice) => Promise<void>;
