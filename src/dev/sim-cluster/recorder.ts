import { AccessLog } from './access-log.js';
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
  /** API requests served, by verb (admin and discovery requests not counted) */
  requests: Partial<Record<Verb, number>>;
  /** faults injected, by kind */
  faults: Partial<Record<InjectedFault, number>>;
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
  private readonly active = new Set<string>();
  private jobsCreated: Record<string, number> = {};
  private maxActive = 0;
  private requests: SimStats['requests'] = {};
  private faults: SimStats['faults'] = {};
  private readonly onChange = (change: StoreChange) => this.observe(change);
  private readonly onFault = (fault: InjectedFault) => increment(this.faults, fault);

  constructor(
    private readonly store: ObjectStore,
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
      activeJobs: this.active.size,
      maxActiveJobs: this.maxActive,
      requests: this.requests,
      faults: this.faults,
    });
  }

  /** Zeroes the counters and forgets the access records; the maximum restarts from the Jobs active now. */
  reset(): void {
    this.access.reset();
    this.jobsCreated = {};
    this.maxActive = this.active.size;
    this.requests = {};
    this.faults = {};
  }

  stop(): void {
    this.store.off('change', this.onChange);
    this.faultController.off('injected', this.onFault);
  }

  private observe(change: StoreChange): void {
    if (change.resource !== 'jobs') return;
    const { namespace, name } = change.object.metadata;
    const key = `${namespace}/${name}`;
    if (change.type === 'ADDED') increment(this.jobsCreated, name!);
    if (change.type === 'DELETED' || isFinished(change.object)) this.active.delete(key);
    else this.active.add(key);
    this.maxActive = Math.max(this.maxActive, this.active.size);
  }
}
