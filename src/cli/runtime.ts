import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { FastifyInstance } from 'fastify';
import { BuildLifecycle } from '../app/build-lifecycle.js';
import { BuildService } from '../app/build-service.js';
import type { BuildStore, ClusterView, DeadLetterQueuePort } from '../app/ports.js';
import { awsClientSettings } from '../aws.js';
import type { Notify } from '../build-notice.js';
import type { RequestLimits } from '../build-request.js';
import type { Config } from '../config/config.js';
import { buildEvent, defaultEventSource } from '../events/build-events.js';
import { createEventSink, type EventSink } from '../events/event-sink.js';
import { startHttpServer } from '../http/server.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { SqsIntake } from '../intake/sqs-intake.js';
import { JobRunner } from '../k8s/job-runner.js';
import { JobWatcher } from '../k8s/job-watcher.js';
import { apiReachable, createKubeClients, loadKubeConfig, type KubeClients } from '../k8s/kube-client.js';
import { instanceSelector, labelKeys } from '../k8s/labels.js';
import { OrphanSweeper } from '../k8s/orphan-sweeper.js';
import { ClusterJobs } from '../k8s/cluster-jobs.js';
import { DeadLetterQueue } from '../intake/dead-letter-queue.js';
import { TemplateWatcher } from '../k8s/template-watcher.js';
import type { Logger } from '../logger.js';
import { BuildQueue, type BuildQueueOptions } from '../queue/build-queue.js';
import { BuildWorker } from '../queue/build-worker.js';
import type { ConnectionMode } from '../queue/redis-options.js';

/** A running kjl: the parts `kjl start` and `kjl dev` wire together. */
export interface Runtime {
  service: BuildService;
  intake: SqsIntake | undefined;
  http: FastifyInstance | undefined;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  /** start the HTTP server (health, readiness) on config.http.port */
  http?: boolean;
  /** address the HTTP server binds (default all interfaces, as a pod needs for its probes) */
  httpHost?: string;
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

/** The events adapter behind the notices: one CloudEvent per notice. */
export function createNotifier(config: Config, logger: Logger): { events: EventSink; notify: Notify } {
  const events = createEventSink(config.events.sink, {
    ...awsClientSettings({ region: config.sqs.region, endpoint: config.sqs.endpoint }),
    logger,
  });
  const source = defaultEventSource(config.k8s.namespace);
  return { events, notify: (notice) => events.send(buildEvent(notice, { source })) };
}

/** The cluster's clients from the config's sources (KJL_KUBECONFIG, in-cluster, KUBECONFIG, ~/.kube). */
export function kubeClientsFor(config: Config): KubeClients {
  return createKubeClients(
    loadKubeConfig({
      inClusterRoot: config.k8s.inClusterRoot,
      ...(config.k8s.kubeconfig ? { kubeconfig: config.k8s.kubeconfig } : {}),
      ...(config.k8s.serviceHost ? { serviceHost: config.k8s.serviceHost } : {}),
      ...(config.k8s.servicePort ? { servicePort: config.k8s.servicePort } : {}),
      ...(config.k8s.kubeconfigEnv ? { kubeconfigEnv: config.k8s.kubeconfigEnv } : {}),
    }),
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
}

async function startWorkers(
  config: Config,
  store: BuildQueue,
  notify: Notify,
  logger: Logger,
): Promise<Workers> {
  const log = logger.child({ module: 'k8s' });
  const clients = kubeClientsFor(config);
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
  const worker = new BuildWorker(lifecycle.handle, {
    redisUrl: config.redis.url,
    name: config.queue.name,
    prefix: config.queue.prefix,
    concurrency: config.queue.maxConcurrentJobs,
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
  return { clients, watcher, worker, lifecycle, sweeper, templates };
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
  const { events, notify } = createNotifier(config, logger);
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
  let workers: Workers | undefined;
  const http = options.http
    ? await startHttpServer({
        port: config.http.port,
        ...(options.httpHost ? { host: options.httpHost } : {}),
        logger,
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
  if (runsWorkers) workers = await startWorkers(config, workerStore!, notify, logger);
  const deadLetters = sqs ? deadLettersFor(config, sqs) : undefined;
  const service = buildServiceFor(
    config,
    {
      store: (intakeStore ?? workerStore)!,
      notify,
      ...(workers ? { cluster: clusterJobsFor(config, workers.clients) } : {}),
      ...(deadLetters ? { deadLetters } : {}),
    },
    logger,
  );
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
        limits: requestLimits(config),
      },
      submitter: service,
      logger: logger.child({ module: 'intake' }),
    });
    intake.start();
  }
  const graceMs = config.shutdownTimeoutSeconds * 1000;
  return {
    service,
    intake,
    http,
    async stop() {
      // Stop taking work; builds in hand go back to the queue (their Jobs run on and are adopted).
      await bounded(graceMs / 2, async () => intake?.stop());
      workers?.sweeper.stop();
      workers?.templates.stop();
      await workers?.worker.close(() => workers.lifecycle.stop(graceMs / 4));
      await bounded(2000, async () => workers?.watcher.stop());
      await bounded(2000, async () => http?.close());
      await Promise.all(stores.map((store) => store.close()));
      await bounded(2000, () => events.close());
      sqs?.destroy();
    },
  };
}
