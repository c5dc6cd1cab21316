import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import { requestDeletion } from '../deletion.js';
import type { ObjectStore, StoreChange } from '../store.js';
import type { ClusterSettings } from './cluster-settings.js';
import { isTerminal } from './job-pods.js';
import { keyOf, splitKey, type Pod } from './kube-types.js';
import { WorkQueue } from './work-queue.js';

/**
 * The pod garbage collector's terminated-pod sweep (kubernetes `pkg/controller/podgc`, `gcTerminated`)
 * with settings `podGC.terminated: immediate` standing for a threshold every terminated pod is over:
 * a Succeeded or Failed pod is force-deleted (grace period 0) as soon as it is seen; finalizers (the
 * Job controller's tracking one) still hold it until they are removed. As upstream, a pod deleted
 * for being terminated gets no DisruptionTarget condition: `DeletionByPodGC` is only added to pods
 * of nodes that are gone, which the one-node simulator does not have.
 *
 * Started before the Job controller, it sees a pod's change first, as a pod GC on its own schedule
 * may: so a Failed pod can be gone before its Job's terminal condition is written.
 */
export class PodGarbageCollector {
  private readonly queue: WorkQueue;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    private readonly settings: () => ClusterSettings,
    logger: Logger,
  ) {
    this.queue = new WorkQueue(
      clock,
      (key) => this.sync(key),
      logger.child({ controller: 'pod-garbage-collector' }),
    );
    store.on('change', this.onChange);
    this.retry();
  }

  /** Looks at every terminated pod again (the setting changed). */
  retry(): void {
    if (!this.enabled()) return;
    for (const pod of this.store.list('pods', undefined, (p) => isTerminal(p as Pod)).items)
      this.queue.add(keyOf(pod));
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.queue.stop();
  }

  private enabled(): boolean {
    return this.settings().podGC.terminated === 'immediate';
  }

  private readonly onChange = (change: StoreChange): void => {
    if (change.resource !== 'pods' || change.type === 'DELETED' || !this.enabled()) return;
    if (isTerminal(change.object as Pod)) this.queue.add(keyOf(change.object));
  };

  private sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.store.tryGet('pods', namespace, name) as Pod | undefined;
    if (!this.enabled() || !pod || !isTerminal(pod)) return;
    requestDeletion(this.store, this.clock, 'pods', namespace, name, { gracePeriodSeconds: 0 });
  }
}
