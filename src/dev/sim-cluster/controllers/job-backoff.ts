/** The Job controller's pod-failure back-off (kubernetes `pkg/controller/job/backoff_utils.go`). */

export const DEFAULT_POD_FAILURE_BACKOFF_MS = 10_000;
/** 10 minutes in current code (`MaxJobPodFailureBackOff`); the docs still say 6. */
export const MAX_POD_FAILURE_BACKOFF_MS = 600_000;

export interface BackoffRecord {
  failuresAfterLastSuccess: number;
  lastFailureTime?: number;
}

/**
 * Folds newly counted pods into a Job's record: a success resets the count, keeping only failures
 * that finished after the last success.
 */
export function nextBackoffRecord(
  record: BackoffRecord,
  succeededAt: number[],
  failedAt: number[],
): BackoffRecord {
  if (succeededAt.length === 0) {
    if (failedAt.length === 0) return record;
    return {
      failuresAfterLastSuccess: record.failuresAfterLastSuccess + failedAt.length,
      lastFailureTime: Math.max(...failedAt),
    };
  }
  const lastSuccess = Math.max(...succeededAt);
  const later = failedAt.filter((t) => t > lastSuccess);
  return later.length
    ? { failuresAfterLastSuccess: later.length, lastFailureTime: Math.max(...later) }
    : { failuresAfterLastSuccess: 0 };
}

/** How long to wait before creating a replacement pod: `10s · 2^(n−1)` since the last failure, capped. */
export function remainingBackoff(record: BackoffRecord, now: number): number {
  if (record.failuresAfterLastSuccess === 0 || record.lastFailureTime === undefined) return 0;
  const delay = Math.min(
    DEFAULT_POD_FAILURE_BACKOFF_MS * 2 ** (record.failuresAfterLastSuccess - 1),
    MAX_POD_FAILURE_BACKOFF_MS,
  );
  return Math.max(0, delay - (now - record.lastFailureTime));
}
