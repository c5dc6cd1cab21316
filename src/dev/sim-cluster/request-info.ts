/**
 * What a request asks for, in the authorizer's terms (apiserver `pkg/endpoints/request/requestinfo.go`):
 * a resource request names a verb, API group, version, namespace, resource, subresource and object
 * name; anything else (`/version`, `/api`, `/apis/batch/v1`, `/healthz`) is a non-resource request
 * whose verb is the lower-cased HTTP method.
 */
export type RequestInfo = ResourceRequestInfo | NonResourceRequestInfo;

export interface ResourceRequestInfo {
  isResourceRequest: true;
  /** `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection` */
  verb: string;
  /** '' for the core group (`/api/v1`) */
  apiGroup: string;
  apiVersion: string;
  /** '' for cluster-scoped and all-namespaces requests; for `namespaces/{name}`, the name */
  namespace: string;
  resource: string;
  subresource: string;
  /** '' for collections (a list whose fieldSelector fixes `metadata.name` names that object) */
  name: string;
  /** the path from the resource on: `[resource, name?, subresource?]` */
  parts: string[];
}

export interface NonResourceRequestInfo {
  isResourceRequest: false;
  verb: string;
  path: string;
}

/** Path segments after `namespaces/{name}` that are subresources of the namespace, not resources in it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Go's `strconv.ParseBool` truths, as the list options decoder reads `watch`. */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

const METHOD_VERBS: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** The `metadata.name` an equality term of a field selector requires (`RequiresExactMatch`). */
function exactName(fieldSelector: string | null): string | undefined {
  for (const term of (fieldSelector ?? '').split(',')) {
    const match = /^\s*metadata\.name\s*==?\s*([^,=!\s]+)\s*$/.exec(term);
    if (match) return match[1];
  }
  return undefined;
}

/** Whether a `watch` query value asks for a watch. */
function isWatchValue(value: string | null): boolean {
  return value !== null && TRUE.has(value);
}

/**
 * The RequestInfo of `method` on `path` (URL-decoded segments) with `query`: `/api/v1/…` and
 * `/apis/{group}/{version}/…` with at least a resource are resource requests; `/watch/` before the
 * resource path makes the verb `watch`; a GET of a collection is `list`, or `watch` with `?watch=1`;
 * a DELETE of a collection is `deletecollection`.
 */
export function requestInfoOf(method: string, path: string, query: URLSearchParams): RequestInfo {
  const nonResource: NonResourceRequestInfo = { isResourceRequest: false, verb: method.toLowerCase(), path };
  let parts = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((part) => decodeURIComponent(part));
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return nonResource;
  let apiGroup = '';
  if (parts[0] === 'apis') {
    if (parts.length < 4) return nonResource;
    apiGroup = parts[1]!;
    parts = parts.slice(2);
  } else {
    parts = parts.slice(1);
  }
  const apiVersion = parts[0]!;
  parts = parts.slice(1);

  let verb: string;
  if (parts[0] === 'watch' && parts.length > 1) {
    verb = 'watch';
    parts = parts.slice(1);
  } else {
    verb = METHOD_VERBS[method] ?? '';
  }
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const [resource = '', pathName = '', subresource = ''] = parts;
  let name = pathName;
  if (!name && verb === 'get') {
    verb = isWatchValue(query.get('watch')) ? 'watch' : 'list';
    name = exactName(query.get('fieldSelector')) ?? '';
  }
  if (!name && verb === 'delete') verb = 'deletecollection';
  return {
    isResourceRequest: true,
    verb,
    apiGroup,
    apiVersion,
    namespace,
    resource,
    subresource,
    name,
    parts,
  };
}
