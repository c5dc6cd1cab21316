import { createBullBoard } from '@bull-board/api';
import type { BaseAdapter } from '@bull-board/api/dist/queueAdapters/base.js';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BuildService } from '../app/build-service.js';
import { targetKey, type QueuedBuild } from '../build-request.js';
import { KjlError } from '../errors.js';
import { authorized, type Credentials } from './credentials.js';
import { errorReply } from './error-replies.js';

export const DASHBOARD_PATH = '/admin/queues';

export interface DashboardOptions {
  /** the builds queue as Bull Board reads it (the queue adapter's `dashboardAdapter`) */
  queue: BaseAdapter;
  /** who may see it; undefined: anyone (`kjl dev` on loopback) */
  credentials: Credentials | undefined;
  /** the board only shows; else its actions act, a retry being kjl's replay */
  readOnly: boolean;
  service: BuildService;
}

/**
 * What an operator looks for in a queue entry, at the top: the build, its run and Job, and how it
 * ended (a failure's reason, exit code and log tail, which the Logs tab shows line by line).
 */
function entryView(data: QueuedBuild) {
  const { requestId, request, run, outcome } = data;
  const jobName = run?.jobName ?? outcome?.jobName;
  return {
    requestId,
    target: targetKey(request),
    contentHash: request.contentHash,
    template: request.template,
    ...(run ? { attempt: run.number } : {}),
    ...(jobName ? { jobName } : {}),
    ...(outcome ? { outcome: outcome.status } : {}),
    ...(outcome && outcome.status !== 'succeeded'
      ? { reason: outcome.reason, message: outcome.message }
      : {}),
    ...(outcome?.status === 'failed' && outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
    ...(outcome?.status === 'failed' ? { logTail: outcome.logTail } : {}),
    request,
  };
}

/** An entry's title: its target (the BullMQ name), its Job and run when it has one. */
function entryTitle(job: { name: string; data?: QueuedBuild }): string {
  const run = job.data?.run;
  return run?.jobName ? `${job.name} · ${run.jobName} · run ${run.number}` : job.name;
}

/** Answers a dashboard request with kjl's error body (Bull Board's own error handler would make it a 500). */
function refuse(reply: FastifyReply, error: KjlError): FastifyReply {
  const { status, body } = errorReply(error);
  return reply.code(status).send(body);
}

/**
 * The dashboard's actions when it may act: a retry is kjl's replay (fresh attempts, a new run, a
 * `queued` event); what would write past kjl's records — the limit, new or edited entries, rate
 * limits, schedulers — is refused.
 */
function kjlActions(service: BuildService) {
  const api = `${DASHBOARD_PATH}/api/queues/:queueName`;
  const refused: Record<string, string> = {
    [`${api}/concurrency`]: 'the limit is set with PUT /api/v1/limit or kjl limit',
    [`${api}/add`]: 'builds are submitted through SQS or POST /api/v1/builds',
    [`${api}/:jobId/update-data`]: "an entry's data is kjl's record of the build",
    [`${api}/rate-limit`]: 'kjl limits running Jobs, not a rate',
    [`${api}/rate-limit/release`]: 'kjl limits running Jobs, not a rate',
  };
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? '';
    const params = request.params as { jobId?: string; queueStatus?: string };
    if (route === `${api}/:jobId/retry`) {
      const replayed = await service.replay([params.jobId!]);
      if (replayed.length === 0) {
        return refuse(
          reply,
          new KjlError('KJL_NOT_FINISHED', `${params.jobId} has not finished: nothing to replay`),
        );
      }
      request.log.info({ requestId: params.jobId }, 'replayed from the dashboard');
      return reply.code(204).send();
    }
    if (route === `${api}/retry/:queueStatus`) {
      if (params.queueStatus !== 'failed') {
        return refuse(reply, new KjlError('KJL_USAGE', 'only failed builds are replayed all at once'));
      }
      const replayed = await service.replayFailed();
      request.log.info({ replayed: replayed.length }, 'failed builds replayed from the dashboard');
      return reply.code(200).send({});
    }
    const reason = request.method === 'GET' ? undefined : refused[route];
    if (reason) return refuse(reply, new KjlError('KJL_USAGE', `not from the dashboard: ${reason}`));
    return undefined;
  };
}

/**
 * Bull Board over the builds queue, at `/admin/queues`: every entry with its target, request id,
 * Job, run and, for a failure, its reason and log tail. Only with credentials (the dashboard user
 * and password, or the API token as a bearer), unless it is served open (`kjl dev` on loopback).
 */
export function dashboardRoutes(options: DashboardOptions) {
  return async (board: FastifyInstance): Promise<void> => {
    const { credentials } = options;
    board.addHook('onRequest', async (request, reply) => {
      if (!credentials || authorized(request.headers, credentials)) return;
      reply.header('www-authenticate', 'Basic realm="kjl dashboard", charset="UTF-8"');
      return refuse(
        reply,
        new KjlError(
          'KJL_UNAUTHORIZED',
          'the dashboard needs the dashboard user and password, or the API token as a bearer',
        ),
      );
    });
    if (!options.readOnly) board.addHook('preHandler', kjlActions(options.service));
    options.queue.setFormatter('data', entryView);
    options.queue.setFormatter('name', entryTitle);
    const server = new FastifyAdapter();
    server.setBasePath(DASHBOARD_PATH);
    createBullBoard({
      queues: [options.queue],
      // @bull-board/fastify pins its own copy of @bull-board/api: the same interface, another declaration
      serverAdapter: server as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
      options: { uiConfig: { boardTitle: 'kjl builds' } },
    });
    await board.register(server.registerPlugin());
  };
}
