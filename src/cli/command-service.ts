import type { Command } from 'commander';
import type { BuildService } from '../app/build-service.js';
import type { Config } from '../config/config.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { createLogger } from '../logger.js';
import { BuildQueue } from '../queue/build-queue.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { readDevState } from './dev-state.js';
import { buildServiceFor, ClusterLink, createNotifier, deadLettersFor, queueOptions } from './runtime.js';

/** The config of a one-shot command: flags, environment, else the `kjl dev` running in this folder. */
export async function commandConfig(options: Record<string, unknown>): Promise<Config> {
  const dev = await readDevState();
  return configFromFlags(
    options,
    {},
    dev
      ? {
          KJL_REDIS_URL: dev.redisUrl,
          KJL_SQS_ENDPOINT: dev.sqsEndpoint,
          KJL_SQS_QUEUE_URL: dev.queueUrl,
          KJL_SQS_DLQ_URL: dev.dlqUrl,
          KJL_EVENTS_SINK: dev.eventsQueueUrl,
          ...(dev.kubeconfig ? { KJL_KUBECONFIG: dev.kubeconfig } : {}),
        }
      : {},
  );
}

/**
 * Runs a one-shot command against the application layer. The queue is opened as a command does:
 * it never writes the fleet's limit, and an unreachable Redis is reported within seconds. With
 * `cluster: 'required'` a missing Kubernetes configuration is an error; with `'optional'` the
 * command goes on without the cluster's view.
 */
export async function withService<T>(
  config: Config,
  use: (service: BuildService) => Promise<T>,
  options: { cluster?: 'required' | 'optional' } = {},
): Promise<T> {
  const logger = createLogger({ level: 'silent' });
  const store = await BuildQueue.open(queueOptions(config, logger, 'command', false));
  const { events, notify } = createNotifier(config, logger);
  const sqs = config.sqs.dlqUrl
    ? createSqsClient({ region: config.sqs.region, endpoint: config.sqs.endpoint })
    : undefined;
  let cluster: ClusterLink | undefined;
  try {
    // after Redis: a command that cannot reach the queue says so first
    cluster =
      options.cluster === 'required'
        ? ClusterLink.required(config)
        : options.cluster === 'optional'
          ? ClusterLink.optional(config)
          : undefined;
    const deadLetters = sqs ? deadLettersFor(config, sqs) : undefined;
    const service = buildServiceFor(
      config,
      { store, notify, ...(cluster ? { cluster } : {}), ...(deadLetters ? { deadLetters } : {}) },
      logger,
    );
    return await use(service);
  } finally {
    await store.close();
    await cluster?.close();
    await events.close();
    sqs?.destroy();
  }
}

/** A one-shot command with the settings it needs as flags (`--redis-url`, `--queue-name`, …). */
export function oneShot(command: Command): Command {
  return addConfigFlags(command, ['KJL_REDIS_URL', 'KJL_QUEUE_NAME']);
}
