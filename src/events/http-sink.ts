import { HTTP, type CloudEvent } from 'cloudevents';
import { EventSinkError, isConnectionError } from '../errors.js';
import type { BuildEventData } from './build-events.js';

export interface HttpEventSinkOptions {
  url: string;
  /** per request, connection to last byte */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** Statuses worth another try: timeout, too early, rate limited, and any server error. */
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The URL without credentials, query or fragment: what a log line may show. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/**
 * POSTs each event in structured mode (`Content-Type: application/cloudevents+json`) to an HTTP
 * endpoint — a Knative broker, `K_SINK`, any CloudEvents receiver — once (retries are the caller's:
 * see `createEventSink`). A response other than 2xx is a failure that carries the status.
 */
export class HttpEventSink {
  readonly description: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: HttpEventSinkOptions) {
    this.description = `http ${redactedUrl(options.url)}`;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async send(event: CloudEvent<BuildEventData>): Promise<void> {
    const message = HTTP.structured(event);
    let response: Response;
    try {
      response = await this.fetch(this.options.url, {
        method: 'POST',
        headers: message.headers as Record<string, string>,
        body: String(message.body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      if ((error as Error | null)?.name === 'TimeoutError') {
        throw new EventSinkError(`no response within ${this.options.timeoutMs} ms`, {
          cause: error,
          context: { timedOut: true },
        });
      }
      throw error;
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      const detail = text.trim().slice(0, 200);
      throw new EventSinkError(
        `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${detail ? `: ${detail}` : ''}`,
        { context: { status: response.status } },
      );
    }
  }

  isTransient(error: unknown): boolean {
    if (error instanceof EventSinkError) {
      const status = error.context.status;
      return error.context.timedOut === true || (typeof status === 'number' && isTransientStatus(status));
    }
    // fetch rejects with a TypeError ("fetch failed") whose cause is the socket error
    const cause = (error as { cause?: unknown } | null)?.cause;
    return (
      isConnectionError(error) ||
      isConnectionError(cause) ||
      (error instanceof TypeError && cause !== undefined)
    );
  }

  async close(): Promise<void> {}
}
