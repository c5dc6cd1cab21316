import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import { requestDeletion } from '../deletion.js';
import type { ObjectStore, StoreChange } from '../store.js';
import { keyOf, splitKey, type Job } from './kube-types.js';
import { WorkQueue } from './work-queue.js';

/** When a finished Job's TTL runs out: the finishing condition's lastTransitionTime + ttlSecondsAfterFinished. */
function expiresAt(job: Job): number | undefined {
  const ttl = job.spec.ttlSecondsAfterFinished;
  if (ttl === undefined || job.metadata.deletionTimestamp) return undefined;
  const finished = job.status?.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
  if (!finished?.lastTransitionTime) return undefined;
  return Date.parse(finished.lastTransitionTime) + ttl * 1000;
}

/**
 * The TTL-after-finished controller (kubernetes `pkg/controller/ttlafterfinished`): deletes a finished
 * Job once its TTL has passed in simulated time, Foreground and guarded by its uid.
 */
export class TtlController {
  private readonly queue: WorkQueue;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    logger: Logger,
  ) {
    this.queue = new WorkQueue(
      clock,
      (key) => this.sync(key),
      logger.child({ controller: 'ttl-after-finished' }),
    );
    store.on('change', this.onChange);
    for (const job of store.list('jobs').items) this.queue.add(keyOf(job));
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.queue.stop();
  }

  private readonly onChange = (change: StoreChange): void => {
    if (change.resource === 'jobs' && change.type !== 'DELETED') this.queue.add(keyOf(change.object));
  };

  private sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const job = this.store.tryGet('jobs', namespace, name) as Job | undefined;
    const expiry = job && expiresAt(job);
    if (!job || expiry === undefined) return;
    const remaining = expiry - this.clock.now();
    if (remaining > 0) {
      this.queue.addAfter(key, remaining);
      return;
    }
    requestDeletion(this.store, this.clock, 'jobs', namespace, name, {
      propagationPolicy: 'Foreground',
      preconditions: { uid: job.metadata.uid! },
    });
  }
}
