import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import { dependentsOf, FOREGROUND_DELETION, removeFinalizer, requestDeletion } from '../deletion.js';
import type { KubeObject, ObjectStore, StoreChange } from '../store.js';
import { keyOf, splitKey } from './kube-types.js';
import { WorkQueue } from './work-queue.js';

/**
 * The garbage collector for Jobs and their pods (kubernetes `pkg/controller/garbagecollector`):
 * deletes pods whose owners are all gone (Background propagation), and completes Foreground
 * deletions: deletes the owner's dependents, then drops `foregroundDeletion` once the blocking
 * ones (blockOwnerDeletion) have left the store, which removes the owner last.
 */
export class GarbageCollector {
  private readonly owners: WorkQueue;
  private readonly dependents: WorkQueue;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    logger: Logger,
  ) {
    const child = logger.child({ controller: 'garbage-collector' });
    this.owners = new WorkQueue(clock, (key) => this.syncOwner(key), child);
    this.dependents = new WorkQueue(clock, (key) => this.syncDependent(key), child);
    store.on('change', this.onChange);
    for (const job of store.list('jobs').items) this.owners.add(keyOf(job));
    for (const pod of store.list('pods').items) this.dependents.add(keyOf(pod));
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.owners.stop();
    this.dependents.stop();
  }

  private readonly onChange = (change: StoreChange): void => {
    const obj = change.object;
    if (change.resource === 'jobs') {
      this.owners.add(keyOf(obj));
      if (change.type === 'DELETED') {
        for (const pod of dependentsOf(this.store, obj.metadata.namespace, obj.metadata.uid!)) {
          this.dependents.add(keyOf(pod));
        }
      }
    } else if (change.resource === 'pods') {
      if (change.type !== 'DELETED') this.dependents.add(keyOf(obj));
      for (const ref of obj.metadata.ownerReferences ?? [])
        this.owners.add(`${obj.metadata.namespace}/${ref.name}`);
    }
  };

  private ownerExists(namespace: string, ref: { name: string; uid: string }): boolean {
    return this.store.tryGet('jobs', namespace, ref.name)?.metadata.uid === ref.uid;
  }

  private syncDependent(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.store.tryGet('pods', namespace, name);
    const refs = pod?.metadata.ownerReferences;
    if (!pod || pod.metadata.deletionTimestamp || !refs?.length) return;
    if (refs.some((ref) => this.ownerExists(namespace, ref))) return;
    requestDeletion(this.store, this.clock, 'pods', namespace, name, { propagationPolicy: 'Background' });
  }

  private syncOwner(key: string): void {
    const [namespace, name] = splitKey(key);
    const owner = this.store.tryGet('jobs', namespace, name);
    if (!owner?.metadata.deletionTimestamp || !owner.metadata.finalizers?.includes(FOREGROUND_DELETION))
      return;
    const dependents = dependentsOf(this.store, namespace, owner.metadata.uid!);
    for (const pod of dependents.filter((p) => !p.metadata.deletionTimestamp)) {
      requestDeletion(this.store, this.clock, 'pods', namespace, pod.metadata.name!, {
        propagationPolicy: 'Background',
      });
    }
    if (dependents.some((pod) => blocks(pod, owner))) return;
    removeFinalizer(this.store, 'jobs', namespace, name, FOREGROUND_DELETION);
  }
}

function blocks(dependent: KubeObject, owner: KubeObject): boolean {
  return !!dependent.metadata.ownerReferences?.some(
    (ref) => ref.uid === owner.metadata.uid && ref.blockOwnerDeletion,
  );
}
