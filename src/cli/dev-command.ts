import { resolve } from 'node:path';
import { Command } from 'commander';
import { settingGiven } from '../config/config.js';
import { createLogger } from '../logger.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { DEV_STATE_FILE, writeDevState } from './dev-state.js';
import { serveUntilSignal } from './lifecycle.js';
import { startRuntime } from './runtime.js';

interface DevOptions extends Record<string, unknown> {
  sqsPort: string;
  k8sPort: string;
  kubeconfig?: string;
  redisUrl?: string;
}

/** Dev defaults that make the scenarios visible within a minute; the environment may override them. */
const DEV_FALLBACKS = {
  KJL_FAILURE_BACKOFF_SECONDS: '30',
  KJL_START_TIMEOUT_SECONDS: '30',
  KJL_SWEEP_INTERVAL_SECONDS: '60',
  KJL_SQS_WAIT_SECONDS: '2',
  KJL_WORKER_LOCK_SECONDS: '10',
  // the Redis kjl dev starts persists every write; one given with --redis-url may not
  KJL_REDIS_DURABILITY: 'warn',
};

/**
 * `kjl dev`: the whole flow on one machine. An embedded SQS-compatible server with the queues
 * `builds`, `builds-dlq` and `build-events`, a `redis-server` child (unless --redis-url /
 * KJL_REDIS_URL is given), the simulated Kubernetes cluster with the dev rules, and the launcher.
 */
export function devCommand(): Command {
  const command = new Command('dev')
    .description('run everything on this machine: embedded SQS, Redis, a simulated cluster, the launcher')
    .option('--sqs-port <port>', 'port of the embedded SQS-compatible endpoint', '4566')
    .option('--k8s-port <port>', 'port of the simulated Kubernetes API (0: any free port)', '0');
  // --kubeconfig (KJL_KUBECONFIG): where the simulated cluster's kubeconfig is written
  addConfigFlags(command, [
    'KJL_HTTP_PORT',
    'KJL_REDIS_URL',
    'KJL_KUBECONFIG',
    'KJL_MAX_CONCURRENT_JOBS',
    'KJL_LOG_LEVEL',
  ]);
  return command.action(async (options: DevOptions) => {
    // the stand-ins (and the Kubernetes client the simulated cluster uses) load only for kjl dev
    const [{ DEV_REGION, startEmbeddedSqs }, { RedisServer }, { DEV_RULES }, { startSimCluster }] =
      await Promise.all([
        import('../dev/embedded-sqs.js'),
        import('../dev/redis-server.js'),
        import('../dev/sim-cluster/controllers/index.js'),
        import('../dev/sim-cluster/index.js'),
      ]);
    const sqs = await startEmbeddedSqs({ port: Number(options.sqsPort) });
    const redis = settingGiven('KJL_REDIS_URL', { KJL_REDIS_URL: options.redisUrl })
      ? undefined
      : await RedisServer.start();
    const kubeconfigPath = resolve(options.kubeconfig ?? '.kjl/dev-kubeconfig');
    const cluster = await startSimCluster({
      port: Number(options.k8sPort),
      rules: DEV_RULES,
      kubeconfigPath,
    });
    const config = configFromFlags(
      options,
      {
        KJL_ROLE: 'all',
        KJL_SQS_ENDPOINT: sqs.endpoint,
        AWS_REGION: DEV_REGION,
        KJL_SQS_QUEUE_URL: sqs.queues.builds,
        KJL_SQS_DLQ_URL: sqs.queues.buildsDlq,
        KJL_EVENTS_SINK: sqs.queues.buildEvents,
        KJL_KUBECONFIG: kubeconfigPath,
        ...(redis ? { KJL_REDIS_URL: redis.url } : {}),
      },
      DEV_FALLBACKS,
      'service',
    );
    const logger = createLogger({ level: config.log.level });
    const runtime = await startRuntime(config, logger, {
      http: true,
      httpHost: '127.0.0.1',
      openOnLoopback: true,
    });
    const httpPort = (runtime.http!.server.address() as { port: number }).port;
    const http = `http://127.0.0.1:${httpPort}`;
    const guarded = (credentials: boolean) => (credentials ? '' : ' (no credentials: loopback only)');
    await writeDevState({
      sqsEndpoint: sqs.endpoint,
      region: DEV_REGION,
      queueUrl: sqs.queues.builds,
      dlqUrl: sqs.queues.buildsDlq,
      eventsQueueUrl: sqs.queues.buildEvents,
      redisUrl: config.redis.url,
      httpPort,
      kubeconfig: kubeconfigPath,
    });
    console.log(
      [
        'kjl dev is running',
        `  SQS endpoint   ${sqs.endpoint}`,
        `  builds         ${sqs.queues.builds}`,
        `  builds-dlq     ${sqs.queues.buildsDlq}`,
        `  build-events   ${sqs.queues.buildEvents}`,
        `  Redis          ${config.redis.url}${redis ? ` (data in ${redis.dir})` : ''}`,
        `  Kubernetes     ${cluster.url} (simulated)`,
        `  HTTP           ${http}/readyz`,
        `  metrics        ${http}/metrics`,
        ...(runtime.served.api ? [`  API            ${http}/api/v1${guarded(!!config.api.token)}`] : []),
        ...(runtime.served.dashboard
          ? [`  Dashboard      ${http}/admin/queues${guarded(!!(config.api.token || config.dashboard.user))}`]
          : []),
        `  state          ${DEV_STATE_FILE}`,
        '',
        'Watch the Jobs come and go:',
        `  export KUBECONFIG=${kubeconfigPath}`,
        '  kubectl get jobs -w',
        '',
        'Then, in another terminal:',
        '  ./scripts/kjl.sh publish --third-party-id acme --parser-id invoice --content-hash 0123abcd',
        '  ./scripts/kjl.sh publish --third-party-id acme --parser-id invalid-parser --content-hash 0123abcd',
        '  ./scripts/kjl.sh publish --count 20 --parser-id load',
        '  ./scripts/kjl.sh status <requestId>     ./scripts/kjl.sh failed list',
        ...(runtime.served.api
          ? [
              `  curl -X POST ${http}/api/v1/builds -d '{"thirdPartyId":"acme","parserId":"invoice","contentHash":"0123abcd"}'`,
            ]
          : []),
        '',
        'Parser ids choose what the simulated build does: invalid-* fails, oom-* runs out of memory,',
        'evict-* is evicted (and retried), pull-* never pulls its image, slow-* runs 60 s, others succeed.',
        '',
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
    await serveUntilSignal(
      config.shutdownTimeoutSeconds,
      async () => {
        await runtime.stop();
        await cluster.stop();
        await sqs.stop();
        await redis?.stop();
      },
      logger,
    );
  });
}
