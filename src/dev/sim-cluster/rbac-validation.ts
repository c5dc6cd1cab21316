import { isDeepStrictEqual } from 'node:util';
import type { Role, RoleBinding, Subject } from './rbac.js';
import type { KubeObject } from './store.js';
import {
  invalid,
  invalidValue,
  notSupported,
  required,
  validateObjectMeta,
  type FieldError,
} from './validation.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** `path.IsValidPathSegmentName`, which RBAC object and roleRef names must pass. */
function pathSegmentProblems(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  return ['/', '%'].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

function validateRole(role: Role): FieldError[] {
  return (role.rules ?? []).flatMap((rule, i) => {
    const field = `rules[${i}]`;
    const errors: FieldError[] = [];
    if (!rule.verbs?.length) errors.push(required(`${field}.verbs`, 'verbs must contain at least one value'));
    if (!rule.apiGroups?.length)
      errors.push(required(`${field}.apiGroups`, 'resource rules must supply at least one api group'));
    if (!rule.resources?.length)
      errors.push(required(`${field}.resources`, 'resource rules must supply at least one resource'));
    return errors;
  });
}

/** `SetDefaults_Subject`: User and Group subjects belong to the RBAC API group. */
function defaultSubject(subject: Subject): Subject {
  if (subject.apiGroup || subject.kind === 'ServiceAccount') return subject;
  return { ...subject, apiGroup: RBAC_GROUP };
}

function validateSubject(subject: Subject, field: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!subject.name) errors.push(required(`${field}.name`));
  if (subject.kind === 'ServiceAccount') {
    if (subject.apiGroup) errors.push(notSupported(`${field}.apiGroup`, subject.apiGroup, ['']));
  } else if (subject.kind === 'User' || subject.kind === 'Group') {
    if (subject.apiGroup !== RBAC_GROUP)
      errors.push(notSupported(`${field}.apiGroup`, subject.apiGroup, [RBAC_GROUP]));
  } else {
    errors.push(notSupported(`${field}.kind`, subject.kind, ['ServiceAccount', 'User', 'Group']));
  }
  return errors;
}

function validateRoleBinding(binding: RoleBinding): FieldError[] {
  const ref = binding.roleRef ?? {};
  const errors: FieldError[] = [];
  if (ref.apiGroup !== RBAC_GROUP) errors.push(notSupported('roleRef.apiGroup', ref.apiGroup, [RBAC_GROUP]));
  if (ref.kind !== 'Role' && ref.kind !== 'ClusterRole')
    errors.push(notSupported('roleRef.kind', ref.kind, ['Role', 'ClusterRole']));
  if (!ref.name) errors.push(required('roleRef.name'));
  else errors.push(...pathSegmentProblems(ref.name).map((p) => invalidValue('roleRef.name', ref.name, p)));
  (binding.subjects ?? []).forEach((subject, i) =>
    errors.push(...validateSubject(subject, `subjects[${i}]`)),
  );
  return errors;
}

/**
 * Defaults and validates a Role or RoleBinding being created (`current` undefined) or updated, as
 * the rbac registry strategies do; a RoleBinding's roleRef may not change. Returns the object to
 * store; throws 422 Invalid.
 */
export function prepareRbacObject(
  resource: 'roles' | 'rolebindings',
  input: KubeObject,
  current?: KubeObject,
): KubeObject {
  const obj = structuredClone(input);
  const errors = validateObjectMeta(obj, pathSegmentProblems);
  if (resource === 'roles') {
    errors.push(...validateRole(obj as Role));
  } else {
    const binding = obj as RoleBinding;
    if (binding.subjects) binding.subjects = binding.subjects.map(defaultSubject);
    errors.push(...validateRoleBinding(binding));
    if (current && !isDeepStrictEqual((current as RoleBinding).roleRef, binding.roleRef)) {
      errors.push(invalidValue('roleRef', binding.roleRef, 'cannot change roleRef'));
    }
  }
  const kind = { group: RBAC_GROUP, kind: resource === 'roles' ? 'Role' : 'RoleBinding' };
  if (errors.length) throw invalid(kind, obj.metadata.name ?? '', errors);
  return obj;
}
