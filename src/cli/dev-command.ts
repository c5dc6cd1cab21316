import { Command } from 'commander';
import { DEV_REGION, startEmbeddedSqs } from '../dev/embedded-sqs.js';
import { RedisServer } from '../dev/redis-server.js';
import { settingGiven } from '../config/config.js';
import { createLogger } from '../logger.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { DEV_STATE_FILE, writeDevState } from './dev-state.js';
import { stopWithin, untilSignal } from './lifecycle.js';
import { startRuntime } from './runtime.js';

interface DevOptions extends Record<string, unknown> {
  sqsPort: string;
  redisUrl?: string;
}

/**
 * `kjl dev`: the whole flow on one machine. An embedded SQS-compatible server with the queues
 * `builds`, `builds-dlq` and `build-events`, a `redis-server` child (unless --redis-url /
 * KJL_REDIS_URL is given), and the launcher itself.
 */
export function devCommand(): Command {
  const command = new Command('dev')
    .description('run everything on this machine: embedded SQS, Redis, the launcher')
    .option('--sqs-port <port>', 'port of the embedded SQS-compatible endpoint', '4566');
  addConfigFlags(command, ['KJL_HTTP_PORT', 'KJL_REDIS_URL', 'KJL_MAX_CONCURRENT_JOBS', 'KJL_LOG_LEVEL']);
  return command.action(async (options: DevOptions) => {
    const sqs = await startEmbeddedSqs({ port: Number(options.sqsPort) });
    const redis = settingGiven('KJL_REDIS_URL', { KJL_REDIS_URL: options.redisUrl })
      ? undefined
      : await RedisServer.start();
    const config = configFromFlags(options, {
      KJL_ROLE: 'all',
      KJL_SQS_ENDPOINT: sqs.endpoint,
      AWS_REGION: DEV_REGION,
      KJL_SQS_QUEUE_URL: sqs.queues.builds,
      KJL_SQS_DLQ_URL: sqs.queues.buildsDlq,
      KJL_EVENTS_SINK: sqs.queues.buildEvents,
      ...(redis ? { KJL_REDIS_URL: redis.url } : {}),
      KJL_SQS_WAIT_SECONDS: '2',
    });
    const redisUrl = config.redis.url;
    const logger = createLogger({ level: config.log.level });
    const runtime = await startRuntime(config, logger);
    await writeDevState({
      sqsEndpoint: sqs.endpoint,
      region: DEV_REGION,
      queueUrl: sqs.queues.builds,
      dlqUrl: sqs.queues.buildsDlq,
      eventsQueueUrl: sqs.queues.buildEvents,
      redisUrl,
    });
    console.log(
      [
        'kjl dev is running',
        `  SQS endpoint   ${sqs.endpoint}`,
        `  builds         ${sqs.queues.builds}`,
        `  builds-dlq     ${sqs.queues.buildsDlq}`,
        `  build-events   ${sqs.queues.buildEvents}`,
        `  Redis          ${redisUrl}${redis ? ` (data in ${redis.dir})` : ''}`,
        `  state          ${DEV_STATE_FILE}`,
        '',
        'Next, in another terminal:',
        '  ./scripts/kjl.sh publish --third-party-id acme --parser-id invoice --content-hash 0123abcd',
        '  ./scripts/kjl.sh publish --count 20 --parser-id load',
        '',
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
    const signal = await untilSignal();
    logger.info({ signal }, 'stopping');
    await stopWithin(
      config.shutdownTimeoutSeconds,
      async () => {
        await runtime.stop();
        await sqs.stop();
        await redis?.stop();
      },
      logger,
    );
  });
}
