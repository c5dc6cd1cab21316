import { createHash } from 'node:crypto';

/** The well-known label every Job and Pod kjl creates carries (and the only one the sweep trusts). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'kube-job-launcher';
const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/**
 * Template directives: annotations a template author writes on the template's top-level
 * `metadata.annotations`. Their keys are fixed (independent of the configured label prefix); the
 * Job builder removes them and writes the resolved values under `{prefix}/…` instead.
 */
export const TEMPLATE_DIRECTIVES = {
  /** name of the container that receives the request's env and resources (default: the first) */
  mainContainer: 'kjl.dev/main-container',
  /** the image reference the Job produces (may use placeholders), e.g. `{{image}}` */
  image: 'kjl.dev/image',
  /** env names a request may set although reserved, or although the main container has envFrom */
  allowedEnv: 'kjl.dev/allowed-env',
} as const;

/** Label keys under a prefix (`kjl.dev` by default). */
export interface LabelKeys {
  /** the deployment that owns the Job (`KJL_INSTANCE`): two launchers in one namespace never touch each other's */
  instance: string;
  thirdPartyId: string;
  parserId: string;
  requestId: string;
  /** first 8 hex characters of the content hash */
  contentHash: string;
  /** the run number the Job was created for (set by the runner, not the pure builder) */
  attempt: string;
}

/** Annotation keys under a prefix. */
export interface AnnotationKeys {
  /** the full content hash */
  contentHash: string;
  /** the template name */
  template: string;
  /** the image reference the Job produces (templates that declare one) */
  image: string;
  /** the container whose exit decides the outcome and whose logs are captured */
  mainContainer: string;
  /** the ids as sent, whatever their label values had to become */
  thirdPartyId: string;
  parserId: string;
}

export function labelKeys(prefix: string): LabelKeys {
  return {
    instance: `${prefix}/instance`,
    thirdPartyId: `${prefix}/third-party-id`,
    parserId: `${prefix}/parser-id`,
    requestId: `${prefix}/request-id`,
    contentHash: `${prefix}/content-hash`,
    attempt: `${prefix}/attempt`,
  };
}

export function annotationKeys(prefix: string): AnnotationKeys {
  return {
    contentHash: `${prefix}/content-hash`,
    template: `${prefix}/template`,
    image: `${prefix}/image`,
    mainContainer: `${prefix}/main-container`,
    thirdPartyId: `${prefix}/third-party-id`,
    parserId: `${prefix}/parser-id`,
  };
}

/** Selector of everything one deployment manages (`instance`), for list/watch, the count and the sweep. */
export function instanceSelector(prefix: string, instance: string): string {
  return `${MANAGED_BY_SELECTOR},${labelKeys(prefix).instance}=${labelValue(instance)}`;
}

/** Selector of the Jobs (and Pods) of one request of one deployment. */
export function requestSelector(prefix: string, instance: string, requestId: string): string {
  return `${instanceSelector(prefix, instance)},${labelKeys(prefix).requestId}=${labelValue(requestId)}`;
}

/** A valid label value (apimachinery `validation.IsValidLabelValue`). */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_LABEL_VALUE = 63;

export function isValidLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value);
}

/**
 * `value` as a label value: unchanged when already valid; otherwise characters outside
 * `[A-Za-z0-9._-]` become `-`, non-alphanumeric ends are trimmed, and a short hash of the original
 * is appended so that two values that differ stay different (`-a` → `a-<hash>`, never `a`).
 */
export function labelValue(value: string): string {
  if (isValidLabelValue(value)) return value;
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const cleaned = trimToAlphanumeric(value.replace(/[^A-Za-z0-9._-]/g, '-'));
  const head = trimToAlphanumeric(cleaned.slice(0, MAX_LABEL_VALUE - digest.length - 1));
  return head ? `${head}-${digest}` : digest;
}

function trimToAlphanumeric(value: string): string {
  return value.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
}
