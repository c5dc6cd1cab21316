import { AUTHENTICATED_GROUP, SUPERUSER_GROUP, serviceAccountUser, type UserInfo } from './authentication.js';
import type { RequestInfo, ResourceRequestInfo } from './request-info.js';
import { forbidden, type StatusError } from './status.js';
import type { KubeObject, ObjectStore } from './store.js';

/** One rule of a Role (rbac.authorization.k8s.io/v1 PolicyRule). */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

export interface Role extends KubeObject {
  rules?: PolicyRule[];
}

export interface RoleBinding extends KubeObject {
  roleRef: RoleRef;
  subjects?: Subject[];
}

/** A rule that allowed a request: rule `rule` (index) of the Role `namespace/name`. */
export interface RuleRef {
  kind: 'Role';
  namespace: string;
  name: string;
  rule: number;
}

export interface Decision {
  allowed: boolean;
  /** every rule that allows the request (empty for the superuser and for non-resource paths) */
  grantedBy: RuleRef[];
  /** why nothing could be decided, as the RBAC authorizer words it (a binding's missing role) */
  reason: string;
}

const ALL = '*';

/**
 * The non-resource paths every authenticated user may GET (the `system:discovery` and
 * `system:public-info-viewer` ClusterRoles bound to `system:authenticated`), and those anonymous
 * users may (`system:public-info-viewer` bound to `system:unauthenticated`).
 */
const PUBLIC_INFO_PATHS = ['/livez', '/readyz', '/healthz', '/version', '/version/'];
const DISCOVERY_PATHS = [
  ...PUBLIC_INFO_PATHS,
  '/openapi',
  '/openapi/*',
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
];

const has = (values: string[] | undefined, value: string) => !!values?.some((v) => v === ALL || v === value);

/** `NonResourceURLMatches`: exact, or a prefix ending in `*`. */
function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith(ALL) ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

/** `ResourceMatches`: `*`, the exact `resource[/subresource]`, or `*` + `/subresource`. */
function resourceMatches(rule: PolicyRule, info: ResourceRequestInfo): boolean {
  const combined = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  return !!rule.resources?.some(
    (r) => r === ALL || r === combined || (!!info.subresource && r === `*/${info.subresource}`),
  );
}

/** `RuleAllows` for a resource request. */
function ruleAllows(rule: PolicyRule, info: ResourceRequestInfo): boolean {
  return (
    has(rule.verbs, info.verb) &&
    has(rule.apiGroups, info.apiGroup) &&
    resourceMatches(rule, info) &&
    (!rule.resourceNames?.length || rule.resourceNames.includes(info.name))
  );
}

/** `appliesToUser`: a ServiceAccount subject without a namespace is the binding's namespace's. */
function appliesTo(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount':
      return serviceAccountUser(subject.namespace || bindingNamespace, subject.name) === user.name;
    default:
      return false;
  }
}

function notFoundText(ref: RoleRef): string {
  return `${ref.kind.toLowerCase()}.rbac.authorization.k8s.io "${ref.name}" not found`;
}

/** Go's `utilerrors.NewAggregate(errs).Error()`. */
function aggregate(errors: string[]): string {
  return errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;
}

/** The RoleBindings of the request's namespace that bind the user, and the rules of their Roles. */
function authorizeResource(store: ObjectStore, user: UserInfo, info: ResourceRequestInfo): Decision {
  const grantedBy: RuleRef[] = [];
  const errors: string[] = [];
  const namespace = info.namespace;
  const bindings = namespace ? (store.list('rolebindings', namespace).items as RoleBinding[]) : [];
  for (const binding of bindings) {
    if (!binding.subjects?.some((s) => appliesTo(s, user, namespace))) continue;
    const ref = binding.roleRef;
    // ClusterRoles are not served: a binding to one finds nothing, as one to a missing Role
    const role =
      ref.kind === 'Role' ? (store.tryGet('roles', namespace, ref.name) as Role | undefined) : undefined;
    if (!role) {
      errors.push(notFoundText(ref));
      continue;
    }
    (role.rules ?? []).forEach((rule, index) => {
      if (ruleAllows(rule, info)) grantedBy.push({ kind: 'Role', namespace, name: ref.name, rule: index });
    });
  }
  const allowed = grantedBy.length > 0;
  return { allowed, grantedBy, reason: !allowed && errors.length ? `RBAC: ${aggregate(errors)}` : '' };
}

/**
 * kube-apiserver's authorization of one request with RBAC: `system:masters` may do anything;
 * discovery, version and health paths are open to authenticated users (the last two also to
 * anonymous ones); resource requests need a rule of a Role bound to the user in the request's
 * namespace. Everything else is denied.
 */
export function authorize(store: ObjectStore, user: UserInfo, info: RequestInfo): Decision {
  if (user.groups.includes(SUPERUSER_GROUP)) return { allowed: true, grantedBy: [], reason: '' };
  if (info.isResourceRequest) return authorizeResource(store, user, info);
  const paths = user.groups.includes(AUTHENTICATED_GROUP) ? DISCOVERY_PATHS : PUBLIC_INFO_PATHS;
  const allowed = info.verb === 'get' && paths.some((p) => pathMatches(p, info.path));
  return { allowed, grantedBy: [], reason: '' };
}

/** The 403 of a denied request (`responsewriters.ForbiddenStatusError`). */
export function forbiddenRequest(user: UserInfo, info: RequestInfo, reason: string): StatusError {
  const who = `User ${JSON.stringify(user.name)} cannot ${info.verb}`;
  let message: string;
  if (!info.isResourceRequest) {
    message = `${who} path ${JSON.stringify(info.path)}`;
  } else {
    const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    const scope = info.namespace
      ? `in the namespace ${JSON.stringify(info.namespace)}`
      : 'at the cluster scope';
    message = `${who} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(info.apiGroup)} ${scope}`;
  }
  if (reason) message += `: ${reason}`;
  const resource = info.isResourceRequest ? { resource: info.resource, group: info.apiGroup } : undefined;
  return forbidden(resource, info.isResourceRequest ? info.name : '', message);
}
