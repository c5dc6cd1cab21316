import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { BuildLifecycle } from '../app/build-lifecycle.js';
import type { BuildService } from '../app/build-service.js';
import type { Notify } from '../build-notice.js';
import type { Config } from '../config/config.js';
import type { KjlMetrics } from '../http/metrics.js';
import { ClusterJobs } from '../k8s/cluster-jobs.js';
import { JobRunner } from '../k8s/job-runner.js';
import { JobWatcher } from '../k8s/job-watcher.js';
import {
  apiReachable,
  createKubeClients,
  loadKubeConfig,
  type ApiLimits,
  type KubeApiObserver,
  type KubeClients,
} from '../k8s/kube-client.js';
import type { KubeConfigSources } from '../k8s/kube-config-source.js';
import { instanceSelector, labelKeys } from '../k8s/labels.js';
import { OrphanSweeper } from '../k8s/orphan-sweeper.js';
import { TemplateWatcher } from '../k8s/template-watcher.js';
import type { Logger } from '../logger.js';
import type { BuildQueue } from '../queue/build-queue.js';
import { BuildWorker, SHARE_INTERVAL_MS } from '../queue/build-worker.js';

// The cluster half of the composition root: the Kubernetes clients, the workers that run builds as
// Jobs, and the cluster as the use cases see it. runtime.ts loads it with import() when a process
// first needs the cluster, so that one that never does never loads the Kubernetes client.

/** The cluster's clients from the first configuration source found, with the API limits. */
export function kubeClients(
  sources: KubeConfigSources & { limits: ApiLimits },
  observer: KubeApiObserver,
): KubeClients {
  return createKubeClients(loadKubeConfig(sources), observer);
}

/** The deployment's Jobs read through the API (cancel, a running build's pod, logs). */
export function clusterJobsFor(config: Config, clients: KubeClients): ClusterJobs {
  return new ClusterJobs({
    clients,
    namespace: config.k8s.namespace,
    labelPrefix: config.k8s.labelPrefix,
    instance: config.k8s.instance,
  });
}

export interface Workers {
  watcher: JobWatcher;
  worker: BuildWorker;
  lifecycle: BuildLifecycle;
  sweeper: OrphanSweeper;
  templates: TemplateWatcher;
  /** says in Redis that this worker process is gone (its share goes to the others) */
  leave: () => Promise<void>;
  /** the watch is live and the API server answers (readiness) */
  ready: () => Promise<boolean>;
}

/** What the metrics take from the workers: the API traffic, the creates, the watch cache. */
export interface WorkerHooks {
  metrics?: KjlMetrics;
  /** the watch, as soon as it exists (before its first list: metrics show a watch that cannot start) */
  onWatcher?: (watcher: JobWatcher) => void;
}

/**
 * Starts the workers: the Job templates (reloaded on change), the watch, the runner, the build
 * lifecycle on the BullMQ worker, and the sweep of orphaned Jobs.
 */
export async function startWorkers(
  config: Config,
  parts: { store: BuildQueue; clients: KubeClients; notify: Notify; service: BuildService },
  logger: Logger,
  hooks: WorkerHooks = {},
): Promise<Workers> {
  const { store, clients, notify, service } = parts;
  const { metrics } = hooks;
  const log = logger.child({ module: 'k8s' });
  const templates = await TemplateWatcher.start({
    dir: config.k8s.templatesDir,
    names: config.k8s.templates,
    logger: log,
  });
  const keys = labelKeys(config.k8s.labelPrefix);
  const watcher = new JobWatcher({
    clients,
    namespace: config.k8s.namespace,
    labelSelector: instanceSelector(config.k8s.labelPrefix, config.k8s.instance),
    requestLabel: keys.requestId,
    staleMs: config.k8s.watchStaleSeconds * 1000,
    logger: log,
  });
  hooks.onWatcher?.(watcher);
  await watcher.start();
  const runner = new JobRunner({
    clients,
    watcher,
    catalog: templates,
    startTimeoutSeconds: config.k8s.startTimeoutSeconds,
    logTail: {
      lines: config.k8s.logTailLines,
      bytes: config.k8s.logTailBytes,
      lineBytes: Math.min(2048, config.k8s.logTailBytes),
      readBytes: 4 * config.k8s.logTailBytes,
    },
    logger: log,
    ...(metrics ? { onCreate: (result: 'success' | 'failure') => metrics.jobCreate(result) } : {}),
    spec: {
      namespace: config.k8s.namespace,
      instance: config.k8s.instance,
      labelPrefix: config.k8s.labelPrefix,
      serviceAccount: config.k8s.serviceAccount,
      nodeSelector: config.k8s.nodeSelector,
      tolerations: config.k8s.tolerations,
      priorityClassName: config.k8s.priorityClassName,
      imagePullSecrets: config.k8s.imagePullSecrets,
      runtimeClassName: config.k8s.runtimeClassName,
      activeDeadlineSeconds: config.k8s.activeDeadlineSeconds,
      ttlSecondsAfterFinished: config.k8s.ttlSecondsAfterFinished,
      bucket: config.build.contextBucket,
      registry: config.build.registry,
      repository: config.build.repository,
    },
  });
  const workerLog = logger.child({ module: 'worker' });
  const lifecycle = new BuildLifecycle({
    store,
    cluster: runner,
    notify,
    failureBackoffMs: config.queue.failureBackoffSeconds * 1000,
    pollMs: config.queue.pollMs,
    logger: workerLog,
  });
  const workerId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const worker = new BuildWorker(lifecycle.handle, {
    redisUrl: config.redis.url,
    name: config.queue.name,
    prefix: config.queue.prefix,
    concurrency: config.queue.maxConcurrentJobs,
    fairShare: () => store.fairShare(workerId, 3 * SHARE_INTERVAL_MS),
    lockSeconds: config.queue.lockSeconds,
    logger: workerLog,
  });
  await worker.waitUntilReady();
  worker.start();
  const sweeper = new OrphanSweeper({
    clients,
    watcher,
    namespace: config.k8s.namespace,
    labelPrefix: config.k8s.labelPrefix,
    disposition: (requestId, run) => service.jobDisposition(requestId, run),
    intervalSeconds: config.k8s.sweepIntervalSeconds,
    logger: log,
  });
  sweeper.start();
  return {
    watcher,
    worker,
    lifecycle,
    sweeper,
    templates,
    leave: () => store.leave(workerId),
    ready: async () => watcher.live && (await apiReachable(clients)),
  };
}
