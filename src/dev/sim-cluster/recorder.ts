import { AccessLog } from './access-log.js';
import type { SimClock } from './clock.js';
import type { FaultController, InjectedFault, Verb } from './faults.js';
import type { KubeObject, ObjectStore, StoreChange } from './store.js';

/** What tests read from `stats()` and `GET /sim/stats`. */
export interface SimStats {
  /** per Job name, how many times a Job of that name was created */
  jobsCreated: Record<string, number>;
  /** Jobs that exist and have no Complete/Failed condition True */
  activeJobs: number;
  /** the most Jobs active at once since start (or the last reset) */
  maxActiveJobs: number;
  /** the same per namespace (namespaces that had an active Job since start or the last reset) */
  maxActiveJobsPerNamespace: Record<string, number>;
  /** API requests served, by verb (admin and discovery requests not counted) */
  requests: Partial<Record<Verb, number>>;
  /** faults injected, by kind */
  faults: Partial<Record<InjectedFault, number>>;
}

/**
 * One Job from its creation on (`GET /sim/jobs`, `jobLifetimes()`); times are simulated, RFC 3339
 * with milliseconds. A Job is unfinished from `createdAt` until `finishedAt`, else `deletedAt`.
 */
export interface JobLifetime {
  namespace: string;
  name: string;
  uid: string;
  /** as created */
  labels: Record<string, string>;
  createdAt: string;
  /** when a Complete or Failed condition was first seen True */
  finishedAt?: string;
  deletedAt?: string;
}
function isFinished(job: KubeObject): boolean {
  const conditions = (job.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return (conditions ?? []).some(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}

const increment = <K extends string>(counts: Partial<Record<K, number>>, key: K): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * Observes the store, the API server and the fault controller and keeps counters for tests, and
 * the authorizer's decisions (`access`).
 */
export class Recorder {
  readonly access = new AccessLog();
  /** namespace → names of its unfinished Jobs */
  private readonly active = new Map<string, Set<string>>();
  private activeCount = 0;
  /** by uid, in creation order */
  private lifetimes = new Map<string, JobLifetime>();
  private jobsCreated: Record<string, number> = {};
  private maxActive = 0;
  private maxPerNamespace: Record<string, number> = {};
  private requests: SimStats['requests'] = {};
  private faults: SimStats['faults'] = {};
  private readonly onChange = (change: StoreChange) => this.observe(change);
  private readonly onFault = (fault: InjectedFault) => increment(this.faults, fault);

  constructor(
    private readonly store: ObjectStore,
    private readonly clock: SimClock,
    private readonly faultController: FaultController,
  ) {
    store.on('change', this.onChange);
    faultController.on('injected', this.onFault);
  }

  /** Counts one API request. */
  request(verb: Verb): void {
    increment(this.requests, verb);
  }

  stats(): SimStats {
    return structuredClone({
      jobsCreated: this.jobsCreated,
      activeJobs: this.activeCount,
      maxActiveJobs: this.maxActive,
      maxActiveJobsPerNamespace: this.maxPerNamespace,
      requests: this.requests,
      faults: this.faults,
    });
  }

  /** Every Job created since start, but those deleted before the last reset, in creation order. */
  jobLifetimes(): JobLifetime[] {
    return structuredClone([...this.lifetimes.values()]);
  }

  /**
   * Zeroes the counters, forgets the access records and the lifetimes of deleted Jobs; the maxima
   * restart from the Jobs active now.
   */
  reset(): void {
    this.access.reset();
    this.jobsCreated = {};
    this.maxActive = this.activeCount;
    this.maxPerNamespace = Object.fromEntries(
      [...this.active].map(([namespace, names]) => [namespace, names.size]),
    );
    this.lifetimes = new Map([...this.lifetimes].filter(([, lifetime]) => !lifetime.deletedAt));
    this.requests = {};
    this.faults = {};
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.faultController.off('injected', this.onFault);
  }

  private observe(change: StoreChange): void {
    if (change.resource !== 'jobs') return;
    const { namespace, name, uid, labels } = change.object.metadata;
    const now = new Date(this.clock.now()).toISOString();
    if (change.type === 'ADDED') {
      increment(this.jobsCreated, name!);
      this.lifetimes.set(uid!, {
        namespace: namespace!,
        name: name!,
        uid: uid!,
        labels: { ...labels },
        createdAt: now,
      });
    }
    const finished = isFinished(change.object);
    const lifetime = this.lifetimes.get(uid!);
    if (lifetime && finished) lifetime.finishedAt ??= now;
    if (lifetime && change.type === 'DELETED') lifetime.deletedAt = now;
    this.setActive(namespace!, name!, change.type !== 'DELETED' && !finished);
  }

  private setActive(namespace: string, name: string, active: boolean): void {
    const names = this.active.get(namespace) ?? new Set<string>();
    if (names.has(name) === active) return;
    if (active) names.add(name);
    else names.delete(name);
    this.activeCount += active ? 1 : -1;
    if (names.size) this.active.set(namespace, names);
    else this.active.delete(namespace);
    this.maxActive = Math.max(this.maxActive, this.activeCount);
    this.maxPerNamespace[namespace] = Math.max(this.maxPerNamespace[namespace] ?? 0, names.size);
  }
}
