import { randomUUID } from 'node:crypto';
import { CloudEvent, HTTP, ValidationError } from 'cloudevents';
import type { z } from 'zod';
import { buildRequestSchema, requestIdOf, type QueuedBuild, type RequestLimits } from '../build-request.js';
import { InvalidMessageCode, InvalidMessageError } from '../errors.js';

/** The parts of an SQS message the parser reads (a subset of `@aws-sdk/client-sqs` Message). */
export interface IncomingMessage {
  MessageId?: string;
  Body?: string;
  MessageAttributes?: Record<string, { DataType?: string; StringValue?: string }>;
  Attributes?: Partial<Record<string, string>>;
}

/** The parts of an HTTP request the parser reads: its headers (names in any case) and its body. */
export interface HttpSubmission {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ParseOptions {
  /** accepted CloudEvent `type` */
  eventType: string;
  /** `source` given to plain JSON requests wrapped into a CloudEvent */
  wrapSource: string;
  limits: RequestLimits;
  now?: () => number;
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_ID_LENGTH = 256;
const MAX_SOURCE_LENGTH = 1024;
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const UNSAFE = /[\u0000-\u001f\u007f-\u009f"'`\\$;&|<>*?(){}[\]!#~]|\.\.\//;
const REQUIRED_ATTRIBUTES = ['specversion', 'id', 'source', 'type'] as const;

/** True when a string carries control characters, quotes, or shell or path metacharacters. */
export function isUnsafe(value: string): boolean {
  return UNSAFE.test(value);
}

function invalid(code: InvalidMessageCode, message: string, field?: string): InvalidMessageError {
  return new InvalidMessageError(code, message, field ? { field } : {});
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function parseJson(body: string, field: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw invalid(InvalidMessageCode.MalformedJson, `is not valid JSON (${(error as Error).message})`, field);
  }
}

/** Maps the first schema violation to a dead-letter code and a message naming the field. */
function requestError(issue: z.core.$ZodIssue, data: Record<string, unknown>): InvalidMessageError {
  const field = ['data', ...issue.path.map(String)].join('.');
  let value: unknown = data;
  for (const key of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
  if (issue.code === 'invalid_key') {
    const key = String(issue.path.at(-1));
    const reason = issue.issues[0]?.message ?? issue.message;
    const code = isUnsafe(key) ? InvalidMessageCode.UnsafeValue : InvalidMessageCode.InvalidRequest;
    return invalid(code, `invalid key ${describe(key)}: ${reason}`, field);
  }
  if (issue.code === 'unrecognized_keys') {
    return invalid(InvalidMessageCode.InvalidRequest, `unknown field(s) ${issue.keys.join(', ')}`, field);
  }
  if (issue.code === 'too_big' && typeof value === 'string') {
    return invalid(InvalidMessageCode.Oversized, `${issue.message} (got ${value.length} characters)`, field);
  }
  if (typeof value === 'string' && isUnsafe(value)) {
    return invalid(InvalidMessageCode.UnsafeValue, `${issue.message}; got ${describe(value)}`, field);
  }
  const got = value === undefined ? 'missing' : `got ${describe(value)}`;
  return invalid(InvalidMessageCode.InvalidRequest, `${issue.message} (${got})`, field);
}

/** CloudEvent attributes in one of the three accepted forms, plus the raw data. */
interface Envelope {
  attributes: Record<string, unknown>;
  data: unknown;
}

function structured(body: Record<string, unknown>): Envelope {
  const { data, ...attributes } = body;
  if ('data_base64' in attributes) {
    throw invalid(
      InvalidMessageCode.InvalidCloudEvent,
      'binary data is not accepted; send JSON in data',
      'data_base64',
    );
  }
  return { attributes, data };
}

function binary(message: IncomingMessage, body: string): Envelope {
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    const lower = name.toLowerCase();
    if (lower.startsWith('ce-') || lower.startsWith('ce_')) attributes[lower.slice(3)] = value.StringValue;
  }
  return { attributes, data: parseJson(body, 'body') };
}

/**
 * A binary-mode event of the CloudEvents HTTP binding: the SDK decodes the `ce-*` headers (and
 * `content-type` as `datacontenttype`); the result is checked like any other event. The SDK tells
 * binary mode by `ce-id` and fills in a missing one: without it, the check names the missing id.
 */
function httpBinary(headers: Record<string, string>, body: string): Envelope {
  const data = parseJson(body, 'body');
  if (!headers['ce-id']) return { attributes: { specversion: headers['ce-specversion'] }, data };
  let event: CloudEvent<unknown>;
  try {
    event = HTTP.toEvent({ headers, body: data }) as CloudEvent<unknown>;
  } catch (error) {
    throw invalid(
      InvalidMessageCode.InvalidCloudEvent,
      `is not a valid CloudEvent: ${detailOf(error)}`,
      'event',
    );
  }
  const { data: _decoded, ...attributes } = event.toJSON();
  return { attributes, data };
}

/** A plain build request, wrapped into a CloudEvent of the accepted type. */
function wrapped(id: string, time: number, body: unknown, options: ParseOptions): Envelope {
  return {
    attributes: {
      specversion: '1.0',
      id,
      source: options.wrapSource,
      type: options.eventType,
      time: new Date(time).toISOString(),
      datacontenttype: 'application/json',
    },
    data: body,
  };
}

function checkAttributes(attributes: Record<string, unknown>, eventType: string): void {
  for (const name of REQUIRED_ATTRIBUTES) {
    const value = attributes[name];
    if (typeof value !== 'string' || value === '') {
      throw invalid(
        InvalidMessageCode.InvalidCloudEvent,
        'required CloudEvent attribute is missing or empty',
        name,
      );
    }
  }
  if (attributes.specversion !== '1.0') {
    throw invalid(
      InvalidMessageCode.UnsupportedSpecVersion,
      `must be "1.0" (got ${describe(attributes.specversion)})`,
      'specversion',
    );
  }
  if (attributes.type !== eventType) {
    throw invalid(
      InvalidMessageCode.UnexpectedEventType,
      `must be "${eventType}" (got ${describe(attributes.type)})`,
      'type',
    );
  }
  for (const [name, max] of [
    ['id', MAX_ID_LENGTH],
    ['source', MAX_SOURCE_LENGTH],
  ] as const) {
    const value = attributes[name] as string;
    if (value.length > max) {
      throw invalid(
        InvalidMessageCode.Oversized,
        `must be at most ${max} characters (got ${value.length})`,
        name,
      );
    }
    // eslint-disable-next-line no-control-regex -- control characters are what this rejects
    if (/[\u0000-\u001f\u007f]/.test(value)) {
      throw invalid(InvalidMessageCode.UnsafeValue, 'must not contain control characters', name);
    }
  }
  const contentType = attributes.datacontenttype;
  if (contentType !== undefined && !/^application\/(.+\+)?json\b/.test(String(contentType))) {
    throw invalid(
      InvalidMessageCode.InvalidCloudEvent,
      `must be application/json (got ${describe(contentType)})`,
      'datacontenttype',
    );
  }
}

function detailOf(error: unknown): string {
  return error instanceof ValidationError ? JSON.stringify(error.errors ?? error.message) : String(error);
}

function checkSize(body: string): void {
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) {
    throw invalid(InvalidMessageCode.Oversized, `must be at most ${MAX_BODY_BYTES} bytes`, 'body');
  }
}

function jsonObject(body: string): Record<string, unknown> {
  const parsed = parseJson(body, 'body');
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(InvalidMessageCode.InvalidRequest, 'must be a JSON object', 'body');
  }
  return parsed as Record<string, unknown>;
}

/** A JSON body that is not binary mode: a structured-mode event, or a plain build request to wrap. */
function jsonBody(body: string, wrap: (request: object) => Envelope): Envelope {
  const parsed = jsonObject(body);
  return 'specversion' in parsed ? structured(parsed) : wrap(parsed);
}

/** How the request reached kjl, beyond its event. */
interface Receipt {
  messageId?: string;
  /** when the producer sent it (epoch ms) */
  sentAt?: number;
  receivedAt: number;
}

/** Checks an envelope and its build request; the queued build, or InvalidMessageError. */
function toBuild(envelope: Envelope, receipt: Receipt, options: ParseOptions): QueuedBuild {
  checkAttributes(envelope.attributes, options.eventType);
  const data = envelope.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw invalid(InvalidMessageCode.InvalidRequest, 'must be a JSON object (the build request)', 'data');
  }
  const result = buildRequestSchema(options.limits).safeParse(data);
  if (!result.success) throw requestError(result.error.issues[0]!, data as Record<string, unknown>);
  let event: CloudEvent<unknown>;
  try {
    event = new CloudEvent({ ...envelope.attributes, data: result.data }, true);
  } catch (error) {
    throw invalid(
      InvalidMessageCode.InvalidCloudEvent,
      `is not a valid CloudEvent: ${detailOf(error)}`,
      'event',
    );
  }
  return {
    requestId: requestIdOf(result.data),
    request: result.data,
    origin: {
      eventId: event.id,
      eventSource: event.source,
      eventType: event.type,
      ...(event.time ? { eventTime: event.time } : {}),
      ...(receipt.messageId ? { messageId: receipt.messageId } : {}),
      ...(receipt.sentAt !== undefined ? { sentAt: receipt.sentAt } : {}),
      receivedAt: receipt.receivedAt,
    },
  };
}

/**
 * Turns an SQS message into a queued build, or throws InvalidMessageError naming the field and the
 * reason. Accepts a structured-mode CloudEvent, a binary-mode one (`ce-*` message attributes) or a
 * plain JSON build request (wrapped into a CloudEvent).
 */
export function parseMessage(message: IncomingMessage, options: ParseOptions): QueuedBuild {
  const now = options.now?.() ?? Date.now();
  const body = message.Body ?? '';
  checkSize(body);
  const isBinary = Object.keys(message.MessageAttributes ?? {}).some((name) =>
    /^ce[-_]specversion$/i.test(name),
  );
  const sent = Number(message.Attributes?.SentTimestamp);
  const envelope = isBinary
    ? binary(message, body)
    : jsonBody(body, (request) =>
        wrapped(message.MessageId ?? `kjl-${now}`, Number.isFinite(sent) ? sent : now, request, options),
      );
  return toBuild(
    envelope,
    {
      ...(message.MessageId ? { messageId: message.MessageId } : {}),
      ...(Number.isFinite(sent) ? { sentAt: sent } : {}),
      receivedAt: now,
    },
    options,
  );
}

/**
 * Turns an HTTP request into a queued build, or throws InvalidMessageError with the same codes and
 * messages as a dead-lettered message. Accepts a structured-mode CloudEvent (`application/
 * cloudevents+json`, or any JSON body with `specversion`), a binary-mode one (`ce-*` headers, the
 * CloudEvents HTTP binding) or a plain JSON build request (wrapped into a CloudEvent with a new id).
 * It was sent when it was received.
 */
export function parseHttpSubmission(submission: HttpSubmission, options: ParseOptions): QueuedBuild {
  const now = options.now?.() ?? Date.now();
  checkSize(submission.body);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(submission.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  const contentType = headers['content-type'] ?? '';
  if (contentType.startsWith('application/cloudevents-batch')) {
    throw invalid(
      InvalidMessageCode.InvalidCloudEvent,
      'batched events are not accepted; send one event per request',
      'content-type',
    );
  }
  let envelope: Envelope;
  if (headers['ce-specversion'] !== undefined) {
    envelope = httpBinary(headers, submission.body);
  } else if (contentType.startsWith('application/cloudevents')) {
    envelope = structured(jsonObject(submission.body));
  } else {
    envelope = jsonBody(submission.body, (request) => wrapped(`http-${randomUUID()}`, now, request, options));
  }
  return toBuild(envelope, { sentAt: now, receivedAt: now }, options);
}
