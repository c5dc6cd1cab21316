import { Command } from 'commander';
import type { FleetStatus } from '../app/build-service.js';
import { parseSince, parseStates } from '../app/build-query.js';
import { BUILD_STATES, type BuildSummary } from '../app/build-views.js';
import { UsageError } from '../errors.js';
import { commandConfig, oneShot, withService } from './command-service.js';

/** `1500` → `1.5s`, `125000` → `2m 5s`, `7200000` → `2h 0m`. */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 100) / 10;
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${Math.round(seconds % 60)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

function positiveInt(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`${flag}: must be a whole number from 1 to ${max} (got "${value}")`);
  return n;
}

function fleetText(fleet: FleetStatus, now = Date.now()): string {
  const { entries } = fleet;
  const lines = [
    `builds: ${entries.waiting} queued, ${entries.delayed} waiting, ${entries.active} running, ` +
      `${entries.completed} succeeded or superseded, ${entries.failed} failed or cancelled (kept in the history)`,
    `jobs: ${fleet.activeJobs ?? '?'} unfinished, limit ${fleet.limit}`,
    fleet.oldestWaiting
      ? `oldest queued: ${fleet.oldestWaiting.requestId}, waiting ${duration(fleet.oldestWaiting.waitingMs)}`
      : 'oldest queued: none',
    fleet.backoff.length
      ? `failure backoff: ${fleet.backoff.map(({ target, until }) => `${target} (${duration(until - now)} left)`).join(', ')}`
      : 'failure backoff: none',
  ];
  return lines.join('\n');
}

function summaryLine(build: BuildSummary): string {
  const took = build.durationMs !== undefined ? duration(build.durationMs) : '';
  const why = build.reason ? `${build.reason}: ${build.message ?? ''}` : '';
  return [build.requestId, build.state.padEnd(10), build.target, `#${build.attempt ?? '-'}`, took, why]
    .filter(Boolean)
    .join('  ');
}

/** `kjl status [requestId]`: one request, or the fleet at a glance (`--watch` refreshes it). */
export function statusCommand(): Command {
  return oneShot(new Command('status').description('show where a build request stands, or the whole fleet'))
    .argument('[requestId]')
    .option('--json', 'print JSON')
    .option('--watch', 'refresh the fleet view every 2 seconds until interrupted')
    .action(async (requestId: string | undefined, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      if (requestId) {
        if (options.watch) throw new UsageError('--watch shows the fleet: give no request id');
        const status = await withService(config, (service) => service.status(requestId), {
          cluster: 'optional',
        });
        if (options.json) console.log(JSON.stringify(status, null, 2));
        else console.log(`${requestId} (${status.target} ${status.contentHash}): ${status.summary}`);
        return;
      }
      await withService(
        config,
        async (service) => {
          for (;;) {
            const fleet = await service.fleet();
            if (options.json) console.log(JSON.stringify(fleet, null, options.watch ? 0 : 2));
            else console.log(`${options.watch ? '\x1b[2J\x1b[H' : ''}${fleetText(fleet)}`);
            if (!options.watch) return;
            await new Promise((resolve) => setTimeout(resolve, 2000));
          }
        },
        { cluster: 'optional' },
      );
    });
}

/** `kjl list`: builds by state, target and time (the queue and the history), newest first. */
export function listCommand(): Command {
  return oneShot(
    new Command('list').description('list builds: queued, running and finished (the history), newest first'),
  )
    .option('--state <states>', `comma-separated: ${BUILD_STATES.join(', ')}`)
    .option('--target <thirdPartyId/parserId>', 'one target')
    .option('--since <when>', 'queued since: a time ago (30m, 2h, 7d) or an ISO date')
    .option('--limit <n>', 'at most this many', '50')
    .option('--cursor <cursor>', 'the next page, as a previous --json output gave it')
    .option('--json', 'print JSON')
    .action(async (options: Record<string, unknown>) => {
      const query = {
        limit: positiveInt(String(options.limit), '--limit', 1000),
        ...(options.state ? { states: parseStates(String(options.state), '--state') } : {}),
        ...(options.target ? { target: String(options.target) } : {}),
        ...(options.since ? { since: parseSince(String(options.since), '--since') } : {}),
        ...(options.cursor ? { cursor: String(options.cursor) } : {}),
      };
      const config = await commandConfig(options);
      const page = await withService(config, (service) => service.list(query));
      if (options.json) console.log(JSON.stringify(page, null, 2));
      else if (page.builds.length === 0) console.log('no builds');
      else for (const build of page.builds) console.log(summaryLine(build));
    });
}

/** `kjl logs <requestId> [-f]`: a build's log. */
export function logsCommand(): Command {
  return oneShot(
    new Command('logs').description(
      "print a build's log: its pod's while it runs, the kept tail after a failure",
    ),
  )
    .argument('<requestId>')
    .option('-f, --follow', 'follow the log of a running build until it ends')
    .action(async (requestId: string, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      const source = await withService(
        config,
        (service) =>
          service.logs(requestId, { follow: Boolean(options.follow) }, (chunk) =>
            process.stdout.write(chunk),
          ),
        { cluster: 'optional' },
      );
      if (source === 'none') console.error(`kjl: no log of ${requestId} is kept or readable`);
    });
}

/** `kjl cancel <requestId>`: stops a queued or running build; its Job and Pods are deleted. */
export function cancelCommand(): Command {
  return oneShot(
    new Command('cancel').description('cancel a queued or running build (deletes its Job and Pods)'),
  )
    .argument('<requestId>')
    .action(async (requestId: string, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      const result = await withService(config, (service) => service.cancel(requestId), {
        cluster: 'required',
      });
      if (result.outcome === 'finished')
        console.log(`${requestId} had already finished (${result.status.summary})`);
      else if (result.outcome === 'queued') console.log(`${requestId} cancelled (it was queued)`);
      else {
        const jobs = result.jobs.length ? `; deleted Job ${result.jobs.join(', ')}` : '';
        console.log(`${requestId} cancelled${jobs}`);
      }
    });
}

/** `kjl limit [N]`: reads or sets the fleet's concurrent-job limit. */
export function limitCommand(): Command {
  return oneShot(
    new Command('limit').description("show or set the fleet's concurrent-job limit (every replica)"),
  )
    .argument('[n]')
    .option('--json', 'print JSON')
    .action(async (value: string | undefined, options: Record<string, unknown>) => {
      const config = await commandConfig(options);
      const limit = value === undefined ? undefined : positiveInt(value, 'n', 10_000);
      const now = await withService(config, async (service) => {
        if (limit !== undefined) await service.setLimit(limit);
        return service.limit();
      });
      if (options.json) console.log(JSON.stringify({ limit: now }));
      else console.log(limit === undefined ? `limit ${now}` : `limit set to ${now}`);
    });
}

/** `kjl failed list|replay`: the builds that failed for good, and running them again. */
export function failedCommand(): Command {
  const failed = new Command('failed').description('builds that failed for good (and cancelled ones)');
  failed.addCommand(
    oneShot(new Command('list').description('list failed builds with their reason and log tail'))
      .option('--limit <n>', 'at most this many', '100')
      .option('--json', 'print JSON')
      .action(async (options: Record<string, unknown>) => {
        const config = await commandConfig(options);
        const limit = positiveInt(String(options.limit), '--limit', 10_000);
        const rows = await withService(config, async (service) => {
          const { builds } = await service.list({ states: ['failed', 'cancelled'], limit });
          return Promise.all(
            builds.map(async (build) => {
              const outcome = options.json ? (await service.status(build.requestId)).outcome : undefined;
              return {
                ...build,
                ...(build.finishedAt !== undefined
                  ? { failedAt: new Date(build.finishedAt).toISOString() }
                  : {}),
                ...(options.json ? { logTail: outcome?.status === 'failed' ? outcome.logTail : [] } : {}),
              };
            }),
          );
        });
        if (options.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('no failed builds');
        else {
          for (const row of rows)
            console.log(
              `${row.requestId}  ${row.failedAt ?? ''}  ${row.target}  ${row.reason}: ${row.message}`,
            );
        }
      }),
  );
  failed.addCommand(
    oneShot(new Command('replay').description('queue failed builds again, each with fresh attempts'))
      .argument('[requestIds...]')
      .option('--all', 'replay every failed build')
      .action(async (requestIds: string[], options: Record<string, unknown>) => {
        if (!options.all && requestIds.length === 0) throw new UsageError('give request ids, or --all');
        const config = await commandConfig(options);
        const replayed = await withService(config, (service) =>
          options.all ? service.replayFailed() : service.replay(requestIds),
        );
        const missed = options.all ? [] : requestIds.filter((id) => !replayed.includes(id));
        console.log(
          `replayed ${replayed.length} build(s)${replayed.length ? `: ${replayed.join(', ')}` : ''}`,
        );
        if (missed.length) throw new UsageError(`not finished, or unknown: ${missed.join(', ')}`);
      }),
  );
  return failed;
}
