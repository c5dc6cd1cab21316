import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { FastifyInstance } from 'fastify';
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
import { DeadLetterQueue } from '../intake/dead-letter-queue.js';
import { parseHttpSubmission, type ParseOptions } from '../intake/parse-message.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { SqsIntake } from '../intake/sqs-intake.js';
import type { ClusterJobs } from '../k8s/cluster-jobs.js';
import type { JobWatcher } from '../k8s/job-watcher.js';
import type { ApiLimits, KubeApiObserver, KubeClients } from '../k8s/kube-client.js';
import { findKubeConfig, type KubeConfigSources } from '../k8s/kube-config-source.js';
import type { Logger } from '../logger.js';
import { BuildQueue, type BuildQueueOptions } from '../queue/build-queue.js';
import type { ConnectionMode } from '../queue/redis-options.js';
import type * as RuntimeCluster from './runtime-cluster.js';

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

/** Where this process finds the cluster's configuration, and how hard it may use the API server. */
function kubeSources(config: Config): KubeConfigSources & { limits: ApiLimits } {
  const { k8s } = config;
  return {
    inClusterRoot: k8s.inClusterRoot,
    ...(k8s.kubeconfig ? { kubeconfig: k8s.kubeconfig } : {}),
    ...(k8s.serviceHost ? { serviceHost: k8s.serviceHost } : {}),
    ...(k8s.servicePort ? { servicePort: k8s.servicePort } : {}),
    ...(k8s.kubeconfigEnv ? { kubeconfigEnv: k8s.kubeconfigEnv } : {}),
    limits: { qps: k8s.qps, burst: k8s.burst, connections: k8s.connections },
  };
}

/**
 * The cluster as the use cases see it (cancel, a running build's pod, logs), and the clients the
 * workers share with it. The Kubernetes client is loaded on first use: an intake or a command that
 * never needs the cluster never loads it.
 */
export class ClusterLink implements ClusterView {
  private loaded:
    Promise<{ cluster: typeof RuntimeCluster; clients: KubeClients; jobs: ClusterJobs }> | undefined;

  private constructor(
    private readonly config: Config,
    private readonly observer: KubeApiObserver,
    /** a configuration that cannot be read is an error; else the process goes on without the cluster */
    private readonly required: boolean,
  ) {}

  /** The link; a KubeConfigError (`KJL_K8S_CONFIG`) when no Kubernetes configuration is found. */
  static required(config: Config, observer: KubeApiObserver = {}): ClusterLink {
    findKubeConfig(kubeSources(config));
    return new ClusterLink(config, observer, true);
  }

  /**
   * The link, or none when no Kubernetes configuration is found (an intake may have none); one
   * found that cannot be read makes `open` false, as if there were none.
   */
  static optional(config: Config, observer: KubeApiObserver = {}): ClusterLink | undefined {
    try {
      findKubeConfig(kubeSources(config));
      return new ClusterLink(config, observer, false);
    } catch (error) {
      if (error instanceof KubeConfigError) return undefined;
      throw error;
    }
  }

  /** Loads the Kubernetes client and reads the configuration (once). */
  load() {
    this.loaded ??= (async () => {
      const cluster = await import('./runtime-cluster.js');
      const clients = cluster.kubeClients(kubeSources(this.config), this.observer);
      return { cluster, clients, jobs: cluster.clusterJobsFor(this.config, clients) };
    })();
    return this.loaded;
  }

  async open(): Promise<boolean> {
    try {
      await this.load();
      return true;
    } catch (error) {
      if (this.required || !(error instanceof KubeConfigError)) throw error;
      return false;
    }
  }

  async deleteRequestJobs(requestId: string): Promise<string[]> {
    return (await this.load()).jobs.deleteRequestJobs(requestId);
  }

  async unfinishedJobs(): Promise<number> {
    return (await this.load()).jobs.unfinishedJobs();
  }

  async describeRun(jobName: string) {
    return (await this.load()).jobs.describeRun(jobName);
  }

  async streamLog(
    jobName: string,
    options: { follow: boolean; signal?: AbortSignal },
    write: (chunk: string) => void,
  ): Promise<boolean> {
    return (await this.load()).jobs.streamLog(jobName, options, write);
  }

  /** Closes the pooled connections, if the client was ever loaded. */
  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded.catch(() => undefined))?.clients.close();
  }
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
  const cluster = runsWorkers
    ? ClusterLink.required(config, apiObserver(metrics))
    : ClusterLink.optional(config, apiObserver(metrics));
  // a worker connects now: a configuration it cannot read stops it at once
  const linked = runsWorkers ? await cluster!.load() : undefined;
  const deadLetters = sqs ? deadLettersFor(config, sqs) : undefined;
  const store = (intakeStore ?? workerStore)!;
  const service = buildServiceFor(
    config,
    {
      store,
      notify,
      ...(cluster ? { cluster } : {}),
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
  let workers: RuntimeCluster.Workers | undefined;
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
                kubernetes: async () => !!workers && (await workers.ready()),
              }
            : {}),
        },
      })
    : undefined;
  if (linked) {
    workers = await linked.cluster.startWorkers(
      config,
      { store: workerStore!, clients: linked.clients, notify, service },
      logger,
      { ...(metrics ? { metrics } : {}), onWatcher: (created) => (watcher = created) },
    );
  }
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
      await bounded(1000, async () => cluster?.close());
      await bounded(2000, async () => http?.close());
      await Promise.all(stores.map((store) => store.close()));
      await bounded(2000, () => events.close());
      sqs?.destroy();
    },
  };
}
