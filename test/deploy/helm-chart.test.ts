import { readFileSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1Deployment, V1PodSpec } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { renderValuesTable, type ValuesSchema } from '../../src/config/docs.js';
import { SETTINGS } from '../../src/config/settings.js';
import {
  ALL_OPTIONS,
  CHART,
  find,
  helm,
  helmErrors,
  renderChart,
  schemaProblems,
  type KubeManifest,
} from '../support/helm.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let defaults: KubeManifest[];
let allOptions: KubeManifest[];
beforeAll(async () => {
  [defaults, allOptions] = await Promise.all([renderChart(), renderChart(['-f', ALL_OPTIONS])]);
});

const deployments = (objects: KubeManifest[]) => find(objects, 'Deployment') as unknown as V1Deployment[];
const podSpec = (deployment: V1Deployment): V1PodSpec => deployment.spec!.template.spec!;
const kjlContainer = (deployment: V1Deployment): V1Container => podSpec(deployment).containers[0]!;
const envOf = (deployment: V1Deployment) =>
  Object.fromEntries((kjlContainer(deployment).env ?? []).map((entry) => [entry.name, entry]));

describe('helm lint --strict', () => {
  it.each([
    ['the default values', []],
    ['every option on', ['-f', ALL_OPTIONS]],
  ])('passes with %s', async (_what, args) => {
    const result = await helm(['lint', '--strict', CHART, ...args]);
    expect(helmErrors(result.stdout + result.stderr)).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(result.code).toBe(0);
  });
});

describe('helm template', () => {
  it('renders, with every option on, every kind the chart has', () => {
    const kinds = (objects: KubeManifest[]) =>
      objects.map((object) => object.kind).sort((a, b) => a.localeCompare(b));
    expect(kinds(defaults)).toEqual([
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
    ]);
    expect(kinds(allOptions)).toEqual([
      'ConfigMap',
      'Deployment',
      'Deployment',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PodDisruptionBudget',
      'PrometheusRule',
      'ResourceQuota',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
  });

  it('renders only objects valid by the Kubernetes schemas (kubernetes-models, prometheus-operator)', () => {
    expect([...defaults, ...allOptions].flatMap(schemaProblems)).toEqual([]);
  });

  it('would catch an invalid object: a wrong type, a missing field, a misspelt one', () => {
    const deployment = structuredClone(find(defaults, 'Deployment')[0]!) as KubeManifest & {
      spec: Record<string, unknown> & { template: { spec: Record<string, unknown> } };
    };
    deployment.spec.replicas = 'two';
    deployment.spec.template.spec.securityContex = { runAsNonRoot: true };
    delete deployment.spec.selector;
    const problems = schemaProblems(deployment);
    expect(problems).toContain(
      'Deployment/kjl-kube-job-launcher: unknown field spec.template.spec.securityContex',
    );
    expect(problems.join('\n')).toMatch(/data\/spec must have required property selector/);
    expect(problems.join('\n')).toMatch(/spec\/replicas must be integer/);
  });

  it('runs kjl start as a non-root user with a read-only root filesystem, no capabilities and RuntimeDefault seccomp', () => {
    for (const deployment of [...deployments(defaults), ...deployments(allOptions)]) {
      const pod = podSpec(deployment);
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.securityContext!.runAsUser).toBeGreaterThan(0);
      expect(kjlContainer(deployment).securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      // nothing is written outside /tmp, an emptyDir
      expect(kjlContainer(deployment).volumeMounts).toEqual([
        { name: 'templates', mountPath: '/etc/kjl/templates', readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
      ]);
      expect(kjlContainer(deployment).args).toBeUndefined(); // the image's entrypoint: kjl start
    }
  });

  it('probes /healthz (liveness) and /readyz (readiness), and gives kjl longer to stop than its own deadline', () => {
    for (const objects of [defaults, allOptions]) {
      for (const deployment of deployments(objects)) {
        const container = kjlContainer(deployment);
        expect(container.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
        expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
        const deadline = Number(envOf(deployment).KJL_SHUTDOWN_TIMEOUT_SECONDS!.value);
        expect(podSpec(deployment).terminationGracePeriodSeconds).toBeGreaterThan(deadline);
      }
    }
    expect(podSpec(deployments(defaults)[0]!).terminationGracePeriodSeconds).toBe(45);
    expect(podSpec(deployments(allOptions)[0]!).terminationGracePeriodSeconds).toBe(90);
  });

  it('spreads the pods over nodes and zones, and splits into intake and worker Deployments on request', () => {
    const [single] = deployments(defaults);
    expect(single!.spec!.replicas).toBe(2);
    expect(envOf(single!).KJL_ROLE!.value).toBe('all');
    expect(podSpec(single!).topologySpreadConstraints?.map((constraint) => constraint.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    const split = deployments(allOptions);
    expect(
      split.map((deployment) => [
        deployment.metadata!.name,
        envOf(deployment).KJL_ROLE!.value,
        deployment.spec!.replicas,
      ]),
    ).toEqual([
      ['kjl-intake', 'intake', 2],
      ['kjl-worker', 'worker', 3],
    ]);
    for (const deployment of split) {
      const selector = deployment.spec!.selector.matchLabels!;
      expect(deployment.spec!.template.metadata!.labels).toMatchObject(selector);
      for (const constraint of podSpec(deployment).topologySpreadConstraints ?? []) {
        expect(constraint.labelSelector!.matchLabels).toEqual(selector);
      }
    }
    const budgets = find(allOptions, 'PodDisruptionBudget') as unknown as { spec: { selector: unknown } }[];
    expect(budgets.map((budget) => budget.spec.selector)).toEqual(
      split.map((deployment) => deployment.spec!.selector),
    );
  });

  it('sets only settings kjl reads, and they load as a valid configuration', () => {
    const known = new Set<string>(SETTINGS.map((setting) => setting.env));
    for (const [objects, secretValues] of [
      [defaults, { 'redis-url': 'redis://redis-master:6379' }],
      [allOptions, { 'redis-url': 'rediss://redis.example.com:6380', 'api-token': 't0ken-of-the-api-0123' }],
    ] as const) {
      for (const deployment of deployments(objects)) {
        const env = kjlContainer(deployment).env ?? [];
        expect(env.map((entry) => entry.name).filter((name) => !known.has(name))).toEqual([]);
        const values: Record<string, string> = {};
        for (const entry of env) {
          const fromSecret = entry.valueFrom?.secretKeyRef?.key;
          const value = fromSecret ? (secretValues as Record<string, string>)[fromSecret] : entry.value;
          if (value !== undefined) values[entry.name] = value;
        }
        // the worker role needs no queue URL; the others have one with every option on
        if (objects === allOptions) expect(() => loadConfig(values, {}, 'service')).not.toThrow();
        else expect(() => loadConfig(values)).not.toThrow();
      }
    }
    const env = envOf(deployments(allOptions)[1]!);
    expect(env.KJL_NODE_SELECTOR!.value).toBe('disktype=ssd,node.kubernetes.io/pool=builds');
    expect(JSON.parse(env.KJL_TOLERATIONS!.value!)).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'builds', effect: 'NoSchedule' },
    ]);
    expect(env.KJL_IMAGE_PULL_SECRETS!.value).toBe('registry-a,registry-b');
    expect(env.KJL_PRIORITY_CLASS!.value).toBe('batch-low');
    expect(env.KJL_RUNTIME_CLASS!.value).toBe('gvisor');
    expect(env.KJL_SERVICE_ACCOUNT!.value).toBe('kjl-builder');
    expect(env.KJL_NAMESPACE!.value).toBe('builds');
    expect(env.KJL_REDIS_URL!.valueFrom?.secretKeyRef).toEqual({ name: 'kjl-credentials', key: 'redis-url' });
    for (const name of ['KJL_API_TOKEN', 'KJL_DASHBOARD_USER', 'KJL_DASHBOARD_PASSWORD']) {
      expect(env[name]!.valueFrom?.secretKeyRef).toMatchObject({ name: 'kjl-credentials', optional: true });
    }
  });

  it('puts the Role and its binding in the build namespace, for kjl’s ServiceAccount in the release namespace', () => {
    const [binding] = find(allOptions, 'RoleBinding') as unknown as {
      metadata: { namespace: string };
      subjects: unknown[];
      roleRef: { name: string };
    }[];
    expect(binding!.metadata.namespace).toBe('builds');
    expect(binding!.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kjl-launcher', namespace: 'kjl' }]);
    expect(find(allOptions, 'Role')[0]!.metadata.namespace).toBe('builds');
    const accounts = find(allOptions, 'ServiceAccount');
    expect(
      accounts.map((account) => [
        account.metadata.namespace,
        account.metadata.name,
        account.metadata.annotations,
      ]),
    ).toEqual([
      [
        'builds',
        'kjl-builder',
        { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/kjl-builder' },
      ],
      [
        'kjl',
        'kjl-launcher',
        { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/kjl-launcher' },
      ],
    ]);
    expect(find(allOptions, 'ResourceQuota')[0]).toMatchObject({
      metadata: { namespace: 'builds' },
      spec: { hard: { pods: '30' } },
    });
  });

  it('renders the alert rules file as it is into the PrometheusRule', async () => {
    // the chart's files are links to the sources, never copies that drift
    expect(await realpath(join(CHART, 'files/alerts.yaml'))).toBe(join(ROOT, 'prometheus/alerts.yaml'));
    const source = parse(await readFile(join(ROOT, 'prometheus/alerts.yaml'), 'utf8')) as unknown;
    expect(find(allOptions, 'PrometheusRule')[0]!.spec).toEqual(source);
  });

  it('ships the package’s Job templates in the ConfigMap by default, and the given ones otherwise', async () => {
    const bundled: Record<string, string> = {};
    for (const file of await readdir(join(ROOT, 'templates'))) {
      expect(await realpath(join(CHART, 'files/templates', file))).toBe(join(ROOT, 'templates', file));
      bundled[file] = (await readFile(join(ROOT, 'templates', file), 'utf8')).trimEnd() + '\n';
    }
    expect(find(defaults, 'ConfigMap')[0]!.data).toEqual(bundled);
    expect(Object.keys(find(allOptions, 'ConfigMap')[0]!.data as object)).toEqual([
      'custom.yaml',
      'generic.yaml',
      'kaniko.yaml',
    ]);
  });

  it.each([
    [['--set', 'replicas=two'], /replicas: Invalid type. Expected: integer, given: string/],
    [['--set', 'replica=3'], /Additional property replica is not allowed/],
    [['--set', 'config.sqsQueueUrl=sqs://nope'], /config\.sqsQueueUrl: Does not match pattern/],
    [['--set', 'builds.tolerations[0].effect=Sometimes'], /builds\.tolerations\.0\.effect/],
    [
      ['--set', 'terminationGracePeriodSeconds=20'],
      /terminationGracePeriodSeconds \(20\) must be above config\.shutdownTimeoutSeconds \(30\)/,
    ],
    [
      ['--set', 'config.templates={kaniko,missing}'],
      /config\.templates names "missing", but jobTemplates has no such template \(it has: generic\.yaml, kaniko\.yaml\)/,
    ],
    [
      ['--set', 'config.defaultTemplate=generic', '--set', 'config.templates={kaniko}'],
      /config\.defaultTemplate "generic" must be one of config\.templates \(kaniko\)/,
    ],
    [['--set', 'secrets.redisUrl='], /secrets\.redisUrl is required when secrets\.existingSecret is empty/],
    [['--set', 'secrets.apiToken=short'], /secrets\.apiToken: Does not match pattern/],
  ])('refuses bad values with a message naming the value: %j', async (args, message) => {
    await expect(renderChart(args)).rejects.toThrow(message);
  });
});

describe('the values table', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as ValuesSchema;

  it('in the chart README is the one generated from values.schema.json (npm run docs)', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const start = '<!-- values-table:start -->';
    const table = readme.slice(
      readme.indexOf(start) + start.length,
      readme.indexOf('<!-- values-table:end -->'),
    );
    expect(table.trim()).toBe(renderValuesTable(schema));
  });

  it('has the defaults of values.yaml, one row for each of its values', () => {
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const fromSchema: Record<string, unknown> = {};
    const walk = (node: ValuesSchema, path: string[], into: Record<string, unknown>) => {
      if (node.type === 'object' && node.properties && !('default' in node)) {
        for (const [key, child] of Object.entries(node.properties)) {
          const nested = (into[key] ??= {}) as Record<string, unknown>;
          if (child.type === 'object' && child.properties && !('default' in child))
            walk(child, [...path, key], nested);
          else into[key] = child.default;
        }
      }
    };
    walk(schema, [], fromSchema);
    expect(fromSchema).toEqual(values);
  });
});
