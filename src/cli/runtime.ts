import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { FastifyInstance } from 'fastify';
import { BuildLifecycle } from '../app/build-lifecycle.js';
import { BuildService } from '../app/build-service.js';
import type { BuildStore, ClusterView, DeadLetterQueuePort } from '../app/ports.js';
import { awsClientSettings } from '../aws.js';
import type { Notify } from '../build-notice.js';
import { buildRequestJsonSchema, type RequestLimits } from '../build-request.js';
import type { Config } from '../config/config.js';
import { KubeConfigError } from '../errors.js';
import { buildEvent, defaultEventSource } from '../events/build-events.js';
import { createEventSink, type EventSink } from '../events/event-sink.js';
import { API_PREFIX, apiRoutes } from '../http/api.js';
import { DASHBOARD_PATH, dashboardRoutes } from '../http/dashboard.js';
import { KjlMetrics } from '../http/metrics.js';
import { startHttpServer, type HttpServerOptions } from '../http/server.js';
import { parseHttpSubmission, type ParseOptions } from '../intake/parse-message.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { SqsIntake } from '../intake/sqs-intake.js';
import { JobRunner } from '../k8s/job-runner.js';
import { JobWatcher } from '../k8s/job-watcher.js';
import {
  apiReachable,
  createKubeClients,
  loadKubeConfig,
  type KubeApiObserver,
  type KubeClients,
} from '../k8s/kube-client.js';
import { instanceSelector, labelKeys } from '../k8s/labels.js';
import { OrphanSweeper } from '../k8s/orphan-sweeper.js';
import { ClusterJobs } from '../k8s/cluster-jobs.js';
import { DeadLetterQueue } from '../intake/dead-letter-queue.js';
import { TemplateWatcher } from '../k8s/template-watcher.js';
import type { Logger } from '../logger.js';
import { BuildQueue, type BuildQueueOptions } from '../queue/build-queue.js';
import { BuildWorker, SHARE_INTERVAL_MS } from '../queue/build-worker.js';
import type { ConnectionMode } from '../queue/redis-options.js';

/** A running kjl: the parts `kjl start` and `kjl dev` wire together. */
export interface Runtime {
  service: BuildService;
  intake: SqsIntake | undefined;
  http: FastifyInstance | undefined;
  /** what the HTTP server serves besides health and readiness */
  served: { api: boolean; dashboard: boolean };
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  /** start the HTTP server (health, readiness) on config.http.port */
  http?: boolean;
  /** address the HTTP server binds (default all interfaces, as a pod needs for its probes) */
  httpHost?: string;
  /**
   * serve the API and the dashboard without credentials when none are configured (`kjl dev`); only
   * when `httpHost` is a loopback address
   */
  openOnLoopback?: boolean;
}

/** The queue adapter's options from the config, for a process of the given kind. */
export function queueOptions(
  config: Config,
  logger: Logger,
  mode: ConnectionMode,
  owner: boolean,
): BuildQueueOptions {
  return {
    redisUrl: config.redis.url,
    name: config.queue.name,
    prefix: config.queue.prefix,
    mode,
    maxConcurrentJobs: config.queue.maxConcurrentJobs,
    ownsLimit: owner,
    durability: owner ? config.redis.durability : 'skip',
    successDedupSeconds: config.queue.successDedupSeconds,
    history: config.queue.history,
    maxAttempts: config.queue.maxAttempts,
    failureBackoffSeconds: config.queue.failureBackoffSeconds,
    leaseSeconds: config.queue.lockSeconds,
    logger,
  };
}

/** What a build request may ask for, from the config (the intake and `kjl publish` check the same). */
export function requestLimits(config: Config): RequestLimits {
  return {
    templates: config.k8s.templates,
    defaultTemplate: config.k8s.defaultTemplate,
    maxEnvEntries: config.intake.maxEnvEntries,
    maxCpu: config.intake.maxCpu,
    maxMemory: config.intake.maxMemory,
  };
}

/**
 * The notices' fan-out: one CloudEvent per notice to the events sink, and each notice to the
 * metrics (when the process serves them).
 */
export function createNotifier(
  config: Config,
  logger: Logger,
  metrics?: KjlMetrics,
): { events: EventSink; notify: Notify } {
  const events = createEventSink(config.events.sink, {
    ...awsClientSettings({ region: config.sqs.region, endpoint: config.sqs.endpoint }),
    logger,
    ...(metrics ? { onDelivery: (phase, result) => metrics.eventDelivery(phase, result) } : {}),
  });
  const source = defaultEventSource(config.k8s.namespace);
  return {
    events,
    notify: async (notice) => {
      metrics?.notice(notice);
      await events.send(buildEvent(notice, { source }));
    },
  };
}

/** What the metrics learn of the API traffic. */
function apiObserver(metrics: KjlMetrics | undefined): KubeApiObserver {
  return metrics
    ? {
        onRequest: (verb, code) => metrics.apiRequest(verb, code),
        onRetry: (operation) => metrics.apiRetry(operation),
      }
    : {};
}

/** The cluster's clients from the config's sources (KJL_KUBECONFIG, in-cluster, KUBECONFIG, ~/.kube). */
export function kubeClientsFor(config: Config, observer: KubeApiObserver = {}): KubeClients {
  return createKubeClients(
    loadKubeConfig({
      inClusterRoot: config.k8s.inClusterRoot,
      ...(config.k8s.kubeconfig ? { kubeconfig: config.k8s.kubeconfig } : {}),
      ...(config.k8s.serviceHost ? { serviceHost: config.k8s.serviceHost } : {}),
      ...(config.k8s.servicePort ? { servicePort: config.k8s.servicePort } : {}),
      ...(config.k8s.kubeconfigEnv ? { kubeconfigEnv: config.k8s.kubeconfigEnv } : {}),
      limits: { qps: config.k8s.qps, burst: config.k8s.burst, connections: config.k8s.connections },
    }),
    observer,
  );
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

/** The SQS dead-letter queue (`KJL_SQS_DLQ_URL`), when one is configured. */
export function deadLettersFor(config: Config, sqs: SQSClient): DeadLetterQueue | undefined {
  if (!config.sqs.dlqUrl) return undefined;
  return new DeadLetterQueue({
    sqs,
    dlqUrl: config.sqs.dlqUrl,
    ...(config.sqs.queueUrl ? { sourceQueueUrl: config.sqs.queueUrl } : {}),
  });
}

/** The application layer's use cases over a store, with what this process can reach. */
export function buildServiceFor(
  config: Config,
  parts: { store: BuildStore; notify: Notify; cluster?: ClusterView; deadLetters?: DeadLetterQueuePort },
  logger: Logger,
): BuildService {
  return new BuildService({
    ...parts,
    failureBackoffMs: config.queue.failureBackoffSeconds * 1000,
    logger: logger.child({ module: 'app' }),
  });
}

interface Workers {
  clients: KubeClients;
  watcher: JobWatcher;
  worker: BuildWorker;
  lifecycle: BuildLifecycle;
  sweeper: OrphanSweeper;
  templates: TemplateWatcher;
  /** says in Redis that this worker process is gone (its share goes to the others) */
  leave: () => Promise<void>;
}

/** What the metrics take from the workers: the API traffic, the creates, the watch cache. */
interface WorkerHooks {
  metrics?: KjlMetrics;
  /** the watch, as soon as it exists (before its first list: metrics show a watch that cannot start) */
  onWatcher?: (watcher: JobWatcher) => void;
}

async function startWorkers(
  config: Config,
  store: BuildQueue,
  clients: KubeClients,
  notify: Notify,
  logger: Logger,
  hooks: WorkerHooks = {},
): Promise<Workers> {
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
  const service = buildServiceFor(config, { store, notify }, logger);
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
    clients,
    watcher,
    worker,
    lifecycle,
    sweeper,
    templates,
    leave: () => store.leave(workerId),
  };
}

/** The cluster's clients when a Kubernetes configuration is found (an intake-only process may have none). */
function optionalKubeClients(config: Config, observer: KubeApiObserver): KubeClients | undefined {
  try {
    return kubeClientsFor(config, observer);
  } catch (error) {
    if (error instanceof KubeConfigError) return undefined;
    throw error;
  }
}

/**
 * The API (`/api/v1`) and the dashboard (`/admin/queues`) of the HTTP server, each served only with
 * credentials, or `open` without them (`kjl dev` on loopback); the log says why one is off.
 */
function httpSurfaces(
  config: Config,
  parts: { service: BuildService; store: BuildQueue; parse: ParseOptions },
  open: boolean,
  logger: Logger,
): NonNullable<HttpServerOptions['surfaces']> {
  const { service, store, parse } = parts;
  const log = logger.child({ module: 'http' });
  const token = config.api.token;
  const { user, password, readOnly } = config.dashboard;
  const basic = user && password ? { user, password } : undefined;
  const surfaces: NonNullable<HttpServerOptions['surfaces']> = [];
  if (token || open) {
    surfaces.push({
      prefix: API_PREFIX,
      routes: apiRoutes({
        service,
        parseSubmission: (submission) => parseHttpSubmission(submission, parse),
        requestSchema: buildRequestJsonSchema(parse.limits),
        token,
        rateLimit: { max: config.api.rateLimit, windowSeconds: config.api.rateLimitWindowSeconds },
        bodyLimitBytes: config.api.bodyLimitBytes,
      }),
    });
  } else {
    log.info('HTTP API off: KJL_API_TOKEN is not set');
  }
  if (basic || token || open) {
    if (!basic && token)
      log.info(
        'dashboard: the API token only (set KJL_DASHBOARD_USER and KJL_DASHBOARD_PASSWORD for a browser)',
      );
    surfaces.push({
      prefix: DASHBOARD_PATH,
      routes: dashboardRoutes({
        queue: store.dashboardAdapter({
          readOnly,
          description: 'kjl builds: each entry is a build request (its id), named after its target',
        }),
        credentials:
          basic || token ? { ...(token ? { token } : {}), ...(basic ? { basic } : {}) } : undefined,
        readOnly,
        service,
      }),
    });
  } else {
    log.info('dashboard off: KJL_DASHBOARD_USER and KJL_DASHBOARD_PASSWORD (or KJL_API_TOKEN) are not set');
  }
  return surfaces;
}

/** Runs `close` and moves on after `ms` whatever it does (a dead peer never holds up a stop). */
async function bounded(ms: number, close: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([close().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The composition root: builds every adapter from the config and connects them. */
export async function startRuntime(
  config: Config,
  logger: Logger,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const runsIntake = config.role === 'all' || config.role === 'intake';
  const runsWorkers = config.role === 'all' || config.role === 'worker';
  let watcher: JobWatcher | undefined;
  const metrics = options.http
    ? new KjlMetrics({
        intake: runsIntake,
        // the intake's store fails fast on a dead Redis; a worker's waits (the scrape is bounded)
        fleet: async () => {
          const store = (intakeStore ?? workerStore)!;
          const [entries, limit] = await Promise.all([store.counts(), store.limit()]);
          return { entries, limit };
        },
        ...(runsWorkers
          ? {
              watch: () =>
                watcher && {
                  activeJobs: watcher.activeJobs,
                  oldestActiveStart: watcher.oldestActiveStart(),
                  resources: watcher.watchActivity(),
                },
            }
          : {}),
      })
    : undefined;
  const { events, notify } = createNotifier(config, logger, metrics);
  const queueLog = logger.child({ module: 'queue' });
  const workerStore = runsWorkers
    ? await BuildQueue.open(queueOptions(config, queueLog, 'worker', true))
    : undefined;
  const intakeStore = runsIntake
    ? await BuildQueue.open(queueOptions(config, queueLog, 'intake', !runsWorkers))
    : undefined;
  const stores = [workerStore, intakeStore].filter((store): store is BuildQueue => store !== undefined);
  const sqs: SQSClient | undefined = runsIntake
    ? createSqsClient({ region: config.sqs.region, endpoint: config.sqs.endpoint })
    : undefined;
  const clients = runsWorkers
    ? kubeClientsFor(config, apiObserver(metrics))
    : optionalKubeClients(config, apiObserver(metrics));
  const deadLetters = sqs ? deadLettersFor(config, sqs) : undefined;
  const store = (intakeStore ?? workerStore)!;
  const service = buildServiceFor(
    config,
    {
      store,
      notify,
      ...(clients ? { cluster: clusterJobsFor(config, clients) } : {}),
      ...(deadLetters ? { deadLetters } : {}),
    },
    logger,
  );
  const limits = requestLimits(config);
  const open = options.openOnLoopback === true && /^(127\.|::1$|localhost$)/.test(options.httpHost ?? '');
  const surfaces = options.http
    ? httpSurfaces(
        config,
        { service, store, parse: { eventType: config.intake.eventType, wrapSource: 'kjl/http', limits } },
        open,
        logger,
      )
    : [];
  let workers: Workers | undefined;
  const http = options.http
    ? await startHttpServer({
        port: config.http.port,
        ...(options.httpHost ? { host: options.httpHost } : {}),
        logger,
        ...(metrics ? { metrics } : {}),
        surfaces,
        checks: {
          redis: async () => (await Promise.all(stores.map((store) => store.ready()))).every(Boolean),
          ...(sqs
            ? {
                sqs: async () => {
                  await sqs.send(
                    new GetQueueAttributesCommand({
                      QueueUrl: config.sqs.queueUrl!,
                      AttributeNames: ['QueueArn'],
                    }),
                  );
                  return true;
                },
              }
            : {}),
          ...(runsWorkers
            ? {
                kubernetes: async () =>
                  !!workers && workers.watcher.live && (await apiReachable(workers.clients)),
              }
            : {}),
        },
      })
    : undefined;
  if (runsWorkers)
    workers = await startWorkers(config, workerStore!, clients!, notify, logger, {
      ...(metrics ? { metrics } : {}),
      onWatcher: (created) => (watcher = created),
    });
  let intake: SqsIntake | undefined;
  if (sqs) {
    const queueUrl = config.sqs.queueUrl!;
    intake = new SqsIntake({
      sqs,
      queueUrl,
      ...(config.sqs.dlqUrl ? { dlqUrl: config.sqs.dlqUrl } : {}),
      batchSize: config.sqs.batchSize,
      waitTimeSeconds: config.sqs.waitTimeSeconds,
      visibilityTimeoutSeconds: config.sqs.visibilityTimeoutSeconds,
      heartbeatSeconds: config.sqs.heartbeatSeconds,
      retryBackoffSeconds: config.sqs.retryBackoffSeconds,
      parse: {
        eventType: config.intake.eventType,
        wrapSource: `kjl/sqs/${queueUrl.split('/').at(-1)}`,
        limits,
      },
      submitter: service,
      logger: logger.child({ module: 'intake' }),
      ...(metrics
        ? {
            observer: {
              onMessage: (result, code) => metrics.intakeMessage(result, code),
              onDeadLettered: (code) => metrics.deadLettered(code),
              onQueueReachable: (reachable) => metrics.intakeQueueReachable(reachable),
            },
          }
        : {}),
    });
    intake.start();
  }
  const graceMs = config.shutdownTimeoutSeconds * 1000;
  return {
    service,
    intake,
    http,
    served: {
      api: surfaces.some((surface) => surface.prefix === API_PREFIX),
      dashboard: surfaces.some((surface) => surface.prefix === DASHBOARD_PATH),
    },
    async stop() {
      // Stop taking work; builds in hand go back to the queue (their Jobs run on and are adopted).
      await bounded(graceMs / 2, async () => intake?.stop());
      workers?.sweeper.stop();
      workers?.templates.stop();
      await workers?.worker.close(() => workers.lifecycle.stop(graceMs / 4));
      await bounded(1000, async () => workers?.leave());
      await bounded(2000, async () => workers?.watcher.stop());
      await bounded(1000, async () => clients?.close());
      await bounded(2000, async () => http?.close());
      await Promise.all(stores.map((store) => store.close()));
      await bounded(2000, () => events.close());
      sqs?.destroy();
    },
  };
}
