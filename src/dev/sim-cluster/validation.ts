import { isDeepStrictEqual } from 'node:util';
import { StatusError } from './status.js';
import type { KubeObject } from './store.js';

/** One field error, shaped like k8s.io/apimachinery/pkg/util/validation/field.Error. */
export interface FieldError {
  reason:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueNotSupported'
    | 'FieldValueTooLong'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate';
  field: string;
  message: string;
}

/** Go's `%#v`-like rendering of a value in messages: strings quoted, numbers bare, objects as JSON. */
function show(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

export const invalidValue = (field: string, value: unknown, detail: string): FieldError => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${show(value)}: ${detail}`,
});
export const required = (field: string, detail = ''): FieldError => ({
  reason: 'FieldValueRequired',
  field,
  message: detail ? `Required value: ${detail}` : 'Required value',
});
export const notSupported = (field: string, value: unknown, supported: string[]): FieldError => ({
  reason: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: ${show(value)}: supported values: ${supported.map(show).join(', ')}`,
});
const tooLong = (field: string, max: number): FieldError => ({
  reason: 'FieldValueTooLong',
  field,
  message: `Too long: must have at most ${max} bytes`,
});

/**
 * 422 Invalid as `errors.NewInvalid` builds it: one cause per error; the message lists the
 * distinct error strings, bracketed when there are several.
 */
export function invalid(
  kind: { group: string; kind: string },
  name: string,
  errors: FieldError[],
): StatusError {
  const distinct = [...new Set(errors.map((e) => `${e.field}: ${e.message}`))];
  const summary = distinct.length === 1 ? distinct[0] : `[${distinct.join(', ')}]`;
  const qualifiedKind = kind.group ? `${kind.kind}.${kind.group}` : kind.kind;
  return new StatusError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    ...(kind.group ? { group: kind.group } : {}),
    kind: kind.kind,
    causes: errors.map(({ reason, message, field }) => ({ reason, message, field })),
  });
}

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const QUALIFIED_NAME = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE = '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?';
const whole = (pattern: string) => new RegExp(`^${pattern}$`);

const SUBDOMAIN_DETAIL =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" +
  DNS1123_SUBDOMAIN +
  "')";
const LABEL_DETAIL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" +
  DNS1123_LABEL +
  "')";
const NAME_PART_DETAIL =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
  QUALIFIED_NAME +
  "')";
const LABEL_VALUE_DETAIL =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '" +
  LABEL_VALUE +
  "')";

/** Problems with a DNS-1123 subdomain (object names), as `validation.IsDNS1123Subdomain` words them. */
export function subdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 253) problems.push('must be no more than 253 characters');
  if (!whole(DNS1123_SUBDOMAIN).test(value)) problems.push(SUBDOMAIN_DETAIL);
  return problems;
}

/** Problems with a DNS-1123 label (namespace and container names). */
export function dnsLabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push('must be no more than 63 characters');
  if (!whole(DNS1123_LABEL).test(value)) problems.push(LABEL_DETAIL);
  return problems;
}

/** Problems with a qualified name (label and annotation keys): optional DNS prefix + `/` + name part. */
function keyProblems(key: string): string[] {
  const parts = key.split('/');
  const name = parts.pop()!;
  const problems: string[] = [];
  if (parts.length > 1) problems.push(`a qualified name ${NAME_PART_DETAIL.slice('name part '.length)}`);
  const prefix = parts[0];
  if (prefix !== undefined) {
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else problems.push(...subdomainProblems(prefix).map((p) => `prefix part ${p}`));
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else if (name.length > 63) problems.push('name part must be no more than 63 characters');
  if (name.length > 0 && !whole(QUALIFIED_NAME).test(name)) problems.push(NAME_PART_DETAIL);
  return problems;
}

function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push('must be no more than 63 characters');
  if (!whole(LABEL_VALUE).test(value)) problems.push(LABEL_VALUE_DETAIL);
  return problems;
}

export function validateLabels(labels: Record<string, string> | undefined, field: string): FieldError[] {
  return Object.entries(labels ?? {}).flatMap(([key, value]) => [
    ...keyProblems(key).map((p) => invalidValue(field, key, p)),
    ...labelValueProblems(String(value)).map((p) => invalidValue(field, value, p)),
  ]);
}

const ANNOTATIONS_MAX_BYTES = 256 * 1024;

export function validateAnnotations(
  annotations: Record<string, string> | undefined,
  field: string,
): FieldError[] {
  const entries = Object.entries(annotations ?? {});
  const errors = entries.flatMap(([key]) =>
    keyProblems(key.toLowerCase()).map((p) => invalidValue(field, key, p)),
  );
  const bytes = entries.reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(String(v)), 0);
  if (bytes > ANNOTATIONS_MAX_BYTES) errors.push(tooLong(field, ANNOTATIONS_MAX_BYTES));
  return errors;
}

/** Object metadata rules shared by every resource: name or generateName, labels, annotations. */
export function validateObjectMeta(obj: KubeObject, nameProblems: (name: string) => string[]): FieldError[] {
  const meta = obj.metadata;
  const errors: FieldError[] = [];
  if (!meta.name && !meta.generateName) {
    errors.push(required('metadata.name', 'name or generateName is required'));
  }
  if (meta.name)
    errors.push(...nameProblems(meta.name).map((p) => invalidValue('metadata.name', meta.name, p)));
  errors.push(...validateLabels(meta.labels, 'metadata.labels'));
  errors.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  return errors;
}

interface JobSpec {
  parallelism?: number;
  completions?: number;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  completionMode?: string;
  suspend?: boolean;
  manualSelector?: boolean;
  podFailurePolicy?: unknown;
  podReplacementPolicy?: string;
  selector?: { matchLabels?: Record<string, string> };
  template?: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: { restartPolicy?: string; containers?: { name?: string; image?: string }[] };
  };
}

const specOf = (job: KubeObject): JobSpec => (job.spec ?? {}) as JobSpec;

const JOB_KIND = { group: 'batch', kind: 'Job' };

/** Non-negative integer counters of a Job spec. */
const COUNTERS = [
  'parallelism',
  'completions',
  'backoffLimit',
  'activeDeadlineSeconds',
  'ttlSecondsAfterFinished',
];

function validateJobSpec(spec: JobSpec): FieldError[] {
  const errors: FieldError[] = [];
  for (const counter of COUNTERS) {
    const value = spec[counter as keyof JobSpec];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) {
      errors.push(invalidValue(`spec.${counter}`, value, 'must be greater than or equal to 0'));
    }
  }
  if (spec.completionMode !== undefined && !['NonIndexed', 'Indexed'].includes(spec.completionMode)) {
    errors.push(notSupported('spec.completionMode', spec.completionMode, ['NonIndexed', 'Indexed']));
  }
  const template = spec.template ?? {};
  errors.push(...validateLabels(template.metadata?.labels, 'spec.template.labels'));
  errors.push(...validateAnnotations(template.metadata?.annotations, 'spec.template.annotations'));
  const containers = template.spec?.containers ?? [];
  if (containers.length === 0) errors.push(required('spec.template.spec.containers'));
  containers.forEach((container, i) => {
    const field = `spec.template.spec.containers[${i}]`;
    if (!container.name) errors.push(required(`${field}.name`));
    else
      errors.push(
        ...dnsLabelProblems(container.name).map((p) => invalidValue(`${field}.name`, container.name, p)),
      );
    if (!container.image) errors.push(required(`${field}.image`));
  });
  const restartPolicy = template.spec?.restartPolicy;
  if (!restartPolicy) {
    errors.push(required('spec.template.spec.restartPolicy', 'valid values: "OnFailure", "Never"'));
  } else if (restartPolicy !== 'OnFailure' && restartPolicy !== 'Never') {
    errors.push(notSupported('spec.template.spec.restartPolicy', restartPolicy, ['OnFailure', 'Never']));
  }
  return errors;
}

/** The labels the API server adds to a Job's pod template (kubernetes `pkg/registry/batch/job/strategy.go`). */
function generatedLabels(name: string, uid: string): Record<string, string> {
  return {
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': name,
    'controller-uid': uid,
    'job-name': name,
  };
}

/** The batch/v1 defaults (`SetDefaults_Job`); mutates the spec. */
function applyJobDefaults(spec: JobSpec): void {
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.manualSelector ??= false;
  spec.podReplacementPolicy ??= spec.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed';
}

/**
 * Defaults and validates a Job being created (batch/v1 defaults, `ValidateJob`) and returns the
 * object to store: defaults applied, selector generated from `uid`, template labels added, status
 * reset. `name` is the final name (generateName already resolved). Throws 422 Invalid.
 */
export function prepareJobForCreate(input: KubeObject, name: string, uid: string): KubeObject {
  const job = structuredClone(input);
  const spec = specOf(job);
  job.spec = spec;
  applyJobDefaults(spec);
  const template = (spec.template ??= {});
  const templateMeta = (template.metadata ??= {});
  if (!spec.manualSelector) {
    templateMeta.labels = { ...templateMeta.labels, ...generatedLabels(name, uid) };
    spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  }
  job.status = {};
  const errors = [...validateObjectMeta({ ...job, metadata: { ...job.metadata, name } }, subdomainProblems)];
  errors.push(...validateJobSpec(spec));
  if (errors.length) throw invalid(JOB_KIND, name, errors);
  // A Job created without labels gets its template's, generated ones included (as `kubectl describe`
  // shows); they are validated once, as template labels (so a name over 63 characters is reported once).
  if (!job.metadata.labels || Object.keys(job.metadata.labels).length === 0) {
    job.metadata.labels = { ...templateMeta.labels };
  }
  return job;
}

/** Spec fields that may not change after creation (`ValidateJobSpecUpdate`). */
const IMMUTABLE = ['selector', 'template', 'completions', 'completionMode', 'podFailurePolicy'] as const;

/**
 * Defaults and validates a Job update against the stored Job: the create rules plus
 * immutability. Returns the object to store. Throws 422 Invalid.
 */
export function prepareJobForUpdate(current: KubeObject, input: KubeObject): KubeObject {
  const updated = structuredClone(input);
  const before = specOf(current);
  const after = specOf(updated);
  updated.spec = after;
  applyJobDefaults(after);
  const errors = [...validateObjectMeta(updated, subdomainProblems), ...validateJobSpec(after)];
  for (const field of IMMUTABLE) {
    if (!isDeepStrictEqual(before[field], after[field])) {
      errors.push(invalidValue(`spec.${field}`, after[field] ?? null, 'field is immutable'));
    }
  }
  if (errors.length) throw invalid(JOB_KIND, updated.metadata.name ?? '', errors);
  return updated;
}
