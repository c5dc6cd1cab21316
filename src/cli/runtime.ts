import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { FastifyInstance } from 'fastify';
import { awsClientSettings } from '../aws.js';
import type { RequestLimits } from '../build-request.js';
import type { Config } from '../config/config.js';
import { UsageError } from '../errors.js';
import { buildEvent, defaultEventSource, type BuildEventInput } from '../events/build-events.js';
import { createEventSink, type EventSink } from '../events/event-sink.js';
import { startHttpServer } from '../http/server.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { SqsIntake } from '../intake/sqs-intake.js';
import { JobRunner } from '../k8s/job-runner.js';
import { JobWatcher } from '../k8s/job-watcher.js';
import { apiReachable, createKubeClients, loadKubeConfig, type KubeClients } from '../k8s/kube-client.js';
import { MANAGED_BY_SELECTOR } from '../k8s/labels.js';
import { OrphanSweeper } from '../k8s/orphan-sweeper.js';
import { loadTemplateCatalog } from '../k8s/template-catalog.js';
import type { Logger } from '../logger.js';
import { BuildProcessor } from '../queue/build-processor.js';
import { BuildQueue, type BuildQueueOptions } from '../queue/build-queue.js';
import { BuildWorker } from '../queue/build-worker.js';
import { noticeOf, type BuildNotifier } from '../queue/ports.js';

/** A running kjl: the parts `kjl start` and `kjl dev` wire together. */
export interface Runtime {
  queue: BuildQueue;
  intake: SqsIntake | undefined;
  workers: Workers | undefined;
  http: FastifyInstance | undefined;
  events: EventSink;
  notify: BuildNotifier;
  stop(): Promise<void>;
}

export interface Workers {
  clients: KubeClients;
  watcher: JobWatcher;
  runner: JobRunner;
  worker: BuildWorker;
  sweeper: OrphanSweeper;
}

export interface RuntimeOptions {
  /** start the HTTP server (health, readiness) on config.http.port */
  http?: boolean;
  /** address the HTTP server binds (default all interfaces, as a pod needs for its probes) */
  httpHost?: string;
}

/** The queue adapter's options from the config. */
export function queueOptions(config: Config, logger: Logger): BuildQueueOptions {
  return {
    redisUrl: config.redis.url,
    name: config.queue.name,
    prefix: config.queue.prefix,
    maxConcurrentJobs: config.queue.maxConcurrentJobs,
    successDedupSeconds: config.queue.successDedupSeconds,
    maxAttempts: config.queue.maxAttempts,
    failureBackoffSeconds: config.queue.failureBackoffSeconds,
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

/** The events adapter behind the queue's notifier: one CloudEvent per notice. */
export function createNotifier(config: Config, logger: Logger): { events: EventSink; notify: BuildNotifier } {
  const events = createEventSink(config.events.sink, {
    ...awsClientSettings({ region: config.sqs.region, endpoint: config.sqs.endpoint }),
    logger,
  });
  const source = defaultEventSource(config.k8s.namespace);
  return { events, notify: (notice) => events.send(buildEvent(notice as BuildEventInput, { source })) };
}

async function startWorkers(
  config: Config,
  queue: BuildQueue,
  notify: BuildNotifier,
  logger: Logger,
): Promise<Workers> {
  const log = logger.child({ module: 'k8s' });
  const clients = createKubeClients(loadKubeConfig(config.k8s.kubeconfig));
  const catalog = await loadTemplateCatalog(config.k8s.templatesDir, config.k8s.templates);
  const watcher = new JobWatcher({
    clients,
    namespace: config.k8s.namespace,
    labelSelector: MANAGED_BY_SELECTOR,
    logger: log,
  });
  await watcher.start();
  const runner = new JobRunner({
    clients,
    watcher,
    catalog,
    startTimeoutSeconds: config.k8s.startTimeoutSeconds,
    logger: log,
    spec: {
      namespace: config.k8s.namespace,
      labelPrefix: config.k8s.labelPrefix,
      serviceAccount: config.k8s.serviceAccount,
      activeDeadlineSeconds: config.k8s.activeDeadlineSeconds,
      ttlSecondsAfterFinished: config.k8s.ttlSecondsAfterFinished,
      bucket: config.build.contextBucket,
      registry: config.build.registry,
      repository: config.build.repository,
    },
  });
  const processor = new BuildProcessor({
    queue: queue.queue,
    registry: queue.registry,
    runner,
    notify,
    maxAttempts: config.queue.maxAttempts,
    failureBackoffMs: config.queue.failureBackoffSeconds * 1000,
    maxConcurrentJobs: config.queue.maxConcurrentJobs,
    pollMs: 1000,
    logger: logger.child({ module: 'worker' }),
  });
  const worker = new BuildWorker(processor, {
    redisUrl: config.redis.url,
    name: config.queue.name,
    prefix: config.queue.prefix,
    concurrency: config.queue.maxConcurrentJobs,
    lockSeconds: config.queue.lockSeconds,
    logger: logger.child({ module: 'worker' }),
  });
  await worker.waitUntilReady();
  worker.start();
  const sweeper = new OrphanSweeper({
    clients,
    watcher,
    namespace: config.k8s.namespace,
    labelPrefix: config.k8s.labelPrefix,
    isKnown: async (requestId) => (await queue.queue.getJob(requestId)) !== undefined,
    intervalSeconds: config.k8s.sweepIntervalSeconds,
    logger: log,
  });
  sweeper.start();
  return { clients, watcher, runner, worker, sweeper };
}

/** The composition root: builds every adapter from the config and connects them. */
export async function startRuntime(
  config: Config,
  logger: Logger,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const runsIntake = config.role === 'all' || config.role === 'intake';
  const runsWorkers = config.role === 'all' || config.role === 'worker';
  if (runsIntake && !config.sqs.queueUrl) {
    throw new UsageError('KJL_SQS_QUEUE_URL: required when the intake runs (role all or intake)');
  }
  const { events, notify } = createNotifier(config, logger);
  const queue = await BuildQueue.open(queueOptions(config, logger.child({ module: 'queue' })));
  const workers = runsWorkers ? await startWorkers(config, queue, notify, logger) : undefined;
  let intake: SqsIntake | undefined;
  const sqs = runsIntake
    ? createSqsClient({ region: config.sqs.region, endpoint: config.sqs.endpoint })
    : undefined;
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
      submitter: queue,
      logger: logger.child({ module: 'intake' }),
      onSubmitted: (build, result) => {
        if (result.status === 'duplicate') return;
        void notify(
          noticeOf(
            build,
            'queued',
            result.attempt ?? 1,
            result.position ? { queuePosition: result.position } : {},
          ),
        ).catch((error: unknown) =>
          logger.warn({ err: error, requestId: build.requestId }, 'could not send queued event'),
        );
      },
    });
    intake.start();
  }
  const http = options.http
    ? await startHttpServer({
        port: config.http.port,
        ...(options.httpHost ? { host: options.httpHost } : {}),
        logger,
        checks: {
          redis: () => queue.ready(),
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
          ...(workers
            ? { kubernetes: async () => workers.watcher.ready && (await apiReachable(workers.clients)) }
            : {}),
        },
      })
    : undefined;
  return {
    queue,
    intake,
    workers,
    http,
    events,
    notify,
    async stop() {
      await intake?.stop();
      workers?.sweeper.stop();
      // Running builds keep their Jobs; another replica (or this one, restarted) adopts them.
      await workers?.worker.close(true);
      await workers?.watcher.stop();
      await http?.close();
      await queue.close();
      await events.close();
      sqs?.destroy();
    },
  };
}
