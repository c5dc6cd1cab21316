import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import { nextUsageDrop, quotaStatus, quotaUsage, type ResourceQuota } from '../quota.js';
import type { ObjectStore, StoreChange } from '../store.js';
import { WorkQueue } from './work-queue.js';

/**
 * The resource quota controller (kubernetes `pkg/controller/resourcequota`): keeps each
 * ResourceQuota's `status.hard` (its spec's) and `status.used` (pods not yet terminal, Jobs) current
 * as pods and Jobs of its namespace come, change and go.
 */
export class QuotaController {
  private readonly queue: WorkQueue;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    logger: Logger,
  ) {
    this.queue = new WorkQueue(
      clock,
      (namespace) => this.sync(namespace),
      logger.child({ controller: 'resourcequota' }),
    );
    store.on('change', this.onChange);
    for (const quota of store.list('resourcequotas').items) this.queue.add(quota.metadata.namespace!);
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.queue.stop();
  }

  private readonly onChange = (change: StoreChange): void => {
    if (!['resourcequotas', 'pods', 'jobs'].includes(change.resource)) return;
    const namespace = change.object.metadata.namespace!;
    if (change.resource === 'resourcequotas' || this.store.list('resourcequotas', namespace).items.length) {
      this.queue.add(namespace);
    }
  };

  private sync(namespace: string): void {
    const quotas = this.store.list('resourcequotas', namespace).items as ResourceQuota[];
    if (!quotas.length) return;
    const now = this.clock.now();
    const usage = quotaUsage(this.store, namespace, now);
    for (const quota of quotas) {
      const status = quotaStatus(quota, usage);
      if (JSON.stringify(status) === JSON.stringify(quota.status)) continue;
      this.store.mutate('resourcequotas', namespace, quota.metadata.name!, (obj) => {
        obj.status = status;
      });
    }
    const drop = nextUsageDrop(this.store, namespace, now);
    if (drop !== undefined) this.queue.addAfter(namespace, drop - now + 1);
  }
}
