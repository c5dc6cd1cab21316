/**
 * Simulated time. `timeScale` simulated milliseconds pass per real millisecond, so that a 10 s
 * back-off or a TTL can pass in milliseconds in tests. Every controller reads time from here.
 */
export class SimClock {
  private readonly realStart = Date.now();
  private readonly simStart: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly timeScale = 1,
    simStart = Date.now(),
  ) {
    if (!(timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${timeScale}`);
    this.simStart = simStart;
  }

  /** Simulated epoch milliseconds. */
  now(): number {
    return this.simStart + (Date.now() - this.realStart) * this.timeScale;
  }

  /** Simulated time as an RFC 3339 timestamp with second precision, as the API server writes them. */
  timestamp(at = this.now()): string {
    return new Date(Math.floor(at / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  }

  /** Runs `fn` after `simMs` simulated milliseconds. */
  setTimeout(fn: () => void, simMs: number): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.max(0, simMs / this.timeScale),
    );
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(timer: NodeJS.Timeout | undefined): void {
    if (!timer) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Cancels every pending timer (on shutdown). */
  clearAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
