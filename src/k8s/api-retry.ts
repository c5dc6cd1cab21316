import { ApiException } from '@kubernetes/client-node';
import { KubeApiError, isConnectionError, type ErrorContext } from '../errors.js';
import type { Logger } from '../logger.js';

export interface RetryOptions {
  /** attempts in all, the first included */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  delay: (ms: number) => Promise<void>;
  logger?: Logger;
  /** told before each retry, with the call's name (`create job`, `list pods`, …): metrics */
  onRetry?: (what: string) => void;
}

export const DEFAULT_API_RETRY: RetryOptions = {
  attempts: 6,
  baseDelayMs: 200,
  maxDelayMs: 5000,
  delay: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** The HTTP status of a failed client-node call, if the server answered. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** A field of the metav1.Status body of a failed call, if the body had one. */
function statusField(error: unknown, field: 'reason' | 'message'): string | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const body: unknown = typeof error.body === 'string' ? safeJson(error.body) : error.body;
  const value = (body as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value : undefined;
}

/** The metav1.Status reason of a failed call (NotFound, AlreadyExists, …), if the body had one. */
export function reasonOf(error: unknown): string | undefined {
  return statusField(error, 'reason');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** True for what is worth another try: throttling, server errors, dropped connections. */
export function isRetryableApiError(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return RETRYABLE_STATUS.has(status);
  const cause = (error as { cause?: unknown } | null)?.cause;
  const name = (error as { name?: unknown } | null)?.name;
  return (
    isConnectionError(error) || isConnectionError(cause) || name === 'FetchError' || name === 'AbortError'
  );
}

function retryAfterMs(error: unknown): number | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const header = Object.entries(error.headers ?? {}).find(
    ([key]) => key.toLowerCase() === 'retry-after',
  )?.[1];
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * Calls the API, retrying throttling (honouring Retry-After), server errors and dropped
 * connections with exponential backoff. Every call kjl makes is safe to repeat: reads, deletes,
 * and creates of deterministically named Jobs (a repeat answers 409, which the caller adopts).
 * A final failure is a KubeApiError with the status, the reason and `context`.
 */
export async function callApi<T>(
  what: string,
  call: () => Promise<T>,
  context: ErrorContext = {},
  options: RetryOptions = DEFAULT_API_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= options.attempts || !isRetryableApiError(error)) {
        const status = statusOf(error);
        const reason = reasonOf(error);
        throw new KubeApiError(
          `${what} failed${status ? ` (${status}${reason ? ` ${reason}` : ''})` : ''}: ${statusField(error, 'message') ?? (error as Error).message}`,
          {
            cause: error,
            context: { ...context, attempts: attempt },
            ...(status !== undefined ? { status } : {}),
            ...(reason !== undefined ? { reason } : {}),
          },
        );
      }
      const backoff = Math.min(options.baseDelayMs * 2 ** (attempt - 1), options.maxDelayMs);
      const wait = retryAfterMs(error) ?? backoff;
      options.logger?.debug({ err: error, attempt, wait, ...context }, `${what}: retrying`);
      options.onRetry?.(what);
      await options.delay(wait);
    }
  }
}
