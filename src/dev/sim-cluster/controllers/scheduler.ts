import type { Logger } from '../../../logger.js';
import type { SimClock } from '../clock.js';
import type { ObjectStore, StoreChange } from '../store.js';
import { isTerminal } from './job-pods.js';
import type { Condition, Pod } from './kube-types.js';
import { ruleFor, type KubeletRule } from './kubelet-rules.js';
import { WorkQueue } from './work-queue.js';

/** What the simulated node offers. Pods beyond it stay Pending (Unschedulable) until room frees up. */
export interface Capacity {
  /** pods placed on the node and not yet Succeeded/Failed */
  maxRunningPods?: number;
  /** allocatable CPU, a quantity such as `4` or `3500m`, against the sum of container requests */
  cpu?: string;
}

export const NODE_NAME = 'sim-node-1';
const NODE_COUNT = 1;
const SCHEDULE_ALL = 'node';

/** The default scheduler's FitError text for one failing predicate on every node. */
function unschedulableMessage(reason: string): string {
  return (
    `0/${NODE_COUNT} nodes are available: ${NODE_COUNT} ${reason}. ` +
    `preemption: 0/${NODE_COUNT} nodes are available: ${NODE_COUNT} No preemption victims found for incoming pod.`
  );
}

/** A CPU quantity in cores: `2`, `0.5`, `500m`. */
export function parseCpu(quantity: string | undefined): number {
  if (!quantity) return 0;
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

/** Requested CPU of a pod; a limit without a request defaults the request, as the API server does. */
function cpuRequest(pod: Pod): number {
  return pod.spec.containers.reduce(
    (sum, c) => sum + parseCpu(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu),
    0,
  );
}

/**
 * The scheduler of a one-node cluster: binds pending pods to `sim-node-1` in arrival order while the
 * node has room (Capacity) and no `unschedulable` rule holds them; the others get PodScheduled False
 * (Unschedulable) with the scheduler's message, and are retried whenever a pod changes.
 */
export class Scheduler {
  private readonly queue: WorkQueue;
  private readonly arrival = new Map<string, number>();
  private arrivals = 0;
  private capacity: Capacity;

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    private readonly rules: () => readonly KubeletRule[],
    capacity: Capacity,
    logger: Logger,
  ) {
    this.capacity = capacity;
    this.queue = new WorkQueue(clock, () => this.scheduleAll(), logger.child({ controller: 'scheduler' }));
    store.on('change', this.onChange);
    for (const pod of store.list('pods').items) this.arrived(pod.metadata.uid!);
    this.retry();
  }

  setCapacity(capacity: Capacity): void {
    this.capacity = capacity;
    this.retry();
  }

  /** Re-evaluates every pending pod (capacity or rules changed). */
  retry(): void {
    this.queue.add(SCHEDULE_ALL);
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.queue.stop();
  }

  private readonly onChange = (change: StoreChange): void => {
    if (change.resource !== 'pods') return;
    if (change.type === 'ADDED') this.arrived(change.object.metadata.uid!);
    if (change.type === 'DELETED') this.arrival.delete(change.object.metadata.uid!);
    this.queue.add(SCHEDULE_ALL);
  };

  private arrived(uid: string): void {
    this.arrival.set(uid, this.arrivals++);
  }

  private order(pod: Pod): number {
    return this.arrival.get(pod.metadata.uid!) ?? Number.MAX_SAFE_INTEGER;
  }

  private scheduleAll(): void {
    // finished pods hold no room: leave them out (and uncopied) as they pile up
    const pods = this.store.list('pods', undefined, (p) => !isTerminal(p as Pod)).items as Pod[];
    const placed = pods.filter((p) => p.spec.nodeName);
    let running = placed.length;
    let cpu = placed.reduce((sum, p) => sum + cpuRequest(p), 0);
    const { maxRunningPods, cpu: cpuCapacity } = this.capacity;
    const pending = pods
      .filter((p) => !p.spec.nodeName && !p.metadata.deletionTimestamp)
      .sort((a, b) => this.order(a) - this.order(b));
    for (const pod of pending) {
      if (ruleFor(this.rules(), pod).action === 'unschedulable') {
        this.markUnschedulable(pod, 'Insufficient cpu');
      } else if (maxRunningPods !== undefined && running >= maxRunningPods) {
        this.markUnschedulable(pod, 'Too many pods');
      } else if (cpuCapacity !== undefined && cpu + cpuRequest(pod) > parseCpu(cpuCapacity) + 1e-9) {
        this.markUnschedulable(pod, 'Insufficient cpu');
      } else {
        this.bind(pod);
        running += 1;
        cpu += cpuRequest(pod);
      }
    }
  }

  private setScheduled(
    pod: Pod,
    condition: Omit<Condition, 'lastProbeTime' | 'lastTransitionTime'>,
    nodeName?: string,
  ): void {
    const current = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (!nodeName && current?.status === condition.status && current.message === condition.message) return;
    this.store.mutate('pods', pod.metadata.namespace, pod.metadata.name!, (obj) => {
      const target = obj as Pod;
      if (nodeName) target.spec.nodeName = nodeName;
      const status = (target.status ??= { phase: 'Pending' });
      const others = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
      status.conditions = [
        ...others,
        { ...condition, lastProbeTime: null, lastTransitionTime: this.clock.timestamp() },
      ];
    });
  }

  private bind(pod: Pod): void {
    this.setScheduled(pod, { type: 'PodScheduled', status: 'True' }, NODE_NAME);
  }

  private markUnschedulable(pod: Pod, reason: string): void {
    this.setScheduled(pod, {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: unschedulableMessage(reason),
    });
  }
}
