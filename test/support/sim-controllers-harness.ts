import { randomUUID } from 'node:crypto';
import { waitFor as waitUntil } from './wait.js';
import { SimClock } from '../../src/dev/sim-cluster/clock.js';
import {
  startControllers,
  type Capacity,
  type Controllers,
  type KubeletRule,
} from '../../src/dev/sim-cluster/controllers/index.js';
import type { Job, JobSpec, Pod } from '../../src/dev/sim-cluster/controllers/kube-types.js';
import { ObjectStore, type KubeObject, type StoreChange } from '../../src/dev/sim-cluster/store.js';

export interface Harness {
  store: ObjectStore;
  clock: SimClock;
  controllers: Controllers;
  /** every store change since start, in order */
  changes: StoreChange[];
  stop(): void;
}

/** A store and the controllers at `timeScale` simulated ms per real ms (1000: a second passes in a millisecond). */
export function startHarness(
  options: { rules?: KubeletRule[]; capacity?: Capacity; timeScale?: number } = {},
): Harness {
  const clock = new SimClock(options.timeScale ?? 1000);
  const store = new ObjectStore({ clock, historySize: 100_000 });
  const changes: StoreChange[] = [];
  store.on('change', (change) => changes.push(change));
  const controllers = startControllers({ store, clock, rules: options.rules, capacity: options.capacity });
  return {
    store,
    clock,
    controllers,
    changes,
    stop() {
      controllers.stop();
      clock.clearAll();
    },
  };
}

/** Polls until `probe` returns a truthy value (every millisecond), or fails after `timeoutMs`. */
export function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 5000,
): Promise<T> {
  return waitUntil('the condition', probe, timeoutMs, 1) as Promise<T>;
}

export type JobInput = Omit<Partial<JobSpec>, 'template'> & {
  restartPolicy?: 'Never' | 'OnFailure';
  labels?: Record<string, string>;
  containers?: Pod['spec']['containers'];
};

/** Creates a Job as the API server stores it: defaults, and the job-name/controller-uid labels and selector. */
export function createJob(
  store: ObjectStore,
  name: string,
  input: JobInput = {},
  namespace = 'default',
): Job {
  const { restartPolicy = 'Never', labels = {}, containers, ...spec } = input;
  const uid = randomUUID();
  const tracking = {
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': name,
    'controller-uid': uid,
    'job-name': name,
  };
  const both = spec.completions === undefined && spec.parallelism === undefined;
  return store.create('jobs', {
    metadata: { name, namespace, uid, labels: { ...labels } },
    spec: {
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      suspend: false,
      ...(both ? { completions: 1 } : {}),
      ...spec,
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
      template: {
        metadata: { labels: { ...labels, ...tracking } },
        spec: {
          restartPolicy,
          containers: containers ?? [{ name: 'main', image: 'busybox:1.36' }],
        },
      },
    },
    status: {},
  }) as Job;
}

export function getJob(store: ObjectStore, name: string, namespace = 'default'): Job | undefined {
  return store.tryGet('jobs', namespace, name) as Job | undefined;
}

/** The Job's pods (by its controller-uid label), oldest name first. */
export function podsOf(store: ObjectStore, job: KubeObject): Pod[] {
  return store.list(
    'pods',
    job.metadata.namespace,
    (pod) => pod.metadata.labels?.['batch.kubernetes.io/controller-uid'] === job.metadata.uid,
  ).items as Pod[];
}

export function conditionTypes(job: Job | undefined): string[] {
  return (job?.status?.conditions ?? []).filter((c) => c.status === 'True').map((c) => c.type);
}

/** The Job's Events in the order they were created (names end in increasing hex nanoseconds). */
export function eventsOf(
  store: ObjectStore,
  job: KubeObject,
): { type: string; reason: string; message: string }[] {
  return store
    .list(
      'events',
      job.metadata.namespace,
      (e) => (e.involvedObject as { uid?: string }).uid === job.metadata.uid,
    )
    .items.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))
    .map((e) => ({ type: e.type as string, reason: e.reason as string, message: e.message as string }));
}
