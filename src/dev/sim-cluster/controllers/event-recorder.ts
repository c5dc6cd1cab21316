import type { SimClock } from '../clock.js';
import type { KubeObject, ObjectStore } from '../store.js';

export type EventType = 'Normal' | 'Warning';

/**
 * Writes core/v1 Events as client-go's recorder does (`tools/record/event.go`): name `<object>.<hex unixnano>`,
 * and a repeat of the same event for the same object bumps `count` and `lastTimestamp` of the
 * existing one instead of creating another (the recorder's EventCorrelator).
 */
export class EventRecorder {
  private readonly seen = new Map<string, string>();
  private lastNanos = 0n;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    private readonly component: string,
  ) {}

  record(involved: KubeObject, type: EventType, reason: string, message: string): void {
    const meta = involved.metadata;
    const now = this.clock.timestamp();
    const key = [meta.uid, type, reason, message].join('\u0000');
    const existing = this.seen.get(key);
    if (existing && this.store.tryGet('events', meta.namespace, existing)) {
      this.store.mutate('events', meta.namespace, existing, (event) => {
        event.count = ((event.count as number | undefined) ?? 1) + 1;
        event.lastTimestamp = now;
      });
      return;
    }
    const created = this.store.create('events', {
      metadata: { name: `${meta.name}.${this.uniqueNanos().toString(16)}`, namespace: meta.namespace },
      involvedObject: {
        kind: involved.kind,
        namespace: meta.namespace,
        name: meta.name,
        uid: meta.uid,
        apiVersion: involved.apiVersion,
        resourceVersion: meta.resourceVersion,
      },
      reason,
      message,
      source: { component: this.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: this.component,
      reportingInstance: '',
    });
    this.seen.set(key, created.metadata.name!);
  }

  /** Simulated unix nanoseconds, strictly increasing so that two events in one millisecond get two names. */
  private uniqueNanos(): bigint {
    const nanos = BigInt(Math.floor(this.clock.now())) * 1_000_000n;
    this.lastNanos = nanos > this.lastNanos ? nanos : this.lastNanos + 1n;
    return this.lastNanos;
  }
}
