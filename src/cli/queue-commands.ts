import { Command } from 'commander';
import type { Config } from '../config/config.js';
import { UsageError } from '../errors.js';
import { createKubeClients, loadKubeConfig } from '../k8s/kube-client.js';
import { deleteRequestJobs } from '../k8s/request-jobs.js';
import { createLogger } from '../logger.js';
import { BuildQueue } from '../queue/build-queue.js';
import { noticeOf, type BuildNotice } from '../queue/ports.js';
import { addConfigFlags, configFromFlags } from './config-flags.js';
import { readDevState } from './dev-state.js';
import { createNotifier, queueOptions } from './runtime.js';

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

async function withQueue<T>(config: Config, use: (queue: BuildQueue) => Promise<T>): Promise<T> {
  const queue = await BuildQueue.open(queueOptions(config, createLogger({ level: 'silent' })));
  try {
    return await use(queue);
  } finally {
    await queue.close();
  }
}

function queueCommand(name: string, description: string): Command {
  return addConfigFlags(new Command(name).description(description), ['KJL_REDIS_URL', 'KJL_QUEUE_NAME']);
}

/** Sends lifecycle events from a one-shot command, to the configured sink. */
async function announce(config: Config, notices: BuildNotice[]): Promise<void> {
  const { events, notify } = createNotifier(config, createLogger({ level: 'silent' }));
  try {
    for (const notice of notices) await notify(notice);
  } finally {
    await events.close();
  }
}

/** `kjl status <requestId>`: where a request stands. */
export function statusCommand(): Command {
  return queueCommand('status', 'show where a build request stands')
    .option('--json', 'print JSON')
    .argument('<requestId>')
    .action(async (requestId: string, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      const status = await withQueue(config, (queue) => queue.status(requestId));
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
      const outcome = await withQueue(config, (queue) => queue.cancel(requestId));
      if (outcome.outcome === 'finished') {
        console.log(`${requestId} had already finished; nothing to cancel`);
        return;
      }
      if (outcome.outcome === 'queued') {
        await announce(config, [
          noticeOf(outcome.build, 'cancelled', outcome.attempt, {
            reason: 'Cancelled',
            message: 'cancelled while queued',
          }),
        ]);
        console.log(`${requestId} cancelled (it was queued)`);
        return;
      }
      const clients = createKubeClients(loadKubeConfig(config.k8s.kubeconfig));
      const jobs = await deleteRequestJobs(clients, config.k8s.namespace, config.k8s.labelPrefix, requestId);
      console.log(`${requestId} cancelled${jobs.length ? `; deleted Job ${jobs.join(', ')}` : ''}`);
    });
}

/** `kjl dlq list|replay`: the builds that failed for good, and running them again. */
export function dlqCommand(): Command {
  const dlq = new Command('dlq').description('builds that failed for good (the dead-letter set)');
  dlq.addCommand(
    queueCommand('list', 'list failed builds with their reason')
      .option('--json', 'print JSON')
      .action(async (options: Record<string, unknown>) => {
        const config = await commandConfig(options);
        const failed = await withQueue(config, (queue) => queue.failed());
        const rows = failed.map((job) => ({
          requestId: job.id,
          target: `${job.data.request.thirdPartyId}/${job.data.request.parserId}`,
          contentHash: job.data.request.contentHash,
          reason: job.data.failure?.reason ?? job.failedReason,
          message: job.data.failure?.message ?? job.failedReason,
          attempt: job.data.failure?.attempt,
          failedAt: new Date(job.finishedOn ?? job.timestamp).toISOString(),
          logTail: job.data.failure?.logTail ?? [],
        }));
        if (options.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('no failed builds');
        else
          for (const row of rows)
            console.log(`${row.requestId}  ${row.failedAt}  ${row.target}  ${row.reason}: ${row.message}`);
      }),
  );
  dlq.addCommand(
    queueCommand('replay', 'queue failed builds again')
      .argument('[requestIds...]')
      .option('--all', 'replay every failed build')
      .action(async (requestIds: string[], options: Record<string, unknown>) => {
        if (!options.all && requestIds.length === 0) throw new UsageError('give request ids, or --all');
        const config = await commandConfig(options);
        const requeued = await withQueue(config, async (queue) =>
          queue.replay(options.all ? (await queue.failed(10_000)).map((job) => job.id!) : requestIds),
        );
        await announce(
          config,
          requeued.map(({ build, attempt }) => noticeOf(build, 'queued', attempt)),
        );
        const replayed = requeued.map(({ build }) => build.requestId);
        const missed = options.all ? [] : requestIds.filter((id) => !replayed.includes(id));
        console.log(
          `replayed ${replayed.length} build(s)${replayed.length ? `: ${replayed.join(', ')}` : ''}`,
        );
        if (missed.length) throw new UsageError(`not in the failed set: ${missed.join(', ')}`);
      }),
  );
  return dlq;
}
