import { isConnectionError } from '../errors.js';

/** Error replies Redis gives while it cannot serve yet (loading its data, failing over, busy script). */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|READONLY|MASTERDOWN|CLUSTERDOWN|NOREPLICAS)\b/;

/** True for what passes: the connection dropped or is not up, or Redis is not ready to serve yet. */
export function isTransientRedisError(error: unknown): boolean {
  if (isConnectionError(error)) return true;
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return false;
  return (
    TRANSIENT_REPLY.test(message) ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue options is false|max retries per request|Command timed out|Connection timed out|ECONNREFUSED|ECONNRESET/i.test(
      message,
    )
  );
}

export interface RetryTransientOptions {
  /** stop retrying (and throw the last error) once this says so: the store is closing */
  stopped: () => boolean;
  /** longest wait between tries */
  maxDelayMs?: number;
  onRetry?: (error: unknown, attempt: number) => void;
}

/** Calls `operation` until it succeeds, waiting out transient Redis failures (backoff capped at 2 s). */
export async function retryTransient<T>(
  operation: () => Promise<T>,
  options: RetryTransientOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransientRedisError(error) || options.stopped()) throw error;
      options.onRetry?.(error, attempt);
      const wait = Math.min(50 * 2 ** attempt, options.maxDelayMs ?? 2000);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
