import { PassThrough } from 'node:stream';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BuildService } from '../app/build-service.js';
import { parseSince, parseStates } from '../app/build-query.js';
import type { SubmitResult } from '../app/ports.js';
import { targetKey, type QueuedBuild } from '../build-request.js';
import { InvalidMessageCode, KjlError } from '../errors.js';
import * as schemas from './api-schemas.js';
import { authorized } from './credentials.js';

export const API_PREFIX = '/api/v1';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** served without credentials (the API's document) */
    public?: boolean;
  }
}

/** An HTTP request as the intake's parser reads it. */
export interface HttpSubmission {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ApiOptions {
  service: BuildService;
  /** the intake's parser: a build request, a structured or a binary CloudEvent, with the dead-letter codes */
  parseSubmission: (submission: HttpSubmission) => QueuedBuild;
  /** the build request as a schema object, for the OpenAPI document */
  requestSchema: Record<string, unknown>;
  /** the bearer token every route but the document needs; undefined: none (`kjl dev` on loopback) */
  token: string | undefined;
  rateLimit: { max: number; windowSeconds: number };
  bodyLimitBytes: number;
}

interface ById {
  Params: { id: string };
}

function submitted(result: SubmitResult) {
  return {
    requestId: result.requestId,
    state: result.status,
    ...(result.position ? { position: result.position } : {}),
    ...(result.attempt ? { attempt: result.attempt } : {}),
    ...(result.by ? { by: result.by } : {}),
  };
}

const location = (requestId: string) => `${API_PREFIX}/builds/${requestId}`;

/**
 * Streams a build's log as text/plain: the answer starts with the first chunk, so a build with no
 * log is a 404 rather than an empty 200. The cluster's stream is aborted when the client goes.
 */
async function sendLog(
  service: BuildService,
  request: FastifyRequest<ById & { Querystring: { follow: boolean } }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const { id } = request.params;
  const gone = new AbortController();
  reply.raw.once('close', () => gone.abort());
  let stream: PassThrough | undefined;
  const write = (chunk: string) => {
    if (!stream) {
      stream = new PassThrough();
      void reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(stream);
    }
    stream.write(chunk);
  };
  try {
    await service.logs(id, { follow: request.query.follow, signal: gone.signal }, write);
  } catch (error) {
    if (!stream) throw error;
    request.log.warn({ err: error, requestId: id }, 'log stream broke off');
    stream.destroy();
    return reply;
  }
  if (!stream) {
    throw new KjlError('KJL_NO_LOG', `no log of ${id} is kept or readable`, { context: { requestId: id } });
  }
  stream.end();
  return reply;
}

/**
 * The HTTP API under `/api/v1`: submit, list, status, cancel, replay and logs of builds, the SQS
 * dead-letter queue, the fleet and its limit — each route one call of the application layer. A
 * client is rate-limited first, then authenticated (bearer token), then its body is read (at most
 * `bodyLimitBytes`). The OpenAPI document of the routes is `/api/v1/openapi.json`.
 */
export function apiRoutes(options: ApiOptions) {
  const { service } = options;
  return async (api: FastifyInstance): Promise<void> => {
    await api.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'kube-job-launcher (kjl)',
          version: 'v1',
          description:
            'Submit builds, follow them, cancel and replay them, and look after the dead-letter queue and the concurrent-job limit.',
        },
        servers: [{ url: API_PREFIX }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      // the shared schemas keep their ids as names in the document
      refResolver: {
        buildLocalReference: (json, _base, _fragment, index) => String(json.$id ?? `def-${index}`),
      },
      // paths relative to the server's URL
      transform: ({ schema, url }) => ({ schema, url: url.slice(API_PREFIX.length) || '/' }),
    });
    for (const schema of schemas.SHARED_SCHEMAS) api.addSchema(schema);
    await api.register(rateLimit, {
      max: options.rateLimit.max,
      timeWindow: options.rateLimit.windowSeconds * 1000,
      errorResponseBuilder: (_request, context) =>
        new KjlError(
          'KJL_RATE_LIMITED',
          `too many requests: at most ${context.max} in ${options.rateLimit.windowSeconds} s; retry in ${context.after}`,
        ),
    });
    api.addHook('onRoute', (route) => {
      route.bodyLimit ??= options.bodyLimitBytes;
    });
    // after the rate limit (a route hook on onRequest), before the body is read
    api.addHook('preParsing', async (request, reply) => {
      if (options.token === undefined || request.routeOptions.config.public) return;
      if (!authorized(request.headers, { token: options.token })) {
        reply.header('www-authenticate', 'Bearer realm="kjl"');
        throw new KjlError(
          'KJL_UNAUTHORIZED',
          'the API needs the API token as a bearer (Authorization: Bearer …)',
        );
      }
    });
    api.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
    api.addHook('onResponse', async (request, reply) => {
      const { id } = (request.params ?? {}) as { id?: string };
      request.log.info(
        {
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
          ...(id ? { requestId: id } : {}),
        },
        'api request',
      );
    });

    api.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => api.swagger());

    // The body is the intake's to read: as text, checked with the dead-letter codes.
    await api.register(async (raw) => {
      raw.removeAllContentTypeParsers();
      raw.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
      raw.post(
        '/builds',
        {
          schema: {
            summary: 'Submit a build',
            description:
              'A build request (JSON), a structured-mode CloudEvent (`application/cloudevents+json`, or JSON with `specversion`) or a binary-mode CloudEvent (`ce-specversion`, `ce-id`, `ce-source`, `ce-type` headers, the build request as the body). It is checked as the SQS intake checks a message, and refused with the same codes.',
            body: { oneOf: [options.requestSchema, schemas.structuredEvent(options.requestSchema)] },
            headers: {
              type: 'object',
              properties: Object.fromEntries(
                ['ce-specversion', 'ce-id', 'ce-source', 'ce-type'].map((name) => [name, { type: 'string' }]),
              ),
            },
            response: {
              202: { description: 'queued, or queued again (`requeued`)', $ref: 'Submitted#' },
              200: { description: '`duplicate` or `superseded`: nothing new to build', $ref: 'Submitted#' },
              ...schemas.errors(...Object.values(InvalidMessageCode), 'KJL_QUEUE_UNAVAILABLE'),
              ...schemas.bodyTooLarge,
            },
            consumes: ['application/json', 'application/cloudevents+json'],
          },
          validatorCompiler: () => () => true,
        },
        async (request, reply) => {
          const build = options.parseSubmission({
            headers: request.headers,
            body: typeof request.body === 'string' ? request.body : '',
          });
          const result = await service.submit(build);
          request.log.info(
            { requestId: build.requestId, status: result.status, target: targetKey(build.request) },
            'request accepted',
          );
          const fresh = result.status === 'queued' || result.status === 'requeued';
          return reply
            .code(fresh ? 202 : 200)
            .header('location', location(result.requestId))
            .send(submitted(result));
        },
      );
    });

    api.get<{
      Querystring: { state?: string; target?: string; since?: string; limit: number; cursor?: string };
    }>(
      '/builds',
      {
        schema: {
          summary: 'List builds, newest first: the queue and the history',
          querystring: schemas.listQuery,
          response: { 200: schemas.buildPage, ...schemas.errors('KJL_USAGE', 'KJL_QUEUE_UNAVAILABLE') },
        },
      },
      async (request) => {
        const { state, target, since, limit, cursor } = request.query;
        return service.list({
          limit,
          ...(state ? { states: parseStates(state, 'state') } : {}),
          ...(target ? { target } : {}),
          ...(since ? { since: parseSince(since, 'since') } : {}),
          ...(cursor ? { cursor } : {}),
        });
      },
    );

    api.get<ById>(
      '/builds/:id',
      {
        schema: {
          summary: 'Where a build stands',
          params: schemas.buildParams,
          response: {
            200: { $ref: 'BuildStatus#' },
            ...schemas.errors('KJL_UNKNOWN_REQUEST', 'KJL_QUEUE_UNAVAILABLE', 'KJL_K8S_API'),
          },
        },
      },
      async (request) => service.status(request.params.id),
    );

    api.delete<ById>(
      '/builds/:id',
      {
        schema: {
          summary: 'Cancel a build',
          description:
            'A queued build never starts a Job; a running one has its Job and pods deleted; a finished one is left as it is (200).',
          params: schemas.buildParams,
          response: {
            202: { description: 'cancelled', ...schemas.cancelled },
            200: { description: 'it had finished: nothing done', ...schemas.cancelled },
            ...schemas.errors(
              'KJL_UNKNOWN_REQUEST',
              'KJL_QUEUE_UNAVAILABLE',
              'KJL_K8S_API',
              'KJL_K8S_CONFIG',
            ),
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const result = await service.cancel(id);
        request.log.info({ requestId: id, outcome: result.outcome }, 'cancel');
        return reply.code(result.outcome === 'finished' ? 200 : 202).send({ requestId: id, ...result });
      },
    );

    api.post<ById>(
      '/builds/:id/replay',
      {
        schema: {
          summary: 'Run a finished build again, with fresh attempts',
          params: schemas.buildParams,
          response: {
            202: { description: 'queued again', $ref: 'Submitted#' },
            ...schemas.errors('KJL_UNKNOWN_REQUEST', 'KJL_NOT_FINISHED', 'KJL_QUEUE_UNAVAILABLE'),
          },
        },
      },
      async (request, reply) => {
        const result = await service.replayBuild(request.params.id);
        request.log.info({ requestId: result.requestId, attempt: result.attempt }, 'replay');
        return reply.code(202).header('location', location(result.requestId)).send(submitted(result));
      },
    );

    api.get<ById & { Querystring: { follow: boolean } }>(
      '/builds/:id/logs',
      {
        schema: {
          summary: "A build's log",
          description:
            "A running build's pod log (with `follow=true`, streamed until the build ends), else the tail kept with its failure, else what its Job's pod still has.",
          params: schemas.buildParams,
          querystring: schemas.logsQuery,
          produces: ['text/plain'],
          response: {
            200: { description: 'the log', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...schemas.errors('KJL_UNKNOWN_REQUEST', 'KJL_NO_LOG', 'KJL_QUEUE_UNAVAILABLE', 'KJL_K8S_API'),
          },
        },
      },
      (request, reply) => sendLog(service, request, reply),
    );

    api.get<{ Querystring: { max?: number; code?: string } }>(
      '/dlq',
      {
        schema: {
          summary: 'The messages in the SQS dead-letter queue, without taking them',
          querystring: schemas.deadLetterQuery,
          response: {
            200: schemas.deadLetters,
            ...schemas.errors('KJL_USAGE', 'KJL_NO_DLQ', 'KJL_SQS_ERROR'),
          },
        },
      },
      async (request) => service.deadLetters(request.query),
    );

    api.post<{ Body: { max?: number; code?: string; messageId?: string } | undefined }>(
      '/dlq/replay',
      {
        schema: {
          summary: 'Move dead-lettered messages back to their source queue',
          description:
            "The intake checks them again. No filter: the whole queue (SQS's message-move task where the endpoint has it); with one, one by one.",
          body: schemas.deadLetterReplay,
          response: {
            200: schemas.deadLetterReplayed,
            ...schemas.errors('KJL_USAGE', 'KJL_NO_DLQ', 'KJL_SQS_ERROR'),
            ...schemas.bodyTooLarge,
          },
        },
        // no body: every message
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const result = await service.replayDeadLetters(request.body ?? {});
        request.log.info({ ...result, filter: request.body ?? {} }, 'dead letters replayed');
        return result;
      },
    );

    api.get(
      '/fleet',
      {
        schema: {
          summary: 'The fleet at a glance',
          response: { 200: schemas.fleet, ...schemas.errors('KJL_QUEUE_UNAVAILABLE', 'KJL_K8S_API') },
        },
      },
      async () => service.fleet(),
    );

    api.get(
      '/limit',
      {
        schema: {
          summary: "The fleet's concurrent-job limit",
          response: { 200: schemas.limit, ...schemas.errors('KJL_QUEUE_UNAVAILABLE') },
        },
      },
      async () => ({ limit: await service.limit() }),
    );

    api.put<{ Body: { limit: number } }>(
      '/limit',
      {
        schema: {
          summary: "Set the fleet's concurrent-job limit (every replica)",
          body: schemas.limit,
          response: {
            200: schemas.limit,
            ...schemas.errors('KJL_USAGE', 'KJL_QUEUE_UNAVAILABLE'),
            ...schemas.bodyTooLarge,
          },
        },
      },
      async (request) => {
        await service.setLimit(request.body.limit);
        request.log.info({ limit: request.body.limit }, 'concurrent-job limit set');
        return { limit: await service.limit() };
      },
    );
  };
}
