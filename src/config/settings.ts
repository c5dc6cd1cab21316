import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const url = (...protocols: string[]) =>
  z
    .string()
    .trim()
    .refine((value) => URL.canParse(value) && protocols.includes(new URL(value).protocol.slice(0, -1)), {
      message: `must be a ${protocols.map((protocol) => `${protocol}://`).join(' or ')} URL`,
    });
/** A comma-separated list (blanks dropped) of at least one `item`. */
const commaList = (item: z.ZodType<string, string>) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item).min(1));
const list = commaList(
  z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'names are lower-case letters, digits and -'),
);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const objectName = z
  .string()
  .trim()
  .max(253)
  .regex(DNS_SUBDOMAIN, 'must be a DNS subdomain (a Kubernetes object name)');
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** `disktype=ssd,zone=a` → { disktype: 'ssd', zone: 'a' }: label keys and values. */
const labelMap = z.string().transform((value, ctx) => {
  const pairs: Record<string, string> = {};
  for (const entry of value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const at = entry.indexOf('=');
    const key = entry.slice(0, at).trim();
    const item = entry.slice(at + 1).trim();
    if (at < 0) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not key=value` });
    else if (!LABEL_KEY.test(key) || key.split('/').at(-1)!.length > 63) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(key)} is not a valid label key` });
    } else if (!LABEL_VALUE.test(item) || item.length > 63) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(item)} (of ${key}) is not a valid label value`,
      });
    } else pairs[key] = item;
  }
  return pairs;
});
/** A pod toleration, checked as the API server does (`ValidateTolerations`). */
const toleration = z
  .strictObject({
    key: z.string().regex(LABEL_KEY, 'must be a label key').optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().regex(LABEL_VALUE, 'must be a label value').max(63).optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .superRefine((entry, ctx) => {
    if (!entry.key && entry.operator !== 'Exists') {
      ctx.addIssue({ code: 'custom', path: ['operator'], message: 'must be Exists when key is empty' });
    }
    if (entry.operator === 'Exists' && entry.value) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be empty when operator is Exists' });
    }
    if (entry.tolerationSeconds !== undefined && entry.effect !== 'NoExecute') {
      ctx.addIssue({
        code: 'custom',
        path: ['effect'],
        message: 'must be NoExecute when tolerationSeconds is set',
      });
    }
  });
/** A JSON array of pod tolerations. */
const tolerations = z
  .string()
  .transform((value, ctx) => {
    try {
      return JSON.parse(value) as unknown;
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a JSON array of tolerations: ${(error as Error).message}`,
      });
      return z.NEVER;
    }
  })
  .pipe(z.array(toleration, 'must be a JSON array of tolerations'));
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** `<age>,<count>`: `7d,10000` → { ageSeconds: 604800, count: 10000 }. */
const retention = z
  .string()
  .regex(/^\s*\d+[smhd]\s*,\s*\d+\s*$/, 'must be <age>,<count> with the age in s, m, h or d (e.g. 7d,10000)')
  .transform((value) => {
    const [age, count] = value.split(',').map((part) => part.trim()) as [string, string];
    return { ageSeconds: Number(age.slice(0, -1)) * UNIT_SECONDS[age.at(-1)!]!, count: Number(count) };
  })
  .pipe(
    z.object({
      ageSeconds: z.number().int().min(60, 'the age must be at least 1m'),
      count: z.number().int().min(1, 'the count must be at least 1'),
    }),
  );
/** `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`). */
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], 'must be true or false'))
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));
/** A secret: no whitespace (a pasted newline would never match), at least `min` characters. */
const secret = (min: number) =>
  z.string().min(min, `must be at least ${min} characters`).regex(/^\S+$/, 'must not contain whitespace');
const quantity = z.string().regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'must be a Kubernetes quantity');
const DEFAULT_TEMPLATES_DIR = fileURLToPath(new URL('../../templates', import.meta.url));

/**
 * Every setting of kjl: its environment variable, where it lands in the config, its schema, its
 * default and what it means. The README's configuration table is this list.
 */
export const SETTINGS = [
  // SQS intake
  {
    env: 'KJL_SQS_QUEUE_URL',
    path: 'sqs.queueUrl',
    schema: url('http', 'https').optional(),
    doc: 'URL of the SQS queue build requests arrive on (required by `start` with the intake role).',
  },
  {
    env: 'KJL_SQS_DLQ_URL',
    path: 'sqs.dlqUrl',
    schema: url('http', 'https').optional(),
    doc: "URL of the dead-letter queue invalid messages are sent to; unset: they are left to the queue's redrive policy.",
  },
  {
    env: 'KJL_SQS_ENDPOINT',
    path: 'sqs.endpoint',
    schema: url('http', 'https').optional(),
    doc: 'SQS-compatible endpoint (LocalStack, fauxqs); unset: AWS.',
  },
  {
    env: 'AWS_REGION',
    path: 'sqs.region',
    schema: z.string().min(1).default('us-east-1'),
    doc: 'AWS region of the queues.',
  },
  {
    env: 'KJL_SQS_WAIT_SECONDS',
    path: 'sqs.waitTimeSeconds',
    schema: int(0, 20).default(20),
    doc: 'Long-polling wait of each ReceiveMessage.',
  },
  {
    env: 'KJL_SQS_BATCH_SIZE',
    path: 'sqs.batchSize',
    schema: int(1, 10).default(10),
    doc: 'Messages per ReceiveMessage.',
  },
  {
    env: 'KJL_SQS_VISIBILITY_TIMEOUT_SECONDS',
    path: 'sqs.visibilityTimeoutSeconds',
    schema: int(1, 43_200).default(60),
    doc: 'Visibility timeout requested on receive; a message not acknowledged by then is delivered again.',
  },
  {
    env: 'KJL_SQS_HEARTBEAT_SECONDS',
    path: 'sqs.heartbeatSeconds',
    schema: int(1, 43_200).default(20),
    doc: 'How often the visibility of a message still being handled is extended; must be less than the visibility timeout.',
  },
  {
    env: 'KJL_SQS_RETRY_BACKOFF_SECONDS',
    path: 'sqs.retryBackoffSeconds',
    schema: int(0, 43_200).default(5),
    doc: 'Back-off before a message that could not be queued (Redis unreachable) is received again, and before the next poll.',
  },
  {
    env: 'KJL_EVENT_TYPE',
    path: 'intake.eventType',
    schema: z.string().min(1).default('dev.kjl.build.requested'),
    doc: 'CloudEvent `type` accepted on the intake.',
  },
  {
    env: 'KJL_MAX_ENV_ENTRIES',
    path: 'intake.maxEnvEntries',
    schema: int(0, 1000).default(32),
    doc: "Most entries a request's `env` may have.",
  },
  {
    env: 'KJL_MAX_CPU',
    path: 'intake.maxCpu',
    schema: quantity.default('4'),
    doc: 'Highest CPU a request may ask for in `resources`.',
  },
  {
    env: 'KJL_MAX_MEMORY',
    path: 'intake.maxMemory',
    schema: quantity.default('8Gi'),
    doc: 'Highest memory a request may ask for in `resources`.',
  },
  // Redis and the queue
  {
    env: 'KJL_REDIS_URL',
    path: 'redis.url',
    schema: url('redis', 'rediss').default('redis://127.0.0.1:6379'),
    doc: 'Redis the queue lives in (`redis://` or `rediss://`).',
  },
  {
    env: 'KJL_QUEUE_NAME',
    path: 'queue.name',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('builds'),
    doc: 'BullMQ queue name.',
  },
  {
    env: 'KJL_QUEUE_PREFIX',
    path: 'queue.prefix',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('kjl'),
    doc: 'Redis key prefix of the queue.',
  },
  {
    env: 'KJL_MAX_CONCURRENT_JOBS',
    path: 'queue.maxConcurrentJobs',
    schema: int(1, 10_000).default(10),
    doc: "Most Kubernetes Jobs running at once, across every replica (the queue's global concurrency).",
  },
  {
    env: 'KJL_WAIT_POLL_MS',
    path: 'queue.pollMs',
    schema: int(50, 60_000).default(1000),
    doc: 'How soon a build that waits for its target or for a slot under the limit is looked at again.',
  },
  {
    env: 'KJL_FAILURE_BACKOFF_SECONDS',
    path: 'queue.failureBackoffSeconds',
    schema: int(0).default(300),
    doc: 'After a failure, how long a target waits before it is built again.',
  },
  {
    env: 'KJL_MAX_ATTEMPTS',
    path: 'queue.maxAttempts',
    schema: int(1, 100).default(3),
    doc: 'Attempts of a build whose failures are retryable (eviction, preemption, API errors).',
  },
  {
    env: 'KJL_SUCCESS_DEDUP_SECONDS',
    path: 'queue.successDedupSeconds',
    schema: int(0).default(3600),
    doc: 'How long a succeeded build keeps an identical request (same target, same content hash) from running again.',
  },
  {
    env: 'KJL_HISTORY_RETENTION',
    path: 'queue.history',
    schema: retention.default({ ageSeconds: 7 * 24 * 3600, count: 10_000 }),
    defaultText: '`7d,10000`',
    doc: 'How long finished builds (succeeded, failed, cancelled, superseded) stay queryable (`kjl list`, `GET /api/v1/builds`), and how many at most: `<age>,<count>`, the age in `s`, `m`, `h` or `d`.',
  },
  // Kubernetes
  {
    env: 'KJL_REDIS_DURABILITY',
    path: 'redis.durability',
    schema: z.enum(['strict', 'warn']).default('strict'),
    doc: "At start, Redis's own settings are read: without `appendonly yes`, `appendfsync always` and (with a `maxmemory`) `maxmemory-policy noeviction`, a crash or eviction could lose acknowledged requests. `strict` refuses to start, `warn` logs it.",
  },
  {
    env: 'KJL_KUBECONFIG',
    path: 'k8s.kubeconfig',
    schema: z.string().min(1).optional(),
    doc: 'Kubeconfig file, used alone when set. Unset: the in-cluster configuration in a pod, else `KUBECONFIG`, else `~/.kube/config`; none of them is an error (`KJL_K8S_CONFIG`).',
  },
  {
    env: 'KUBECONFIG',
    path: 'k8s.kubeconfigEnv',
    schema: z.string().min(1).optional(),
    doc: 'The usual kubeconfig variable (files separated by `:`), after the in-cluster configuration.',
  },
  {
    env: 'KUBERNETES_SERVICE_HOST',
    path: 'k8s.serviceHost',
    schema: z.string().min(1).optional(),
    doc: 'Set by Kubernetes in every pod: with a service-account token present, the in-cluster configuration is used.',
  },
  {
    env: 'KUBERNETES_SERVICE_PORT',
    path: 'k8s.servicePort',
    schema: z.string().min(1).optional(),
    doc: "Set by Kubernetes in every pod: the API server's port.",
  },
  {
    env: 'KJL_IN_CLUSTER_ROOT',
    path: 'k8s.inClusterRoot',
    schema: z.string().min(1).default('/'),
    doc: 'Folder the service-account files are read under (`<root>/var/run/secrets/kubernetes.io/serviceaccount/`).',
  },
  {
    env: 'KJL_INSTANCE',
    path: 'k8s.instance',
    schema: z
      .string()
      .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a Kubernetes label value')
      .max(63)
      .default(''),
    defaultText: '`<KJL_QUEUE_PREFIX>-<KJL_QUEUE_NAME>`',
    doc: "This deployment's identity: every Job and Pod carries it as `<prefix>/instance`, and every selector (watch, count, sweep, cancel) uses it, so two launchers in one namespace never touch each other's Jobs.",
  },
  {
    env: 'KJL_WORKER_LOCK_SECONDS',
    path: 'queue.lockSeconds',
    schema: int(2, 3600).default(30),
    doc: "Lease of a running build in the queue, renewed while its worker lives; a crashed worker's builds are taken over after about this long.",
  },
  {
    env: 'KJL_NAMESPACE',
    path: 'k8s.namespace',
    schema: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label')
      .max(63)
      .default('default'),
    doc: 'Namespace the Jobs are created in.',
  },
  {
    env: 'KJL_TEMPLATES_DIR',
    path: 'k8s.templatesDir',
    schema: z.string().min(1).default(DEFAULT_TEMPLATES_DIR),
    doc: 'Folder of Job templates (`<name>.yaml`); in the cluster, a mounted ConfigMap.',
  },
  {
    env: 'KJL_TEMPLATES',
    path: 'k8s.templates',
    schema: list.default(['kaniko', 'generic']),
    doc: 'Allowlist of template names a request may choose (comma-separated).',
  },
  {
    env: 'KJL_DEFAULT_TEMPLATE',
    path: 'k8s.defaultTemplate',
    schema: z.string().min(1).default('kaniko'),
    doc: 'Template of a request that names none.',
  },
  {
    env: 'KJL_LABEL_PREFIX',
    path: 'k8s.labelPrefix',
    schema: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain')
      .max(253)
      .default('kjl.dev'),
    doc: 'Prefix of the labels and annotations kjl puts on Jobs (`<prefix>/request-id`, …).',
  },
  {
    env: 'KJL_K8S_QPS',
    path: 'k8s.qps',
    schema: z.coerce.number().positive().max(10_000).default(50),
    doc: "Requests a second kjl sends the Kubernetes API at most (a client-side rate limit, like client-go's `QPS`); watches and followed logs are not counted.",
  },
  {
    env: 'KJL_K8S_BURST',
    path: 'k8s.burst',
    schema: int(1, 100_000).default(100),
    doc: 'Requests kjl may send at once above `KJL_K8S_QPS` before the rate limit holds them (client-go `Burst`).',
  },
  {
    env: 'KJL_K8S_CONNECTIONS',
    path: 'k8s.connections',
    schema: int(1, 1000).default(4),
    doc: 'Keep-alive connections kjl keeps to the API server for its requests (watches and followed logs have their own).',
  },
  {
    env: 'KJL_WATCH_STALE_SECONDS',
    path: 'k8s.watchStaleSeconds',
    schema: int(1).default(60),
    doc: 'A Job or Pod watch that has not been open for this long makes `/readyz` answer 503 (it is restarted with backoff all along).',
  },
  {
    env: 'KJL_LOG_TAIL_LINES',
    path: 'k8s.logTailLines',
    schema: int(1, 10_000).default(100),
    doc: "Lines of a failed build's main container log kept with its failure.",
  },
  {
    env: 'KJL_LOG_TAIL_BYTES',
    path: 'k8s.logTailBytes',
    schema: int(256, 1_048_576).default(16_384),
    doc: 'Most bytes of log kept with a failure, all lines together; a line is cut at 2048 bytes, and the log is read from the API 4 times this much at a time (`limitBytes`).',
  },
  {
    env: 'KJL_START_TIMEOUT_SECONDS',
    path: 'k8s.startTimeoutSeconds',
    schema: int(1).default(600),
    doc: 'A Job whose pod is still Pending (unschedulable, image not pulled) after this long fails.',
  },
  {
    env: 'KJL_SWEEP_INTERVAL_SECONDS',
    path: 'k8s.sweepIntervalSeconds',
    schema: int(1).default(300),
    doc: 'How often managed Jobs and Pods that no request knows are deleted.',
  },
  {
    env: 'KJL_ACTIVE_DEADLINE_SECONDS',
    path: 'k8s.activeDeadlineSeconds',
    schema: int(1).default(1800),
    doc: '`activeDeadlineSeconds` of every Job.',
  },
  {
    env: 'KJL_JOB_TTL_SECONDS',
    path: 'k8s.ttlSecondsAfterFinished',
    schema: int(600).default(86_400),
    doc: '`ttlSecondsAfterFinished` of every Job: how long a succeeded Job stays (failed ones are deleted by kjl once their logs are kept). At least 600: a worker that takes a build over adopts its finished Job, and must find it.',
  },
  {
    env: 'KJL_SERVICE_ACCOUNT',
    path: 'k8s.serviceAccount',
    schema: z.string().min(1).default('default'),
    doc: 'Service account of the build pods (unless the template names one).',
  },
  {
    env: 'KJL_NODE_SELECTOR',
    path: 'k8s.nodeSelector',
    schema: labelMap.optional(),
    doc: "Node labels the build pods must run on, `key=value` pairs separated by commas (e.g. `disktype=ssd,zone=a`); merged over the template's `nodeSelector`.",
  },
  {
    env: 'KJL_TOLERATIONS',
    path: 'k8s.tolerations',
    schema: tolerations.optional(),
    doc: 'Tolerations of the build pods, as a JSON array (e.g. `[{"key":"dedicated","operator":"Equal","value":"builds","effect":"NoSchedule"}]`); added to the template\'s.',
  },
  {
    env: 'KJL_PRIORITY_CLASS',
    path: 'k8s.priorityClassName',
    schema: objectName.optional(),
    doc: "PriorityClass of the build pods; replaces the template's.",
  },
  {
    env: 'KJL_IMAGE_PULL_SECRETS',
    path: 'k8s.imagePullSecrets',
    schema: commaList(objectName).optional(),
    doc: "Secrets the build pods pull their images with (names, comma-separated); added to the template's.",
  },
  {
    env: 'KJL_RUNTIME_CLASS',
    path: 'k8s.runtimeClassName',
    schema: objectName.optional(),
    doc: "RuntimeClass of the build pods (e.g. `gvisor`); replaces the template's.",
  },
  {
    env: 'KJL_BUILD_CONTEXT_BUCKET',
    path: 'build.contextBucket',
    schema: z.string().min(1).default('kjl-build-contexts'),
    doc: 'S3 bucket holding `build-context/{parserId}/context.tar.gz` (kaniko template).',
  },
  {
    env: 'KJL_IMAGE_REGISTRY',
    path: 'build.registry',
    schema: z.string().min(1).default('registry.local:5000'),
    doc: 'Registry images are pushed to (kaniko template).',
  },
  {
    env: 'KJL_IMAGE_REPOSITORY',
    path: 'build.repository',
    schema: z.string().min(1).default('parsers'),
    doc: 'Repository images are pushed to (kaniko template).',
  },
  // Events out
  {
    env: 'KJL_EVENTS_SINK',
    path: 'events.sinkUrl',
    schema: z.string().trim().min(1).optional(),
    doc: 'Where build CloudEvents go: an SQS queue URL, an SNS topic ARN (`arn:aws:sns:…`) or an http(s) URL; unset: none.',
  },
  // HTTP API and dashboard
  {
    env: 'KJL_API_TOKEN',
    path: 'api.token',
    schema: secret(16).optional(),
    secret: true,
    doc: 'Bearer token of the HTTP API (`/api/v1`), compared in constant time. Unset: the API is off (the log says so), except under `kjl dev`, which serves it on loopback without one.',
  },
  {
    env: 'KJL_API_RATE_LIMIT',
    path: 'api.rateLimit',
    schema: int(1, 1_000_000).default(600),
    doc: 'Requests one client (by address) may make to the HTTP API per `KJL_API_RATE_LIMIT_WINDOW_SECONDS`; past that it gets 429 until the window ends.',
  },
  {
    env: 'KJL_API_RATE_LIMIT_WINDOW_SECONDS',
    path: 'api.rateLimitWindowSeconds',
    schema: int(1, 86_400).default(60),
    doc: 'The window of `KJL_API_RATE_LIMIT`.',
  },
  {
    env: 'KJL_API_BODY_LIMIT_BYTES',
    path: 'api.bodyLimitBytes',
    schema: int(1024, 1_048_576).default(65_536),
    doc: "Largest request body the HTTP API reads; a longer one gets 413. A build request is checked against the intake's own 64 KiB limit as well.",
  },
  {
    env: 'KJL_DASHBOARD_USER',
    path: 'dashboard.user',
    schema: z
      .string()
      .trim()
      .min(1)
      .regex(/^[^:]+$/, 'must not contain ":"')
      .optional(),
    doc: 'User name of the dashboard (`/admin/queues`, HTTP basic authentication); set with `KJL_DASHBOARD_PASSWORD`. The API token is accepted as a bearer too. With neither, the dashboard is off, except under `kjl dev` (loopback).',
  },
  {
    env: 'KJL_DASHBOARD_PASSWORD',
    path: 'dashboard.password',
    schema: secret(12).optional(),
    secret: true,
    doc: 'Password of `KJL_DASHBOARD_USER`, compared in constant time.',
  },
  {
    env: 'KJL_DASHBOARD_READ_ONLY',
    path: 'dashboard.readOnly',
    schema: bool.default(true),
    doc: "The dashboard only shows: its retry, clean, remove, pause and other buttons are refused. `false` lets them act, except that a retry is kjl's replay (fresh attempts) and the limit and entries' data are never written from it.",
  },
  // Process
  {
    env: 'KJL_ROLE',
    path: 'role',
    schema: z.enum(['all', 'intake', 'worker']).default('all'),
    doc: 'What `kjl start` runs: `all`, `intake` (SQS to Redis) or `worker` (Redis to Kubernetes).',
  },
  {
    env: 'KJL_HTTP_PORT',
    path: 'http.port',
    schema: int(0, 65_535).default(8080),
    doc: 'Port of the HTTP server (`/healthz`, `/readyz`).',
  },
  {
    env: 'KJL_LOG_LEVEL',
    path: 'log.level',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'Log level.',
  },
  {
    env: 'KJL_SHUTDOWN_TIMEOUT_SECONDS',
    path: 'shutdownTimeoutSeconds',
    schema: int(1).default(30),
    doc: 'Deadline for a graceful stop after SIGTERM.',
  },
] as const;

export type Setting = (typeof SETTINGS)[number];
