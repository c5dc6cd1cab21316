import type { Logger } from '../../../logger.js';
import { pino } from 'pino';
import type { SimClock } from '../clock.js';
import type { ObjectStore } from '../store.js';
import {
  clusterSettingsSchema,
  type ClusterSettings,
  type ClusterSettingsInput,
} from './cluster-settings.js';
import { EventRecorder } from './event-recorder.js';
import { GarbageCollector } from './garbage-collector.js';
import { JobController } from './job-controller.js';
import { Kubelet } from './kubelet.js';
import type { KubeletRule } from './kubelet-rules.js';
import { PodGarbageCollector } from './pod-gc.js';
import { PodLogs, type PodLogSource } from './pod-logs.js';
import { QuotaController } from './quota-controller.js';
import { Scheduler, type Capacity } from './scheduler.js';
import { TtlController } from './ttl-controller.js';

export {
  clusterSettingsSchema,
  type ClusterSettings,
  type ClusterSettingsInput,
} from './cluster-settings.js';
export { DEV_RULES } from './dev-rules.js';
export {
  kubeletRulesSchema,
  loadKubeletRules,
  type KubeletAction,
  type KubeletRule,
} from './kubelet-rules.js';
export type { LogEntry, PodLogSource } from './pod-logs.js';
export type { Capacity } from './scheduler.js';

export interface ControllersOptions {
  store: ObjectStore;
  clock: SimClock;
  /** how the kubelet runs pods, first match wins; none: every pod succeeds after 1 s */
  rules?: KubeletRule[];
  /** the node's room; unlimited when unset */
  capacity?: Capacity;
  /** release-dependent behaviour (validated; defaults: current releases, no pod GC) */
  settings?: ClusterSettingsInput;
  logger?: Logger;
}

/** The control plane and node of the simulated cluster, running against its store. */
export interface Controllers {
  logs: PodLogSource;
  /** replaces the kubelet rules; pods already running keep the rule they started with */
  setRules(rules: KubeletRule[]): void;
  rules(): KubeletRule[];
  setCapacity(capacity: Capacity): void;
  settings(): ClusterSettings;
  /** replaces the settings (omitted fields back to their defaults); throws a ZodError for invalid input */
  setSettings(input: ClusterSettingsInput): ClusterSettings;
  stop(): void;
}

/**
 * Starts the Job, TTL-after-finished, garbage-collection, pod garbage-collection and resource quota
 * controllers, the scheduler and the kubelet. They react to the store's `change` events and write through the store, as the real ones
 * do through the API server.
 */
export function startControllers(options: ControllersOptions): Controllers {
  const { store, clock } = options;
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ module: 'sim-cluster' });
  let rules = [...(options.rules ?? [])];
  const currentRules = () => rules;
  let settings = clusterSettingsSchema.parse(options.settings ?? {});
  const currentSettings = () => settings;
  const logs = new PodLogs(store);
  const recorder = new EventRecorder(store, clock, 'job-controller');
  const scheduler = new Scheduler(store, clock, currentRules, options.capacity ?? {}, logger);
  // before the Job controller: pod GC sees a pod's change first (see PodGarbageCollector)
  const podGC = new PodGarbageCollector(store, clock, currentSettings, logger);
  const parts = [
    podGC,
    new JobController({ store, clock, recorder, logger, settings: currentSettings }),
    new TtlController(store, clock, logger),
    new GarbageCollector(store, clock, logger),
    new QuotaController(store, clock, logger),
    scheduler,
    new Kubelet(store, clock, logs, currentRules, logger),
  ];
  return {
    logs,
    setRules(next) {
      rules = [...next];
      scheduler.retry();
    },
    rules: () => [...rules],
    setCapacity: (capacity) => scheduler.setCapacity(capacity),
    settings: () => structuredClone(settings),
    setSettings(input) {
      settings = clusterSettingsSchema.parse(input);
      podGC.retry();
      return structuredClone(settings);
    },
    stop() {
      for (const part of parts) part.stop();
    },
  };
}
