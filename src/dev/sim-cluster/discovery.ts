/**
 * Version and legacy (unaggregated) discovery documents. kubectl 1.32 first asks for aggregated
 * discovery (`apidiscovery.k8s.io/v2`) in its Accept header; answering plain `application/json`
 * makes it fall back to these documents, which is all the simulator serves.
 */

const VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-kjl-sim',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.23.4',
  compiler: 'gc',
  platform: 'linux/amd64',
};

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

const READ_WRITE = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

const CORE_RESOURCES: ApiResource[] = [
  {
    name: 'events',
    singularName: 'event',
    namespaced: true,
    kind: 'Event',
    verbs: READ_WRITE,
    shortNames: ['ev'],
  },
  {
    name: 'namespaces',
    singularName: 'namespace',
    namespaced: false,
    kind: 'Namespace',
    verbs: ['create', 'get', 'list', 'watch'],
    shortNames: ['ns'],
  },
  {
    name: 'pods',
    singularName: 'pod',
    namespaced: true,
    kind: 'Pod',
    verbs: READ_WRITE,
    shortNames: ['po'],
    categories: ['all'],
  },
  { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
  { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: STATUS_VERBS },
  {
    name: 'resourcequotas',
    singularName: 'resourcequota',
    namespaced: true,
    kind: 'ResourceQuota',
    verbs: READ_WRITE,
    shortNames: ['quota'],
  },
  {
    name: 'resourcequotas/status',
    singularName: '',
    namespaced: true,
    kind: 'ResourceQuota',
    verbs: STATUS_VERBS,
  },
];

const BATCH_RESOURCES: ApiResource[] = [
  {
    name: 'jobs',
    singularName: 'job',
    namespaced: true,
    kind: 'Job',
    verbs: READ_WRITE,
    categories: ['all'],
  },
  { name: 'jobs/status', singularName: '', namespaced: true, kind: 'Job', verbs: STATUS_VERBS },
];

const RBAC_RESOURCES: ApiResource[] = [
  {
    name: 'rolebindings',
    singularName: 'rolebinding',
    namespaced: true,
    kind: 'RoleBinding',
    verbs: READ_WRITE,
  },
  { name: 'roles', singularName: 'role', namespaced: true, kind: 'Role', verbs: READ_WRITE },
];

/** The API groups besides the core one, each served at one version, v1. */
const GROUPS: Record<string, ApiResource[]> = {
  batch: BATCH_RESOURCES,
  'rbac.authorization.k8s.io': RBAC_RESOURCES,
};

function apiGroup(name: string) {
  const v1 = { groupVersion: `${name}/v1`, version: 'v1' };
  return { name, versions: [v1], preferredVersion: v1 };
}

/**
 * OpenAPI v3, only as far as `kubectl create/apply` reads it: it looks for the PATCH operation of
 * the kind and its `fieldValidation` parameter; finding it, kubectl leaves validation to the server
 * (which accepts unknown fields) instead of demanding full schemas for client-side validation.
 */
const OPENAPI_GROUPS: Record<string, { group: string; paths: Record<string, string> }> = {
  'api/v1': {
    group: '',
    paths: {
      '/api/v1/namespaces/{namespace}/pods/{name}': 'Pod',
      '/api/v1/namespaces/{namespace}/events/{name}': 'Event',
      '/api/v1/namespaces/{name}': 'Namespace',
      '/api/v1/namespaces/{namespace}/resourcequotas/{name}': 'ResourceQuota',
    },
  },
  'apis/batch/v1': { group: 'batch', paths: { '/apis/batch/v1/namespaces/{namespace}/jobs/{name}': 'Job' } },
  'apis/rbac.authorization.k8s.io/v1': {
    group: 'rbac.authorization.k8s.io',
    paths: {
      '/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{name}': 'Role',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}': 'RoleBinding',
    },
  },
};

function openApiDocument(groupVersion: string): object | undefined {
  const spec = OPENAPI_GROUPS[groupVersion];
  if (!spec) return undefined;
  const patch = (kind: string) => ({
    patch: {
      'x-kubernetes-group-version-kind': { group: spec.group, version: 'v1', kind },
      parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
      responses: { '200': { description: 'OK' } },
    },
  });
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: VERSION.gitVersion },
    paths: Object.fromEntries(Object.entries(spec.paths).map(([path, kind]) => [path, patch(kind)])),
  };
}

function openApiRoot(): object {
  return {
    paths: Object.fromEntries(
      Object.keys(OPENAPI_GROUPS).map((gv) => [
        gv,
        { serverRelativeURL: `/openapi/v3/${gv}?hash=${VERSION.gitVersion}` },
      ]),
    ),
  };
}

/** The discovery document served at `path`, or undefined when `path` is not a discovery path. */
export function discoveryDocument(path: string, serverAddress: string): object | undefined {
  switch (path) {
    case '/version':
      return VERSION;
    case '/api':
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
      };
    case '/api/v1':
      return { kind: 'APIResourceList', groupVersion: 'v1', resources: CORE_RESOURCES };
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: Object.keys(GROUPS).map(apiGroup) };
    case '/openapi/v3':
      return openApiRoot();
    default:
      if (path.startsWith('/openapi/v3/')) return openApiDocument(path.slice('/openapi/v3/'.length));
      return groupDocument(path);
  }
}

/** `/apis/{group}` and `/apis/{group}/v1`. */
function groupDocument(path: string): object | undefined {
  const [, prefix, name, version, ...rest] = path.split('/');
  const resources = name === undefined ? undefined : GROUPS[name];
  if (prefix !== 'apis' || !resources || rest.length) return undefined;
  if (version === undefined) return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(name!) };
  if (version !== 'v1') return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${name}/v1`, resources };
}
