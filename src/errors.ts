import { UnrecoverableError } from 'bullmq';

/** Context that makes a log line about an error actionable. */
export type ErrorContext = Record<string, string | number | boolean | undefined>;

export interface KjlErrorOptions {
  cause?: unknown;
  context?: ErrorContext;
}

/** Every error kjl raises on purpose: a stable `code`, a `cause` and the context of the failure. */
export class KjlError extends Error {
  override readonly name: string = 'KjlError';
  readonly code: string;
  readonly context: ErrorContext;

  constructor(code: string, message: string, options: KjlErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** One violated setting: the environment variable (or flag) and why. */
export interface ConfigIssue {
  variable: string;
  message: string;
}

/** The configuration did not validate; `issues` lists every violation at once. */
export class ConfigError extends KjlError {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(
      'KJL_CONFIG_INVALID',
      `invalid configuration (${issues.length} ${issues.length === 1 ? 'error' : 'errors'}):\n` +
        issues.map((issue) => `  ${issue.variable}: ${issue.message}`).join('\n'),
    );
    this.issues = issues;
  }
}

/** Codes an invalid SQS message is dead-lettered with (message attribute `kjl-error-code`). */
export const InvalidMessageCode = {
  MalformedJson: 'KJL_MALFORMED_JSON',
  InvalidCloudEvent: 'KJL_INVALID_CLOUDEVENT',
  UnsupportedSpecVersion: 'KJL_UNSUPPORTED_SPECVERSION',
  UnexpectedEventType: 'KJL_UNEXPECTED_EVENT_TYPE',
  InvalidRequest: 'KJL_INVALID_REQUEST',
  UnsafeValue: 'KJL_UNSAFE_VALUE',
  Oversized: 'KJL_OVERSIZED',
} as const;
export type InvalidMessageCode = (typeof InvalidMessageCode)[keyof typeof InvalidMessageCode];

/** A message that can never become a build: it goes to the DLQ, never to the queue. */
export class InvalidMessageError extends KjlError {
  override readonly name = 'InvalidMessageError';
  declare readonly code: InvalidMessageCode;
  /** The offending field (dotted path), when there is one. */
  readonly field: string | undefined;

  constructor(code: InvalidMessageCode, message: string, options: KjlErrorOptions & { field?: string } = {}) {
    super(code, options.field ? `${options.field}: ${message}` : message, options);
    this.field = options.field;
  }
}

/** Redis (the durable queue) could not take a request; nothing was acknowledged. */
export class QueueUnavailableError extends KjlError {
  override readonly name = 'QueueUnavailableError';
  constructor(message: string, options: KjlErrorOptions = {}) {
    super('KJL_QUEUE_UNAVAILABLE', message, options);
  }
}

/** An SQS call failed. */
export class SqsError extends KjlError {
  override readonly name = 'SqsError';
  constructor(message: string, options: KjlErrorOptions = {}) {
    super('KJL_SQS_ERROR', message, options);
  }
}

/** Bad command-line usage: exit code 2 with this message. */
export class UsageError extends KjlError {
  override readonly name = 'UsageError';
  constructor(message: string, options: KjlErrorOptions = {}) {
    super('KJL_USAGE', message, options);
  }
}

/** A build that must not be retried: BullMQ checks for this class only. */
export class PermanentBuildError extends UnrecoverableError {
  override readonly name = 'PermanentBuildError';
  readonly code: string;
  readonly context: ErrorContext;

  constructor(code: string, message: string, options: KjlErrorOptions = {}) {
    super(message);
    this.code = code;
    this.context = options.context ?? {};
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** True for errors that mean "could not reach the other side", worth retrying later. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(
      code,
    )
  );
}

/** A build event could not be delivered to the events sink (after its retries, or at once if permanent). */
export class EventSinkError extends KjlError {
  override readonly name = 'EventSinkError';
  constructor(message: string, options: KjlErrorOptions = {}) {
    super('KJL_EVENT_SINK_FAILED', message, options);
  }
}

/** One problem in a Job template: the file, the field (dotted path) when there is one, and why. */
export interface TemplateIssue {
  file: string;
  field?: string;
  message: string;
}

/** A Job template is missing, does not parse, or does not validate; `issues` lists every problem. */
export class TemplateError extends KjlError {
  override readonly name = 'TemplateError';
  readonly issues: readonly TemplateIssue[];

  constructor(issues: readonly TemplateIssue[], options: KjlErrorOptions = {}) {
    super(
      'KJL_TEMPLATE_INVALID',
      `invalid job template (${issues.length} ${issues.length === 1 ? 'error' : 'errors'}):\n` +
        issues
          .map((issue) => `  ${issue.file}${issue.field ? `: ${issue.field}` : ''}: ${issue.message}`)
          .join('\n'),
      { ...options, context: { file: issues[0]?.file, field: issues[0]?.field, ...options.context } },
    );
    this.issues = issues;
  }
}

/** A Kubernetes API call failed (after retries, where retrying made sense). */
export class KubeApiError extends KjlError {
  override readonly name = 'KubeApiError';
  /** HTTP status, when the server answered */
  readonly status: number | undefined;
  /** metav1.Status reason (NotFound, AlreadyExists, Conflict, …), when given */
  readonly reason: string | undefined;

  constructor(message: string, options: KjlErrorOptions & { status?: number; reason?: string } = {}) {
    super('KJL_K8S_API', message, options);
    this.status = options.status;
    this.reason = options.reason;
  }
}

/** No Kubernetes configuration could be found, or it names no cluster. */
export class KubeConfigError extends KjlError {
  override readonly name = 'KubeConfigError';
  constructor(message: string, options: KjlErrorOptions = {}) {
    super('KJL_K8S_CONFIG', message, options);
  }
}

/**
 * Every error code kjl uses, with what it means and what to do. The README's error table is this
 * list; a test checks that the code uses no other.
 */
export const ERROR_CODES: Readonly<Record<string, string>> = {
  KJL_CONFIG_INVALID:
    'The configuration did not validate; every violation is listed with its variable (exit code 2).',
  KJL_USAGE:
    'A command or an API call was made wrongly: the flag, argument, query parameter or field is named in the message (exit code 2; HTTP 400).',
  [InvalidMessageCode.MalformedJson]: 'Dead-lettered: the message body (or binary-mode data) is not JSON.',
  [InvalidMessageCode.InvalidCloudEvent]:
    'Dead-lettered: a required CloudEvent attribute is missing, empty or invalid.',
  [InvalidMessageCode.UnsupportedSpecVersion]: 'Dead-lettered: `specversion` is not `1.0`.',
  [InvalidMessageCode.UnexpectedEventType]:
    'Dead-lettered: `type` is not the accepted one (`KJL_EVENT_TYPE`).',
  [InvalidMessageCode.InvalidRequest]:
    'Dead-lettered: the build request breaks its schema (field and reason named).',
  [InvalidMessageCode.UnsafeValue]:
    'Dead-lettered: a value holds control characters, quotes, shell or path metacharacters.',
  [InvalidMessageCode.Oversized]:
    'Dead-lettered: the body or a field is longer than allowed (over the HTTP API: 400, or 413 for a body past `KJL_API_BODY_LIMIT_BYTES`).',
  KJL_QUEUE_UNAVAILABLE:
    'Redis could not be reached (the URL is named): the intake keeps the SQS message (received again later); a command reports it and exits 1 within seconds.',
  KJL_SQS_ERROR: 'An SQS call failed (send, dead-letter); the queue URL is in the context.',
  KJL_UNKNOWN_REQUEST:
    'No queue entry has that request id (`kjl status`, `kjl cancel`, `kjl logs`; HTTP 404).',
  KJL_NOT_FINISHED: 'A replay of a build that is still queued, waiting or running (HTTP 409).',
  KJL_NO_LOG:
    'No log of that build is kept or readable: it has not started, or its Job and its pod are gone (HTTP 404).',
  KJL_LEASE_LOST:
    'A worker lost its lease on a build (another took it over while it could not reach Redis); it stops acting on it. Logged, never shown to a user.',
  KJL_NO_DLQ:
    'A dead-letter command or API call, but no dead-letter queue is configured (`KJL_SQS_DLQ_URL`).',
  KJL_K8S_API: 'A Kubernetes API call failed after its retries; status, reason and Job are in the context.',
  KJL_K8S_CONFIG: 'No Kubernetes configuration: no in-cluster service account and no kubeconfig.',
  KJL_TEMPLATE_INVALID: 'A Job template of the allowlist is missing or invalid (file and field named).',
  KJL_ENV_CONFLICT:
    'The request sets an env variable its template already sets; the build fails (reason `EnvNotAllowed`).',
  KJL_ENV_NOT_ALLOWED:
    'The request sets a reserved env variable (`AWS_*`, `*_PROXY`, `DOCKER_CONFIG`), or any while the template uses `envFrom`, that the template does not allow; the build fails (reason `EnvNotAllowed`).',
  KJL_REDIS_NOT_DURABLE:
    'Redis could lose acknowledged requests (no AOF, AOF not fsynced always, or eviction on); `kjl start` refuses to run (`KJL_REDIS_DURABILITY=warn` runs anyway).',
  KJL_EVENT_SINK_FAILED: 'A build event could not be delivered after retries (the build goes on).',
  KJL_REDIS_START_FAILED: '`kjl dev` or a test could not start its `redis-server` child.',
  KJL_UNAUTHORIZED:
    'An HTTP API or dashboard request without valid credentials: the API token as a bearer, or the dashboard user and password (HTTP 401).',
  KJL_RATE_LIMITED:
    'A client made more HTTP API requests than `KJL_API_RATE_LIMIT` allows in its window (HTTP 429).',
  KJL_NO_ROUTE: 'No HTTP route has that method and path (HTTP 404).',
  KJL_INTERNAL:
    'An HTTP request failed in a way kjl did not expect: it answers 500 with no detail and logs the error with the request id.',
  KJL_KUBELET_RULES_INVALID:
    "The simulated cluster's kubelet rules file does not validate (every problem listed).",
};
