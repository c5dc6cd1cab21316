import type { KubeObject, ResourceKey } from './store.js';
import { StatusError } from './status.js';

/** A compiled selector: true when the object is selected. */
export type Predicate = (obj: KubeObject) => boolean;

interface Requirement {
  key: string;
  test: (value: string | undefined) => boolean;
}

const ALWAYS: Predicate = () => true;

function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

/** Splits on commas that are not inside a `( … )` value set. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim());
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, term: string): string {
  if (!LABEL_KEY.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${term}"`);
  return key;
}

function checkValue(value: string, term: string): string {
  if (!LABEL_VALUE.test(value)) {
    throw badRequest(`unable to parse requirement: invalid label value "${value}" in "${term}"`);
  }
  return value;
}

const SET_TERM = /^(\S+)\s+(in|notin)\s*\((.*)\)$/;
const EQUALITY_TERM = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/;

/** One term of a label selector (k8s.io/apimachinery/pkg/labels: `=`, `==`, `!=`, `in`, `notin`, `k`, `!k`). */
function parseLabelTerm(term: string): Requirement {
  const set = SET_TERM.exec(term);
  if (set) {
    const values = new Set(set[3]!.split(',').map((v) => checkValue(v.trim(), term)));
    const key = checkKey(set[1]!, term);
    // notin, like !=, also selects objects without the key
    return set[2] === 'in'
      ? { key, test: (v) => v !== undefined && values.has(v) }
      : { key, test: (v) => v === undefined || !values.has(v) };
  }
  const equality = EQUALITY_TERM.exec(term);
  if (equality) {
    const key = checkKey(equality[1]!, term);
    const value = checkValue(equality[3]!, term);
    return equality[2] === '!=' ? { key, test: (v) => v !== value } : { key, test: (v) => v === value };
  }
  if (term.startsWith('!'))
    return { key: checkKey(term.slice(1).trim(), term), test: (v) => v === undefined };
  return { key: checkKey(term, term), test: (v) => v !== undefined };
}

/** Compiles a `labelSelector` query value; empty or missing selects everything. Throws 400 BadRequest. */
export function parseLabelSelector(text: string | null | undefined): Predicate {
  if (!text?.trim()) return ALWAYS;
  const requirements = splitTerms(text).map(parseLabelTerm);
  return (obj) => requirements.every((r) => r.test(obj.metadata.labels?.[r.key]));
}

type FieldGetter = (obj: KubeObject) => string;

const at =
  (...path: string[]): FieldGetter =>
  (obj) => {
    let value: unknown = obj;
    for (const step of path) value = (value as Record<string, unknown> | undefined)?.[step];
    return value === undefined || value === null ? '' : String(value);
  };

const META_FIELDS: Record<string, FieldGetter> = {
  'metadata.name': at('metadata', 'name'),
  'metadata.namespace': at('metadata', 'namespace'),
};

/** The field selectors each resource supports (the registries' `GetAttrs`/`SelectableFields`). */
const FIELDS: Record<ResourceKey, Record<string, FieldGetter>> = {
  jobs: {
    ...META_FIELDS,
    // the job strategy formats the counter, so an unset counter selects as "0"
    'status.successful': (obj) => String((obj.status as { succeeded?: number } | undefined)?.succeeded ?? 0),
  },
  pods: { ...META_FIELDS, 'status.phase': at('status', 'phase'), 'spec.nodeName': at('spec', 'nodeName') },
  events: {
    ...META_FIELDS,
    'involvedObject.kind': at('involvedObject', 'kind'),
    'involvedObject.name': at('involvedObject', 'name'),
    'involvedObject.namespace': at('involvedObject', 'namespace'),
    'involvedObject.uid': at('involvedObject', 'uid'),
  },
  namespaces: META_FIELDS,
  resourcequotas: META_FIELDS,
  roles: META_FIELDS,
  rolebindings: META_FIELDS,
};

const FIELD_TERM = /^([^!=]+)(==|=|!=)(.*)$/;

/** Compiles a `fieldSelector` query value for a resource. Throws 400 BadRequest for unsupported fields. */
export function parseFieldSelector(resource: ResourceKey, text: string | null | undefined): Predicate {
  if (!text?.trim()) return ALWAYS;
  const tests = splitTerms(text).map((term): Predicate => {
    const match = FIELD_TERM.exec(term);
    if (!match) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [, field, op, value] = match as unknown as [string, string, string, string];
    const get = FIELDS[resource][field.trim()];
    if (!get) throw badRequest(`field label not supported: ${field.trim()}`);
    return op === '!=' ? (obj) => get(obj) !== value : (obj) => get(obj) === value;
  });
  return (obj) => tests.every((t) => t(obj));
}

/** Both selectors of a list or watch request; `empty` when neither restricts anything. */
export interface ObjectFilter {
  matches: Predicate;
  empty: boolean;
}

export function parseSelectors(resource: ResourceKey, query: URLSearchParams): ObjectFilter {
  const labels = parseLabelSelector(query.get('labelSelector'));
  const fields = parseFieldSelector(resource, query.get('fieldSelector'));
  return {
    matches: (obj) => labels(obj) && fields(obj),
    empty: labels === ALWAYS && fields === ALWAYS,
  };
}
