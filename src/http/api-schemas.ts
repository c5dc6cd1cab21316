import { BUILD_STATES } from '../app/build-views.js';
import { statusOf } from './error-replies.js';

/**
 * The JSON Schemas of the API's bodies, queries and answers: fastify checks requests and writes
 * answers with them, and the OpenAPI document is made of them. Shared ones are added by `$id` and
 * referred to as `<id>#`.
 */

const integer = { type: 'integer' } as const;
const text = { type: 'string' } as const;
/** epoch milliseconds */
const time = { type: 'integer', description: 'epoch milliseconds' } as const;

export const SHARED_SCHEMAS = [
  {
    $id: 'Error',
    type: 'object',
    description:
      'Every error: a stable code (see the README error table), a sentence, and the field at fault.',
    properties: { code: text, message: text, field: text },
    required: ['code', 'message'],
  },
  {
    $id: 'BuildSummary',
    type: 'object',
    properties: {
      requestId: text,
      target: { type: 'string', description: 'thirdPartyId/parserId' },
      contentHash: text,
      state: { type: 'string', enum: [...BUILD_STATES] },
      attempt: { type: 'integer', description: 'the current (or last) run number' },
      jobName: text,
      image: text,
      reason: text,
      message: text,
      queuedAt: time,
      startedAt: time,
      finishedAt: time,
      durationMs: integer,
    },
    required: ['requestId', 'target', 'contentHash', 'state', 'queuedAt'],
  },
  {
    $id: 'BuildStatus',
    type: 'object',
    description: 'Where a build stands, with a sentence for people (`summary`).',
    allOf: [{ $ref: 'BuildSummary#' }],
    properties: {
      summary: text,
      position: { type: 'integer', description: 'place among the queued builds (1 = next)' },
      until: time,
      result: { type: 'object', additionalProperties: true },
      outcome: {
        type: 'object',
        description: 'how the last run ended; a failure keeps its reason, exit code and log tail',
        additionalProperties: true,
      },
      run: {
        type: 'object',
        description: "a running build's Job in the cluster",
        properties: {
          phase: { type: 'string', enum: ['pending', 'running', 'finished', 'gone'] },
          pod: text,
          detail: text,
        },
        required: ['phase'],
      },
    },
    required: ['summary'],
    additionalProperties: true,
  },
  {
    $id: 'Submitted',
    type: 'object',
    description: 'What became of a submitted (or replayed) request.',
    properties: {
      requestId: text,
      state: {
        type: 'string',
        enum: ['queued', 'requeued', 'duplicate', 'superseded'],
        description:
          "`queued`: a new entry; `requeued`: it had finished and runs again with fresh attempts; `duplicate`: the same request is queued, running or just succeeded; `superseded`: sent before its target's newest request (`by`)",
      },
      position: { type: 'integer', description: 'place among the queued builds (1 = next)' },
      attempt: { type: 'integer', description: 'the run number it will start as' },
      by: { type: 'string', description: 'the newer request that supersedes it' },
    },
    required: ['requestId', 'state'],
  },
] as const;

const ERROR = { $ref: 'Error#' } as const;

/** The error answers of a route, by status, each described by the codes that give it. */
export function errors(...codes: string[]): Record<number, unknown> {
  const byStatus = new Map<number, string[]>();
  for (const code of ['KJL_UNAUTHORIZED', 'KJL_RATE_LIMITED', 'KJL_INTERNAL', ...codes]) {
    const status = statusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [status, { description: list.join(', '), ...ERROR }]),
  );
}

/** The answer to a body longer than the API reads. */
export const bodyTooLarge = {
  413: { description: 'KJL_OVERSIZED: the body is longer than KJL_API_BODY_LIMIT_BYTES', $ref: 'Error#' },
} as const;

export const buildParams = {
  type: 'object',
  properties: { id: { type: 'string', description: 'the request id, e.g. r09959e5ffab2b9c8b7f' } },
  required: ['id'],
} as const;

export const listQuery = {
  type: 'object',
  properties: {
    state: { type: 'string', description: `comma-separated: ${BUILD_STATES.join(', ')}` },
    target: { type: 'string', description: 'one target, thirdPartyId/parserId' },
    since: { type: 'string', description: 'queued since: a time ago (30m, 2h, 7d) or an ISO date' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    cursor: { type: 'string', description: 'where the previous page ended: its `next`' },
  },
  additionalProperties: false,
} as const;

export const buildPage = {
  type: 'object',
  properties: {
    builds: { type: 'array', items: { $ref: 'BuildSummary#' } },
    next: { type: 'string', description: 'the cursor of the next page; absent on the last one' },
  },
  required: ['builds'],
} as const;

export const cancelled = {
  type: 'object',
  properties: {
    requestId: text,
    outcome: {
      type: 'string',
      enum: ['queued', 'running', 'finished'],
      description:
        '`queued`: it will never start a Job; `running`: its Job is being deleted (`jobs`); `finished`: it had ended, left as it was (`status`)',
    },
    jobs: { type: 'array', items: text },
    status: { $ref: 'BuildStatus#' },
  },
  required: ['requestId', 'outcome'],
} as const;

export const logsQuery = {
  type: 'object',
  properties: {
    follow: {
      type: 'boolean',
      default: false,
      description: "stream a running build's log until it ends",
    },
  },
  additionalProperties: false,
} as const;

export const deadLetterQuery = {
  type: 'object',
  properties: {
    max: { type: 'integer', minimum: 1, maximum: 10_000 },
    code: { type: 'string', description: 'only messages dead-lettered with this kjl-error-code' },
  },
  additionalProperties: false,
} as const;

export const deadLetters = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      messageId: text,
      code: { type: 'string', description: 'kjl-error-code (absent on messages the redrive policy moved)' },
      reason: { type: 'string', description: 'kjl-error-message: the field and the reason' },
      sourceQueue: text,
      sentAt: time,
      receiveCount: integer,
      body: text,
    },
    required: ['messageId', 'sourceQueue', 'body'],
  },
} as const;

export const deadLetterReplay = {
  type: 'object',
  properties: {
    max: { type: 'integer', minimum: 1, maximum: 10_000 },
    code: text,
    messageId: text,
  },
  additionalProperties: false,
} as const;

export const deadLetterReplayed = {
  type: 'object',
  properties: {
    moved: integer,
    method: {
      type: 'string',
      enum: ['move-task', 'copy'],
      description: "`move-task`: SQS's message-move task; `copy`: received, sent back and deleted one by one",
    },
  },
  required: ['moved', 'method'],
} as const;

export const fleet = {
  type: 'object',
  properties: {
    entries: {
      type: 'object',
      properties: {
        waiting: integer,
        delayed: integer,
        active: integer,
        completed: integer,
        failed: integer,
      },
      required: ['waiting', 'delayed', 'active', 'completed', 'failed'],
    },
    limit: integer,
    activeJobs: { type: 'integer', description: "the deployment's unfinished Jobs in the cluster" },
    backoff: {
      type: 'array',
      items: { type: 'object', properties: { target: text, until: time }, required: ['target', 'until'] },
    },
    oldestWaiting: {
      type: 'object',
      properties: { requestId: text, waitingMs: integer },
      required: ['requestId', 'waitingMs'],
    },
  },
  required: ['entries', 'limit', 'backoff'],
} as const;

export const limit = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000 } },
  required: ['limit'],
  additionalProperties: false,
} as const;

/** A CloudEvent in structured mode, as far as the document says; the intake checks the rest. */
export function structuredEvent(request: Record<string, unknown>) {
  return {
    type: 'object',
    description: 'a structured-mode CloudEvent 1.0 whose data is the build request',
    properties: {
      specversion: { type: 'string', enum: ['1.0'] },
      id: { type: 'string', maxLength: 256 },
      source: { type: 'string', maxLength: 1024 },
      type: text,
      time: text,
      subject: text,
      datacontenttype: text,
      data: request,
    },
    required: ['specversion', 'id', 'source', 'type', 'data'],
  };
}
