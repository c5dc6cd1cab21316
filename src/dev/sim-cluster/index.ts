import type { Logger } from '../../logger.js';
import type { AccessRecord } from './access-log.js';
import { ApiServer } from './api-server.js';
import { Authenticator, type AuthOptions } from './authentication.js';
import { SimClock } from './clock.js';
import {
  startControllers,
  type Capacity,
  type ClusterSettingsInput,
  type Controllers,
  type KubeletRule,
} from './controllers/index.js';
import { FaultController } from './faults.js';
import { buildKubeconfig, writeKubeconfig } from './kubeconfig.js';
import { Recorder, type JobLifetime, type SimStats } from './recorder.js';
import { ObjectStore } from './store.js';

export type { AccessRecord } from './access-log.js';
export type { AuthOptions, TokenIdentity } from './authentication.js';
export type { ClusterSettings, ClusterSettingsInput } from './controllers/index.js';
export type { FaultSettings, FaultSettingsInput } from './faults.js';
export type { RuleRef } from './rbac.js';
export type { JobLifetime, SimStats } from './recorder.js';

/** `startSimCluster({ tls })`: PEM texts. */
export interface TlsOptions {
  key: string;
  cert: string;
  /** the CA that signed `cert`, written into the kubeconfig (else it skips TLS verification) */
  ca?: string;
}

export interface SimClusterOptions {
  /** 0 (the default) picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** simulated milliseconds per real millisecond (default 1) */
  timeScale?: number;
  /** initial kubelet rules (what simulated containers do) */
  rules?: KubeletRule[];
  capacity?: Capacity;
  /** release-dependent behaviour: Job condition order, pod GC (also `PUT /sim/settings`) */
  settings?: ClusterSettingsInput;
  /** when set, the kubeconfig is written there */
  kubeconfigPath?: string;
  /** how many changes the watch history keeps (default 1000); tiny values make watches expire */
  historySize?: number;
  /** BOOKMARK period of watches that allow them (default 1000 ms) */
  bookmarkIntervalMs?: number;
  /** bearer-token authentication and RBAC authorization; off (anyone may do anything) when unset */
  auth?: AuthOptions;
  /** serve HTTPS instead of HTTP */
  tls?: TlsOptions;
  logger?: Logger;
}

export interface SimCluster {
  /** the API server's base URL, e.g. http://127.0.0.1:41234 (https with `tls`) */
  url: string;
  /** a kubeconfig YAML for the cluster (context `kjl-sim`, the admin's token) */
  kubeconfig: string;
  /** where the kubeconfig was written, if asked */
  kubeconfigPath: string | undefined;
  store: ObjectStore;
  clock: SimClock;
  controllers: Controllers;
  faults: FaultController;
  stats(): SimStats;
  /** every Job created (but those deleted before the last reset), with when it finished and went */
  jobLifetimes(): JobLifetime[];
  /** what the authorizer allowed and denied, per user (empty while auth is off) */
  access(): AccessRecord[];
  stop(): Promise<void>;
}

/** The namespace every cluster starts with, as kube-apiserver's system namespaces controller makes it. */
function createDefaultNamespace(store: ObjectStore): void {
  store.create('namespaces', {
    metadata: { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  });
}

/**
 * Starts a simulated Kubernetes cluster: storage, controllers (Job, TTL, GC, kubelet) and an HTTP
 * API server that `@kubernetes/client-node` and `kubectl` accept. For tests and `kjl dev` only.
 */
export async function startSimCluster(options: SimClusterOptions = {}): Promise<SimCluster> {
  const logger = options.logger?.child({ module: 'sim-cluster' });
  const clock = new SimClock(options.timeScale ?? 1);
  const store = new ObjectStore({
    clock,
    ...(options.historySize ? { historySize: options.historySize } : {}),
  });
  createDefaultNamespace(store);
  const controllers = startControllers({
    store,
    clock,
    ...(options.rules ? { rules: options.rules } : {}),
    ...(options.capacity ? { capacity: options.capacity } : {}),
    ...(options.settings ? { settings: options.settings } : {}),
    ...(logger ? { logger } : {}),
  });
  const faults = new FaultController();
  const recorder = new Recorder(store, clock, faults);
  const server = new ApiServer({
    store,
    clock,
    controllers,
    faults,
    recorder,
    ...(logger ? { logger } : {}),
    ...(options.bookmarkIntervalMs ? { bookmarkIntervalMs: options.bookmarkIntervalMs } : {}),
    ...(options.auth ? { authenticator: new Authenticator(options.auth) } : {}),
    ...(options.tls ? { tls: { key: options.tls.key, cert: options.tls.cert } } : {}),
  });
  let url: string;
  try {
    url = await server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  } catch (error) {
    // e.g. the port is taken: leave no controller timers behind
    faults.stop();
    controllers.stop();
    recorder.stop();
    throw error;
  }
  const kubeconfig = buildKubeconfig(url, {
    ...(options.auth?.adminToken ? { token: options.auth.adminToken } : {}),
    ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
  });
  if (options.kubeconfigPath) await writeKubeconfig(options.kubeconfigPath, kubeconfig);
  logger?.info({ url }, 'simulated cluster listening');

  return {
    url,
    kubeconfig,
    kubeconfigPath: options.kubeconfigPath,
    store,
    clock,
    controllers,
    faults,
    stats: () => recorder.stats(),
    jobLifetimes: () => recorder.jobLifetimes(),
    access: () => recorder.access.list(),
    async stop() {
      faults.stop();
      controllers.stop();
      recorder.stop();
      await server.close();
      clock.clearAll();
    },
  };
}
