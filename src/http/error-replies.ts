import type { FastifyError, FastifyInstance } from 'fastify';
import { InvalidMessageCode, InvalidMessageError, KjlError } from '../errors.js';

/** What every error response of kjl's HTTP server holds: a stable code, a sentence, the field when one is at fault. */
export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
}

/** The HTTP status of each code an answer may carry; a code not listed is a 500. */
const STATUS_OF: Readonly<Record<string, number>> = {
  ...Object.fromEntries(Object.values(InvalidMessageCode).map((code) => [code, 400])),
  KJL_USAGE: 400,
  KJL_UNAUTHORIZED: 401,
  KJL_UNKNOWN_REQUEST: 404,
  KJL_NO_LOG: 404,
  KJL_NO_DLQ: 404,
  KJL_NO_ROUTE: 404,
  KJL_NOT_FINISHED: 409,
  KJL_RATE_LIMITED: 429,
  KJL_SQS_ERROR: 502,
  KJL_K8S_API: 502,
  KJL_QUEUE_UNAVAILABLE: 503,
  KJL_K8S_CONFIG: 503,
};

/** The statuses of the codes, for the API's documentation. */
export function statusOf(code: string): number {
  return STATUS_OF[code] ?? 500;
}

/** Fastify's own errors about a request (its schema, its body), as kjl's codes. */
function requestError(error: FastifyError): { status: number; body: ErrorBody } | undefined {
  if (error.validation) {
    const issue = error.validation[0];
    const path = issue?.instancePath.replace(/^\//, '').replace(/\//g, '.') ?? '';
    const { missingProperty: missing, additionalProperty: unknown } = (issue?.params ?? {}) as {
      missingProperty?: string;
      additionalProperty?: string;
    };
    const field =
      [path, missing ?? unknown].filter(Boolean).join('.') || (error.validationContext ?? 'request');
    const reason = missing
      ? 'is required'
      : unknown
        ? 'is not a known field'
        : (issue?.message ?? 'is not valid');
    return { status: 400, body: { code: 'KJL_USAGE', field, message: `${field}: ${reason}` } };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        body: { code: InvalidMessageCode.Oversized, field: 'body', message: `body: ${error.message}` },
      };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        status: 400,
        body: { code: InvalidMessageCode.MalformedJson, field: 'body', message: `body: ${error.message}` },
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        body: { code: 'KJL_USAGE', field: 'content-type', message: `content-type: ${error.message}` },
      };
  }
  return undefined;
}

/** An error as the answer a client gets: never a stack trace, never an unexpected error's words. */
export function errorReply(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof KjlError) {
    const field =
      error instanceof InvalidMessageError ? error.field : (error.context.field as string | undefined);
    return {
      status: statusOf(error.code),
      body: { code: error.code, message: error.message, ...(field ? { field } : {}) },
    };
  }
  const known = requestError(error as FastifyError);
  if (known) return known;
  return { status: 500, body: { code: 'KJL_INTERNAL', message: 'internal error' } };
}

/**
 * Every error of the server becomes `{code, message, field?}` with its status; an unexpected one
 * is a 500 that says nothing more, and is logged with the request id. A path no route serves is
 * a 404 of the same shape.
 */
export function installErrorReplies(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const { status, body } = errorReply(error);
    if (body.code === 'KJL_INTERNAL') request.log.error({ err: error }, 'request failed');
    else if (status >= 500) request.log.warn({ err: error, code: body.code, status }, body.message);
    else request.log.info({ code: body.code, status }, body.message);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: 'KJL_NO_ROUTE', message: `no route ${request.method} ${request.url}` }),
  );
}
