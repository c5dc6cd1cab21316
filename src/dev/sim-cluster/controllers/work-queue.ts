import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';

/** Simulated delay before a failed sync is retried (the client-go rate limiter's base delay, rounded up). */
const RETRY_DELAY_MS = 1000;

/**
 * A controller's work queue: keys are deduplicated while they wait, and `sync` runs outside the
 * store's `change` emit (on the next macrotask), so a sync never re-enters another one. A throwing
 * sync is logged and retried after a delay, like client-go's rate-limited queue.
 */
export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private flushing: NodeJS.Immediate | undefined;
  private stopped = false;

  constructor(
    private readonly clock: SimClock,
    private readonly sync: (key: string) => void,
    private readonly logger: Logger,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Adds `key` after `simMs` simulated milliseconds (deadlines, back-off, TTLs). */
  addAfter(key: string, simMs: number): void {
    if (this.stopped) return;
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
    }, simMs);
    this.timers.add(timer);
  }

  stop(): void {
    this.stopped = true;
    if (this.flushing) clearImmediate(this.flushing);
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    this.timers.clear();
    this.pending.clear();
  }

  private flush(): void {
    this.flushing = undefined;
    const keys = [...this.pending];
    this.pending.clear();
    for (const key of keys) {
      if (this.stopped) return;
      try {
        this.sync(key);
      } catch (err) {
        this.logger.warn({ err, key }, 'sync failed; retrying');
        this.addAfter(key, RETRY_DELAY_MS);
      }
    }
  }
}
