import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';

/**
 * Simulated delays before a failed sync is retried: doubling from 1 s up to 1 min per key (the Job
 * controller's `DefaultJobApiBackOff` and `MaxJobApiBackOff`), back to 1 s after a sync succeeds.
 */
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * A controller's work queue: keys are deduplicated while they wait, and `sync` runs outside the
 * store's `change` emit (on the next macrotask), so a sync never re-enters another one. A throwing
 * sync is logged and retried after an exponential per-key delay, like client-go's rate-limited
 * queue (`AddRateLimited`, `Forget`).
 */
export class WorkQueue {
  private readonly pending = new Set<string>();
  /** per key: failed syncs since its last successful one */
  private readonly failures = new Map<string, number>();
  /** keys with a retry scheduled (one at a time: a key that fails again meanwhile keeps it) */
  private readonly retrying = new Set<string>();
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
    this.later(simMs, () => this.add(key));
  }

  stop(): void {
    this.stopped = true;
    if (this.flushing) clearImmediate(this.flushing);
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    this.timers.clear();
    this.pending.clear();
    this.failures.clear();
    this.retrying.clear();
  }

  private flush(): void {
    this.flushing = undefined;
    const keys = [...this.pending];
    this.pending.clear();
    for (const key of keys) {
      if (this.stopped) return;
      try {
        this.sync(key);
        this.failures.delete(key);
      } catch (err) {
        this.retry(key, err);
      }
    }
  }

  private retry(key: string, err: unknown): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    if (this.retrying.has(key)) return;
    const delay = Math.min(RETRY_BASE_MS * 2 ** failures, RETRY_MAX_MS);
    this.logger.warn({ err, key, retryInMs: delay }, 'sync failed; retrying');
    this.retrying.add(key);
    this.later(delay, () => {
      this.retrying.delete(key);
      this.add(key);
    });
  }

  private later(simMs: number, fn: () => void): void {
    if (this.stopped) return;
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, simMs);
    this.timers.add(timer);
  }
}
