import { Command } from 'commander';
import { BuildService } from '../app/build-service.js';
import type { Config } from '../config/config.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { BuildQueue } from '../queue/build-queue.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { readDevState } from './dev-state.js';
import { createNotifier, kubeClientsFor, queueOptions, requestJobsDeleter } from './runtime.js';

/** The config of a one-shot command: flags, environment, else the `kjl dev` running in this folder. */
async function commandConfig(options: Record<string, unknown>): Promise<Config> {
  const dev = await readDevState();
  return configFromFlags(
    options,
    {},
    dev
      ? {
          KJL_REDIS_URL: dev.redisUrl,
          KJL_SQS_ENDPOINT: dev.sqsEndpoint,
          KJL_EVENTS_SINK: dev.eventsQueueUrl,
          ...(dev.kubeconfig ? { KJL_KUBECONFIG: dev.kubeconfig } : {}),
        }
      : {},
  );
}

/**
 * Runs a one-shot command against the application layer. The queue is opened as a command does: it
 * never writes the fleet's limit, and an unreachable Redis is reported within seconds.
 */
async function withService<T>(
  config: Config,
  use: (service: BuildService) => Promise<T>,
  options: { cluster?: boolean } = {},
): Promise<T> {
  const logger = createLogger({ level: 'silent' });
  const store = await BuildQueue.open(queueOptions(config, logger, 'command', false));
  const { events, notify } = createNotifier(config, logger);
  try {
    const deleteJobs = options.cluster ? requestJobsDeleter(config, kubeClientsFor(config)) : undefined;
    return await use(new BuildService({ store, notify, ...(deleteJobs ? { deleteJobs } : {}), logger }));
  } finally {
    await store.close();
    await events.close();
  }
}

function queueCommand(name: string, description: string): Command {
  return addConfigFlags(new Command(name).description(description), ['KJL_REDIS_URL', 'KJL_QUEUE_NAME']);
}

/** `kjl status <requestId>`: where a request stands. */
export function statusCommand(): Command {
  return queueCommand('status', 'show where a build request stands')
    .option('--json', 'print JSON')
    .argument('<requestId>')
    .action(async (requestId: string, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      const status = await withService(config, (service) => service.status(requestId));
      if (options.json) console.log(JSON.stringify(status, null, 2));
      else console.log(`${requestId} (${status.target} ${status.contentHash}): ${status.message}`);
    });
}

/** `kjl cancel <requestId>`: stops a queued or running build; its Job and Pods are deleted. */
export function cancelCommand(): Command {
  return queueCommand('cancel', 'cancel a queued or running build (deletes its Job and Pods)')
    .argument('<requestId>')
    .action(async (requestId: string, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      const result = await withService(config, (service) => service.cancel(requestId), { cluster: true });
      if (result.outcome === 'finished')
        console.log(`${requestId} had already finished (${result.status.message})`);
      else if (result.outcome === 'queued') console.log(`${requestId} cancelled (it was queued)`);
      else {
        const jobs = result.jobs.length ? `; deleted Job ${result.jobs.join(', ')}` : '';
        console.log(`${requestId} cancelled${jobs}`);
      }
    });
}

/** `kjl failed list|replay`: the builds that failed for good, and running them again. */
export function failedCommand(): Command {
  const failed = new Command('failed').description('builds that failed for good (and cancelled ones)');
  failed.addCommand(
    queueCommand('list', 'list failed builds with their reason and log tail')
      .option('--json', 'print JSON')
      .action(async (options: Record<string, unknown>) => {
        const config = await commandConfig(options);
        const rows = (await withService(config, (service) => service.failed())).map((build) => {
          const outcome = build.outcome;
          return {
            requestId: build.requestId,
            target: build.target,
            contentHash: build.contentHash,
            reason: outcome && outcome.status !== 'succeeded' ? outcome.reason : build.failedReason,
            message: outcome && outcome.status !== 'succeeded' ? outcome.message : build.failedReason,
            attempt: outcome?.run,
            failedAt: new Date(build.failedAt).toISOString(),
            logTail: outcome?.status === 'failed' ? outcome.logTail : [],
          };
        });
        if (options.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('no failed builds');
        else
          for (const row of rows)
            console.log(`${row.requestId}  ${row.failedAt}  ${row.target}  ${row.reason}: ${row.message}`);
      }),
  );
  failed.addCommand(
    queueCommand('replay', 'queue failed builds again, each with fresh attempts')
      .argument('[requestIds...]')
      .option('--all', 'replay every failed build')
      .action(async (requestIds: string[], options: Record<string, unknown>) => {
        if (!options.all && requestIds.length === 0) throw new UsageError('give request ids, or --all');
        const config = await commandConfig(options);
        const replayed = await withService(config, async (service) =>
          service.replay(
            options.all ? (await service.failed(10_000)).map((build) => build.requestId) : requestIds,
          ),
        );
        const missed = options.all ? [] : requestIds.filter((id) => !replayed.includes(id));
        console.log(
          `replayed ${replayed.length} build(s)${replayed.length ? `: ${replayed.join(', ')}` : ''}`,
        );
        if (missed.length) throw new UsageError(`not in the failed set: ${missed.join(', ')}`);
      }),
  );
  return failed;
}
