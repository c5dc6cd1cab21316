import { createHash } from 'node:crypto';
import type {
  V1Container,
  V1Job,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Toleration,
} from '@kubernetes/client-node';
import { requestIdOf, type BuildRequest } from '../build-request.js';
import { PermanentBuildError } from '../errors.js';
import { contentTag, jobNameFor } from './job-name.js';
import {
  annotationKeys,
  labelKeys,
  labelValue,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  TEMPLATE_DIRECTIVES,
} from './labels.js';
import { fillPlaceholders, mapStrings, type JobTemplate, type TemplateValues } from './template-catalog.js';

/** What the Job builder needs from the configuration (`config.k8s`, `config.build`). */
export interface JobSpecOptions {
  namespace: string;
  /** the deployment's identity, on every Job and Pod as `{prefix}/instance` */
  instance: string;
  /** prefix of kjl's labels and annotations, `kjl.dev` by default */
  labelPrefix: string;
  /** service account of the pods, unless the template names one */
  serviceAccount: string;
  /** the Job's deadline; a template may only set a smaller one */
  activeDeadlineSeconds: number;
  ttlSecondsAfterFinished: number;
  /** build-context bucket: `s3://{bucket}/build-context/{parserId}/context.tar.gz` */
  bucket: string;
  registry: string;
  repository: string;
  /** merged over the template's node selector */
  nodeSelector?: Readonly<Record<string, string>>;
  /** appended to the template's tolerations */
  tolerations?: readonly V1Toleration[];
  /** replaces the template's priority class */
  priorityClassName?: string;
  /** appended to the template's image pull secrets (a name already there is not repeated) */
  imagePullSecrets?: readonly string[];
  /** replaces the template's runtime class */
  runtimeClassName?: string;
}

const HASH_LENGTH = 8;
const MAX_TAG_LENGTH = 128;
/** An image tag (OCI distribution spec). */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * The tag of the image a request builds: `{thirdPartyId}-{parserId}-{contentTag}` (the content tag
 * of Job names). As with Job names, a
 * short hash of the exact (thirdPartyId, parserId) pair is inserted before the content tag when that form
 * would be ambiguous (a `-` in thirdPartyId: `a-b`/`c` against `a`/`b-c` would push to one tag),
 * not a valid tag (thirdPartyId starting with `.` or `-`), or longer than 128 characters.
 */
export function imageTagFor(
  request: Pick<BuildRequest, 'thirdPartyId' | 'parserId' | 'contentHash'>,
): string {
  const { thirdPartyId, parserId } = request;
  const content = contentTag(request.contentHash);
  const plain = `${thirdPartyId}-${parserId}-${content}`;
  if (!thirdPartyId.includes('-') && IMAGE_TAG.test(plain)) return plain;
  const idHash = createHash('sha256')
    .update(`${thirdPartyId}/${parserId}`)
    .digest('hex')
    .slice(0, HASH_LENGTH);
  const tp = thirdPartyId.replace(/^[.-]+/, '');
  const tag = [tp, parserId, idHash, content].filter((part) => part !== '').join('-');
  return tag.length <= MAX_TAG_LENGTH
    ? tag
    : [tp.slice(0, 50), parserId.slice(0, 50), idHash, content].join('-');
}

/** `{registry}/{repository}:{tag}`: the image reference a build pushes. */
export function imageReferenceFor(
  request: Pick<BuildRequest, 'thirdPartyId' | 'parserId' | 'contentHash'>,
  options: Pick<JobSpecOptions, 'registry' | 'repository'>,
): string {
  return `${options.registry}/${options.repository}:${imageTagFor(request)}`;
}

/** The values a template's placeholders are filled with (see TEMPLATE_VARIABLES). */
export function templateValuesFor(request: BuildRequest, options: JobSpecOptions): TemplateValues {
  const contentHash = request.contentHash.toLowerCase();
  return {
    thirdPartyId: request.thirdPartyId,
    parserId: request.parserId,
    contentHash,
    hash8: contentHash.slice(0, HASH_LENGTH),
    requestId: requestIdOf(request),
    bucket: options.bucket,
    registry: options.registry,
    repository: options.repository,
    buildContext:
      request.buildContext ?? `s3://${options.bucket}/build-context/${request.parserId}/context.tar.gz`,
    image: imageReferenceFor(request, options),
    namespace: options.namespace,
  };
}

/** The tracking labels of a request's Job and Pods. */
export function jobLabelsFor(
  request: BuildRequest,
  options: Pick<JobSpecOptions, 'labelPrefix' | 'instance'>,
): Record<string, string> {
  const keys = labelKeys(options.labelPrefix);
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    [keys.instance]: labelValue(options.instance),
    [keys.thirdPartyId]: labelValue(request.thirdPartyId),
    [keys.parserId]: labelValue(request.parserId),
    [keys.requestId]: labelValue(requestIdOf(request)),
    [keys.contentHash]: contentTag(request.contentHash),
  };
}

const RESTRICTED_POD: V1PodSecurityContext = {
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The restricted container security context, under what the template says (the template wins field
 * by field; `capabilities` as a whole). `allowPrivilegeEscalation: false` is left out where the API
 * server would reject it (privileged, or CAP_SYS_ADMIN added).
 */
function restrictContainer(container: V1Container): V1Container {
  const own: V1SecurityContext = container.securityContext ?? {};
  const adds = own.capabilities?.add ?? [];
  const escalationImplied = own.privileged === true || adds.some((cap) => /^(CAP_)?SYS_ADMIN$/.test(cap));
  return {
    ...container,
    securityContext: {
      ...(escalationImplied ? {} : { allowPrivilegeEscalation: false }),
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
      ...own,
    },
  };
}

/** The template's own labels, made valid label values (a placeholder may have filled one). */
function validLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).map(([key, value]) => [key, labelValue(value)]));
}

/**
 * Env names a request may not set unless its template allows them: they would redirect credentials
 * (AWS_*), traffic (*_PROXY, any case) or registry authentication (DOCKER_CONFIG) of the build.
 */
export const RESERVED_ENV: readonly RegExp[] = [/^AWS_/i, /_PROXY$/i, /^DOCKER_CONFIG$/i];

/** The `kjl.dev/allowed-env` directive: names separated by commas or spaces, `PREFIX_*` for a prefix. */
function envAllowlist(directive: string | undefined): (name: string) => boolean {
  const entries = (directive ?? '').split(/[\s,]+/).filter(Boolean);
  return (name) =>
    entries.some((entry) => (entry.endsWith('*') ? name.startsWith(entry.slice(0, -1)) : name === entry));
}

/** A literal value in env: `$` doubled so that Kubernetes does not expand `$(VAR)` in it. */
function literal(value: string): string {
  return value.replace(/\$/g, '$$$$');
}

/**
 * The Job for `request`, from `template`. Pure: no client, no I/O.
 *
 * Request values reach the Job only through placeholders (filled inside string values of the parsed
 * template), labels and annotations (sanitised), the main container's env (appended, values kept
 * literal) and its resources (requests and limits both set to the requested cpu/memory).
 *
 * Throws PermanentBuildError `KJL_ENV_CONFLICT` when the request sets an env variable the template
 * already defines for the main container (the template's value is never overridden), and
 * `KJL_ENV_NOT_ALLOWED` when it sets a reserved one (credentials, proxies, registry auth: see
 * RESERVED_ENV) or, while the main container takes env from a ConfigMap or Secret (`envFrom`), any
 * one — unless the template's `kjl.dev/allowed-env` directive lists it.
 */
export function buildJob(request: BuildRequest, template: JobTemplate, options: JobSpecOptions): V1Job {
  const values = templateValuesFor(request, options);
  const job = mapStrings(template.manifest, (text) => fillPlaceholders(text, values)) as V1Job;
  const labels = jobLabelsFor(request, options);
  const annotationKey = annotationKeys(options.labelPrefix);

  const templateAnnotations = { ...job.metadata?.annotations };
  const image = templateAnnotations[TEMPLATE_DIRECTIVES.image];
  const allowedEnv = envAllowlist(templateAnnotations[TEMPLATE_DIRECTIVES.allowedEnv]);
  delete templateAnnotations[TEMPLATE_DIRECTIVES.image];
  delete templateAnnotations[TEMPLATE_DIRECTIVES.mainContainer];
  delete templateAnnotations[TEMPLATE_DIRECTIVES.allowedEnv];

  job.apiVersion = 'batch/v1';
  job.kind = 'Job';
  job.metadata = {
    ...job.metadata,
    name: jobNameFor(request, options.instance),
    namespace: options.namespace,
    labels: { ...validLabels(job.metadata?.labels), ...labels },
    annotations: {
      ...templateAnnotations,
      [annotationKey.contentHash]: values.contentHash,
      [annotationKey.template]: template.name,
      [annotationKey.mainContainer]: template.mainContainer,
      [annotationKey.thirdPartyId]: request.thirdPartyId,
      [annotationKey.parserId]: request.parserId,
      ...(image ? { [annotationKey.image]: image } : {}),
    },
  };

  // validated at load: spec.template.spec with at least one container
  const spec = job.spec!;
  spec.backoffLimit ??= 0;
  spec.activeDeadlineSeconds = Math.min(
    spec.activeDeadlineSeconds ?? options.activeDeadlineSeconds,
    options.activeDeadlineSeconds,
  );
  spec.ttlSecondsAfterFinished = options.ttlSecondsAfterFinished;
  spec.template.metadata = {
    ...spec.template.metadata,
    labels: { ...validLabels(spec.template.metadata?.labels), ...labels },
  };

  const pod = spec.template.spec!;
  pod.restartPolicy ??= 'Never';
  pod.serviceAccountName ??= options.serviceAccount;
  pod.automountServiceAccountToken ??= false;
  pod.securityContext = { ...RESTRICTED_POD, ...pod.securityContext };
  pod.containers = pod.containers.map(restrictContainer);
  if (pod.initContainers) pod.initContainers = pod.initContainers.map(restrictContainer);
  const nodeSelector = { ...pod.nodeSelector, ...options.nodeSelector };
  if (Object.keys(nodeSelector).length > 0) pod.nodeSelector = nodeSelector;
  if (options.tolerations?.length) pod.tolerations = [...(pod.tolerations ?? []), ...options.tolerations];
  if (options.priorityClassName) pod.priorityClassName = options.priorityClassName;
  const pullSecrets = new Set((pod.imagePullSecrets ?? []).map((secret) => secret.name));
  const addedSecrets = (options.imagePullSecrets ?? []).filter((name) => !pullSecrets.has(name));
  if (addedSecrets.length) {
    pod.imagePullSecrets = [...(pod.imagePullSecrets ?? []), ...addedSecrets.map((name) => ({ name }))];
  }
  if (options.runtimeClassName) pod.runtimeClassName = options.runtimeClassName;

  const main =
    pod.containers.find((container) => container.name === template.mainContainer) ?? pod.containers[0]!;
  const requestEnv = Object.entries(request.env ?? {});
  if (requestEnv.length > 0) {
    const context = { template: template.name, container: main.name, requestId: values.requestId };
    const fromSources = (main.envFrom?.length ?? 0) > 0;
    const refused = requestEnv
      .map(([name]) => name)
      .filter(
        (name) => (fromSources || RESERVED_ENV.some((reserved) => reserved.test(name))) && !allowedEnv(name),
      );
    if (refused.length > 0) {
      const why = fromSources
        ? `could override what template ${template.name} takes from a ConfigMap or Secret (envFrom)`
        : 'reserved (credentials, proxies, registry auth)';
      throw new PermanentBuildError(
        'KJL_ENV_NOT_ALLOWED',
        `env ${refused.join(', ')}: ${why}; a template allows names with the ${TEMPLATE_DIRECTIVES.allowedEnv} directive`,
        { context },
      );
    }
    const taken = new Set((main.env ?? []).map((entry) => entry.name));
    const conflicts = requestEnv.map(([name]) => name).filter((name) => taken.has(name));
    if (conflicts.length > 0) {
      throw new PermanentBuildError(
        'KJL_ENV_CONFLICT',
        `env ${conflicts.join(', ')} ${conflicts.length === 1 ? 'is' : 'are'} set by template ${template.name} and cannot be overridden`,
        { context },
      );
    }
    main.env = [...(main.env ?? []), ...requestEnv.map(([name, value]) => ({ name, value: literal(value) }))];
  }
  const { cpu, memory } = request.resources ?? {};
  if (cpu !== undefined || memory !== undefined) {
    const override = { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) };
    main.resources = {
      ...main.resources,
      requests: { ...main.resources?.requests, ...override },
      limits: { ...main.resources?.limits, ...override },
    };
  }
  return job;
}

/** The image reference a built Job pushes (`{prefix}/image`), when its template declares one. */
export function imageOf(job: V1Job, labelPrefix: string): string | undefined {
  return job.metadata?.annotations?.[annotationKeys(labelPrefix).image];
}

/** The main container of a built Job (`{prefix}/main-container`), else its first container. */
export function mainContainerOf(job: V1Job, labelPrefix: string): string | undefined {
  return (
    job.metadata?.annotations?.[annotationKeys(labelPrefix).mainContainer] ??
    job.spec?.template.spec?.containers[0]?.name
  );
}
