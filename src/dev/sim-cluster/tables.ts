import type { KubeObject, ResourceKey } from './store.js';

/**
 * Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for. Columns and cells
 * follow kubernetes `pkg/printers/internalversion/printers.go` for the resources the simulator has.
 */

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide` */
  priority: number;
}

type Cell = string | number;

interface Printer {
  columns: Column[];
  cells: (obj: KubeObject, now: number) => Cell[];
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const withRest = (big: number, bigUnit: string, rest: number, restUnit: string) =>
    rest === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${rest}${restUnit}`;
  if (minutes < 10) return withRest(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return withRest(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return withRest(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return withRest(years, 'y', days % 365, 'd');
  return `${years}y`;
}

function since(timestamp: string | undefined, now: number): string {
  return timestamp ? humanDuration(now - Date.parse(timestamp)) : '<unknown>';
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
};
const AGE: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
};

interface JobView {
  spec?: {
    completions?: number;
    parallelism?: number;
    template?: { spec?: { containers?: { name: string; image: string }[] } };
  };
  status?: {
    succeeded?: number;
    startTime?: string;
    completionTime?: string;
    conditions?: { type: string; status: string }[];
  };
}

function jobStatus(job: KubeObject & JobView): string {
  const has = (type: string) =>
    (job.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (job.metadata.deletionTimestamp) return 'Terminating';
  if (has('Suspended')) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function jobCompletions({ spec = {}, status = {} }: JobView): string {
  const succeeded = status.succeeded ?? 0;
  if (spec.completions !== undefined) return `${succeeded}/${spec.completions}`;
  const parallelism = spec.parallelism ?? 0;
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function jobDuration({ status = {} }: JobView, now: number): string {
  if (!status.startTime) return '';
  const end = status.completionTime ? Date.parse(status.completionTime) : now;
  return humanDuration(end - Date.parse(status.startTime));
}

const JOB_PRINTER: Printer = {
  columns: [
    NAME,
    { name: 'Status', type: 'string', description: 'Status of the job.', priority: 0 },
    { name: 'Completions', type: 'string', description: 'The completion status of the job.', priority: 0 },
    { name: 'Duration', type: 'string', description: 'Time required to complete the job.', priority: 0 },
    AGE,
    {
      name: 'Containers',
      type: 'string',
      description: 'Names of each container in the template.',
      priority: 1,
    },
    {
      name: 'Images',
      type: 'string',
      description: 'Images referenced by each container in the template.',
      priority: 1,
    },
    { name: 'Selector', type: 'string', description: 'Selector is a label query over pods.', priority: 1 },
  ],
  cells: (obj, now) => {
    const job = obj as KubeObject & JobView;
    const containers = job.spec?.template?.spec?.containers ?? [];
    const selector = (obj.spec as { selector?: { matchLabels?: Record<string, string> } }).selector;
    return [
      obj.metadata.name!,
      jobStatus(job),
      jobCompletions(job),
      jobDuration(job, now),
      since(obj.metadata.creationTimestamp, now),
      containers.map((c) => c.name).join(','),
      containers.map((c) => c.image).join(','),
      Object.entries(selector?.matchLabels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ];
  },
};

interface ContainerStatus {
  ready?: boolean;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string };
    running?: object;
    terminated?: { reason?: string; exitCode?: number; signal?: number };
  };
}

interface PodView {
  spec?: { containers?: unknown[]; nodeName?: string };
  status?: { phase?: string; reason?: string; podIP?: string; containerStatuses?: ContainerStatus[] };
}

/** The STATUS column: the last container's waiting/terminated reason wins over the phase (printPod). */
function podStatus(pod: KubeObject & PodView): { reason: string; ready: number; restarts: number } {
  const status = pod.status ?? {};
  let reason = status.reason || status.phase || '';
  let ready = 0;
  let restarts = 0;
  let running = false;
  for (const container of [...(status.containerStatuses ?? [])].reverse()) {
    restarts += container.restartCount ?? 0;
    const { waiting, terminated } = container.state ?? {};
    if (waiting?.reason) reason = waiting.reason;
    else if (terminated?.reason) reason = terminated.reason;
    else if (terminated)
      reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode}`;
    else if (container.ready && container.state?.running) {
      running = true;
      ready++;
    }
  }
  if (reason === 'Completed' && running) reason = 'Running';
  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed';
  if (pod.metadata.deletionTimestamp && !terminal) reason = 'Terminating';
  return { reason, ready, restarts };
}

const POD_PRINTER: Printer = {
  columns: [
    NAME,
    { name: 'Ready', type: 'string', description: 'The aggregate readiness state of this pod.', priority: 0 },
    {
      name: 'Status',
      type: 'string',
      description: 'The aggregate status of the containers in this pod.',
      priority: 0,
    },
    {
      name: 'Restarts',
      type: 'string',
      description: 'The number of times the containers have restarted.',
      priority: 0,
    },
    AGE,
    { name: 'IP', type: 'string', description: 'IP address allocated to the pod.', priority: 1 },
    { name: 'Node', type: 'string', description: 'Name of the node the pod is assigned to.', priority: 1 },
    {
      name: 'Nominated Node',
      type: 'string',
      description: 'Name of the node the pod is nominated to by the scheduler.',
      priority: 1,
    },
    { name: 'Readiness Gates', type: 'string', description: 'Pod readiness gates.', priority: 1 },
  ],
  cells: (obj, now) => {
    const pod = obj as KubeObject & PodView;
    const { reason, ready, restarts } = podStatus(pod);
    return [
      obj.metadata.name!,
      `${ready}/${pod.spec?.containers?.length ?? 0}`,
      reason,
      String(restarts),
      since(obj.metadata.creationTimestamp, now),
      pod.status?.podIP ?? '<none>',
      pod.spec?.nodeName ?? '<none>',
      '<none>',
      '<none>',
    ];
  },
};

interface EventView {
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { kind?: string; name?: string };
}

const EVENT_PRINTER: Printer = {
  columns: [
    { name: 'Last Seen', type: 'string', description: 'Time of the last occurrence.', priority: 0 },
    { name: 'Type', type: 'string', description: 'Type of this event (Normal, Warning).', priority: 0 },
    { name: 'Reason', type: 'string', description: 'Why the action was taken.', priority: 0 },
    { name: 'Object', type: 'string', description: 'The object this event is about.', priority: 0 },
    {
      name: 'Message',
      type: 'string',
      description: 'A human-readable description of the status.',
      priority: 0,
    },
  ],
  cells: (obj, now) => {
    const event = obj as KubeObject & EventView;
    const involved = event.involvedObject ?? {};
    return [
      since(event.lastTimestamp ?? event.eventTime ?? obj.metadata.creationTimestamp, now),
      event.type ?? '',
      event.reason ?? '',
      `${(involved.kind ?? '').toLowerCase()}/${involved.name ?? ''}`,
      event.message ?? '',
    ];
  },
};

const NAMESPACE_PRINTER: Printer = {
  columns: [
    NAME,
    { name: 'Status', type: 'string', description: 'The status of the namespace.', priority: 0 },
    AGE,
  ],
  cells: (obj, now) => [
    obj.metadata.name!,
    (obj.status as { phase?: string } | undefined)?.phase ?? '',
    since(obj.metadata.creationTimestamp, now),
  ],
};

interface QuotaView {
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

/** REQUEST and LIMIT: `name: used/hard` for each limited resource, `limits.*` in LIMIT (printResourceQuota). */
function quotaColumns({ status = {} }: QuotaView): [string, string] {
  const request: string[] = [];
  const limit: string[] = [];
  for (const name of Object.keys(status.hard ?? {}).sort()) {
    const column = name.startsWith('limits.') ? limit : request;
    column.push(`${name}: ${status.used?.[name] ?? '0'}/${status.hard![name]}`);
  }
  return [request.join(', '), limit.join(', ')];
}

const QUOTA_PRINTER: Printer = {
  columns: [
    NAME,
    AGE,
    {
      name: 'Request',
      type: 'string',
      description: 'Request represents a minimum amount of cpu/memory that a container may consume.',
      priority: 0,
    },
    {
      name: 'Limit',
      type: 'string',
      description:
        'Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.',
      priority: 0,
    },
  ],
  cells: (obj, now) => [
    obj.metadata.name!,
    since(obj.metadata.creationTimestamp, now),
    ...quotaColumns(obj as KubeObject & QuotaView),
  ],
};

const ROLE_PRINTER: Printer = {
  columns: [
    NAME,
    {
      name: 'Created At',
      type: 'date',
      description:
        'CreationTimestamp is a timestamp representing the server time when this object was created.',
      priority: 0,
    },
  ],
  cells: (obj) => [obj.metadata.name!, obj.metadata.creationTimestamp ?? ''],
};

interface RoleBindingView {
  roleRef?: { kind?: string; name?: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** The names of one kind of subject, `namespace/name` for service accounts (printRoleBinding). */
function subjectsOf(binding: RoleBindingView, kind: string): string {
  return (binding.subjects ?? [])
    .filter((s) => s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name))
    .join(', ');
}

const ROLE_BINDING_PRINTER: Printer = {
  columns: [
    NAME,
    {
      name: 'Role',
      type: 'string',
      description: 'RoleRef can only reference a Role in the current namespace.',
      priority: 0,
    },
    AGE,
    { name: 'Users', type: 'string', description: 'Users in the roleBinding', priority: 1 },
    { name: 'Groups', type: 'string', description: 'Groups in the roleBinding', priority: 1 },
    {
      name: 'ServiceAccounts',
      type: 'string',
      description: 'ServiceAccounts in the roleBinding',
      priority: 1,
    },
  ],
  cells: (obj, now) => {
    const binding = obj as KubeObject & RoleBindingView;
    return [
      obj.metadata.name!,
      `${binding.roleRef?.kind ?? ''}/${binding.roleRef?.name ?? ''}`,
      since(obj.metadata.creationTimestamp, now),
      subjectsOf(binding, 'User'),
      subjectsOf(binding, 'Group'),
      subjectsOf(binding, 'ServiceAccount'),
    ];
  },
};

const PRINTERS: Record<ResourceKey, Printer> = {
  jobs: JOB_PRINTER,
  pods: POD_PRINTER,
  events: EVENT_PRINTER,
  namespaces: NAMESPACE_PRINTER,
  resourcequotas: QUOTA_PRINTER,
  roles: ROLE_PRINTER,
  rolebindings: ROLE_BINDING_PRINTER,
};

/** True when the Accept header asks for a meta.k8s.io Table (what `kubectl get` sends). */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '')
    .split(',')
    .some((type) => /;\s*as=Table/.test(type) && /;\s*g=meta\.k8s\.io/.test(type));
}

export type IncludeObject = 'None' | 'Object' | 'Metadata';

/** `includeObject` query value; the API server's default is metadata only. */
export function includeObjectOf(query: URLSearchParams): IncludeObject {
  const value = query.get('includeObject');
  return value === 'None' || value === 'Object' ? value : 'Metadata';
}

function rowObject(obj: KubeObject, include: IncludeObject): object | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

/** Objects (with kind/apiVersion) as a Table; `listMeta` is the list's metadata (resourceVersion, continue). */
export function toTable(
  resource: ResourceKey,
  objects: KubeObject[],
  listMeta: object,
  options: { now: number; include: IncludeObject },
): object {
  const printer = PRINTERS[resource];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: printer.columns,
    rows: objects.map((obj) => ({
      cells: printer.cells(obj, options.now),
      object: rowObject(obj, options.include),
    })),
  };
}
