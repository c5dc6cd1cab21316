import { fileURLToPath } from 'node:url';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, ResourceQuota, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments, parse, stringify } from 'yaml';
import { runCommand } from './cli.js';

/** The chart's folder. */
export const CHART = fileURLToPath(new URL('../../helm/kube-job-launcher', import.meta.url));
/** Values with every option on. */
export const ALL_OPTIONS = `${CHART}/ci/all-options-values.yaml`;

/** A rendered object (apiVersion, kind, metadata and the rest). */
export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** Runs the real `helm` (PATH: scripts/env.sh puts it there). Missing, it is a failure, not a skip. */
export async function helm(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    return await runCommand('helm', args);
  } catch (error) {
    throw new Error(
      `helm is not on the PATH (${(error as Error).message}): run ./scripts/test.sh, which installs it, or put it on the PATH`,
      { cause: error },
    );
  }
}

/** `helm template` of the chart; throws with helm's message when it refuses the values. */
export async function renderChart(
  args: string[] = [],
  release = 'kjl',
  namespace = 'kjl',
): Promise<KubeManifest[]> {
  const result = await helm(['template', release, CHART, '--namespace', namespace, ...args]);
  if (result.code !== 0)
    throw new Error(`helm template failed (${result.code}): ${helmErrors(result.stderr)}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as KubeManifest | null)
    .filter((object): object is KubeManifest => object !== null);
}

/** helm's stderr without its notes about the chart's symbolic links (files/ links into the repository). */
export function helmErrors(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.trim() && !line.includes('found symbolic link in path'))
    .join('\n');
}

export function find(objects: KubeManifest[], kind: string, name?: string): KubeManifest[] {
  return objects.filter(
    (object) => object.kind === kind && (name === undefined || object.metadata.name === name),
  );
}

/** The schema classes of every kind the chart renders. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ResourceQuota': ResourceQuota,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};
const CUSTOM_GROUPS = new Set(['monitoring.coreos.com/v1']);

/** Paths of `original` that `kept` lacks: the fields a round trip through the typed models dropped. */
function dropped(original: unknown, kept: unknown, path: string): string[] {
  if (Array.isArray(original)) {
    return original.flatMap((item, index) =>
      dropped(item, (kept as unknown[] | undefined)?.[index], `${path}[${index}]`),
    );
  }
  if (original && typeof original === 'object') {
    return Object.entries(original).flatMap(([key, value]) => {
      const here = path ? `${path}.${key}` : key;
      const other = (kept as Record<string, unknown> | undefined)?.[key];
      return other === undefined && value !== undefined && value !== null
        ? [here]
        : dropped(value, other, here);
    });
  }
  return [];
}

/**
 * What is wrong with a rendered object by the Kubernetes schemas: the kubernetes-models (and
 * prometheus-operator models) validation — types, required fields, formats — and, for the built-in
 * kinds, the fields the API's typed models do not know (a misspelt `securityContex` is dropped by
 * client-node's serializer: the API server would ignore or refuse it). Empty when it is valid.
 */
export function schemaProblems(object: KubeManifest): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[key];
  const where = `${object.kind}/${object.metadata?.name}`;
  if (!Model) return [`${where}: no schema for ${key}`];
  const problems: string[] = [];
  try {
    new Model(object as never).validate();
  } catch (error) {
    problems.push(`${where}: ${(error as Error).message}`);
  }
  if (!CUSTOM_GROUPS.has(object.apiVersion)) {
    const roundTrip: unknown = parse(dumpYaml(loadYaml(stringify(object))));
    problems.push(...dropped(object, roundTrip, '').map((path) => `${where}: unknown field ${path}`));
  }
  return problems;
}
