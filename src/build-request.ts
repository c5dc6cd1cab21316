import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BuildOutcome } from './build-run.js';

/** Identifiers: letters, digits, `-`, `_`, `.`; at most 63 characters. */
const ID = /^[A-Za-z0-9._-]{1,63}$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Printable text with none of: control characters (C0, DEL, C1), quotes, backslash, shell or path metacharacters. */
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const SAFE_TEXT = /^[^\u0000-\u001f\u007f-\u009f"'`\\$;&|<>*?(){}[\]!#~]*$/;
const QUANTITY = /^(\d+(\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;

/** Limits a request is checked against; they come from the configuration. */
export interface RequestLimits {
  templates: readonly string[];
  defaultTemplate: string;
  maxEnvEntries: number;
  maxCpu: string;
  maxMemory: string;
}

const UNITS: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** The numeric value of a Kubernetes quantity (`500m` → 0.5, `2Gi` → 2147483648). */
export function quantityValue(quantity: string): number {
  const match = QUANTITY.exec(quantity);
  if (!match) return Number.NaN;
  return Number(match[1]) * UNITS[match[3] ?? '']!;
}

function quantityAtMost(cap: string) {
  return z
    .string()
    .regex(QUANTITY, 'must be a Kubernetes quantity such as 500m, 2, 512Mi')
    .refine((value) => quantityValue(value) <= quantityValue(cap), `must be at most ${cap}`);
}

/** An id: 1–63 of letters, digits, `-`, `_`, `.`, with at least one letter or digit (never `.` or `..`). */
const id = z
  .string()
  .regex(ID, 'must be 1–63 letters, digits, -, _ or .')
  .refine((value) => /[A-Za-z0-9]/.test(value), 'must contain a letter or a digit');

/** True when a URL path has a `.` or `..` segment, also once percent-decoded (`%2e%2e`), or is encoded twice. */
function hasDotSegment(url: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    return true;
  }
  if (decoded.includes('%')) return true;
  return decoded.split(/[/\\]/).some((segment) => segment === '.' || segment === '..');
}

const schemas = new WeakMap<RequestLimits, ReturnType<typeof makeSchema>>();

/**
 * The schema of a build request (a CloudEvent's `data`). Unknown fields are rejected. Built once
 * per limits object: a zod schema costs far more to build than to run.
 */
export function buildRequestSchema(limits: RequestLimits) {
  let schema = schemas.get(limits);
  if (!schema) schemas.set(limits, (schema = makeSchema(limits)));
  return schema;
}

function makeSchema(limits: RequestLimits) {
  return z.strictObject({
    thirdPartyId: id,
    parserId: id,
    contentHash: z
      .string()
      .regex(/^[0-9a-fA-F]{8,128}$/, 'must be 8–128 hexadecimal characters')
      .transform((hash) => hash.toLowerCase()),
    template: z
      .string()
      .refine((name) => limits.templates.includes(name), `must be one of: ${limits.templates.join(', ')}`)
      .default(limits.defaultTemplate),
    buildContext: z
      .string()
      .max(1024, 'must be at most 1024 characters')
      .regex(
        /^(s3|gs|https|git):\/\/[A-Za-z0-9._~:/@%+=,-]+$/,
        'must be an s3://, gs://, https:// or git:// URL without special characters',
      )
      .refine(
        (value) => !hasDotSegment(value),
        'must not contain "." or ".." path segments, plain or percent-encoded',
      )
      .optional(),
    env: z
      .record(
        z.string().regex(ENV_KEY, 'keys must be letters, digits and _, not starting with a digit'),
        z
          .string()
          .max(4096, 'values must be at most 4096 characters')
          .regex(SAFE_TEXT, 'values must not contain control characters, quotes or shell metacharacters'),
      )
      .refine(
        (env) => Object.keys(env).length <= limits.maxEnvEntries,
        `must have at most ${limits.maxEnvEntries} entries`,
      )
      .optional(),
    resources: z
      .strictObject({
        cpu: quantityAtMost(limits.maxCpu).optional(),
        memory: quantityAtMost(limits.maxMemory).optional(),
      })
      .optional(),
  });
}

export type BuildRequest = z.output<ReturnType<typeof buildRequestSchema>>;

/**
 * A build request as an OpenAPI 3.0 schema object (the HTTP API's document): what JSON Schema can
 * say of `buildRequestSchema`; the checks it cannot (the template allowlist, the caps) stay the
 * parser's.
 */
export function buildRequestJsonSchema(limits: RequestLimits): Record<string, unknown> {
  return z.toJSONSchema(buildRequestSchema(limits), {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
}

/** A build target: one image per (thirdPartyId, parserId). Two Jobs for one target never run at once. */
export function targetKey(request: Pick<BuildRequest, 'thirdPartyId' | 'parserId'>): string {
  return `${request.thirdPartyId}/${request.parserId}`;
}

/**
 * The request id: derived from target and content hash, so a redelivered or re-sent message maps
 * to the same queue entry. Safe as a label value and a BullMQ job id.
 */
export function requestIdOf(
  request: Pick<BuildRequest, 'thirdPartyId' | 'parserId' | 'contentHash'>,
): string {
  const digest = createHash('sha256')
    .update(`${targetKey(request)}/${request.contentHash.toLowerCase()}`)
    .digest('hex');
  return `r${digest.slice(0, 19)}`;
}

/** Where a queued request came from: the CloudEvent it arrived as and its SQS message. */
export interface RequestOrigin {
  eventId: string;
  eventSource: string;
  eventType: string;
  eventTime?: string;
  /** SQS message id, when it came through SQS */
  messageId?: string;
  /** when the producer sent it to SQS (epoch ms, SQS SentTimestamp) */
  sentAt?: number;
  /** when kjl took it in (epoch ms) */
  receivedAt: number;
}

/** The current run of a queue entry, recorded before its Job is created (a worker that takes over adopts it). */
export interface RunRecord {
  /** the run number: 1, 2, … across retries and replays (event ids carry it) */
  number: number;
  /** the queue attempt it belongs to (a new attempt is a new run) */
  queueAttempt: number;
  /** set once its Job was created or adopted */
  jobName?: string;
  startedAt?: number;
}

/** What a queue entry holds. */
export interface QueuedBuild {
  requestId: string;
  request: BuildRequest;
  origin: RequestOrigin;
  run?: RunRecord;
  /** how the last run ended, recorded before its Job is deleted; `run` is the run number */
  outcome?: BuildOutcome & { run: number };
}
