import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, RbacAuthorizationV1Api, type V1Role, type V1RoleBinding } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { AccessRecord } from '../../src/dev/sim-cluster/index.js';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { labelKeys, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/k8s/labels.js';
import { runKjl, spawnKjl, type KjlProcess } from '../support/cli.js';
import { writeConfigMapVolume } from '../support/configmap-volume.js';
import { find, renderChart, type KubeManifest } from '../support/helm.js';
import { inClusterEnv, writeServiceAccountFiles } from '../support/in-cluster.js';
import {
  createSetup,
  ofType,
  startBaseInfra,
  TEST_RULES,
  type BaseInfra,
  type Setup,
} from '../support/stack.js';
import { makeCertificates } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

/**
 * The chart's RBAC is exactly what kjl needs. The simulated API server authenticates kjl's service
 * account and authorizes it with the chart's rendered Role and RoleBinding; kjl runs with the
 * chart's rendered settings and Job templates and the in-cluster configuration (token, CA and
 * namespace files, KUBERNETES_SERVICE_HOST/PORT) over verified TLS, through every lifecycle
 * scenario, with its one-shot commands run the same way. Then the access log must show no call
 * denied, and every verb of every rule of the Role used.
 */

const RELEASE_NAMESPACE = 'kjl';
const BUILD_NAMESPACE = 'builds';
/** The chart's full name for the release `kjl`: its ServiceAccount and Role are called so. */
const FULLNAME = 'kjl-kube-job-launcher';
const USER = `system:serviceaccount:${RELEASE_NAMESPACE}:${FULLNAME}`;
const TOKEN = 'kjl-service-account-token';

let cluster: SimCluster;
let infra: BaseInfra;
let setup: Setup;
let config: Config;
let dir: string;
let env: Record<string, string>;
let role: V1Role;
let kjl: KjlProcess | undefined;

/** The container env of a rendered Deployment, with its Secret's values filled in. */
function deploymentEnv(objects: KubeManifest[]): Record<string, string> {
  const secret = find(objects, 'Secret')[0] as unknown as { data: Record<string, string> };
  const [deployment] = find(objects, 'Deployment') as unknown as {
    spec: {
      template: {
        spec: {
          containers: {
            env: { name: string; value?: string; valueFrom?: { secretKeyRef: { key: string } } }[];
          }[];
        };
      };
    };
  }[];
  const values: Record<string, string> = {};
  for (const entry of deployment!.spec.template.spec.containers[0]!.env) {
    const key = entry.valueFrom?.secretKeyRef.key;
    const encoded = key ? secret.data[key] : undefined;
    if (entry.value !== undefined) values[entry.name] = entry.value;
    else if (encoded) values[entry.name] = Buffer.from(encoded, 'base64').toString('utf8');
  }
  return values;
}

function start(): KjlProcess {
  kjl = spawnKjl(['start'], { env, cwd: dir });
  return kjl;
}

/** A one-shot command as an operator runs it in a kjl pod: the same settings and service account. */
async function command(args: string[]): Promise<string> {
  const result = await runKjl(args, { env, cwd: dir });
  expect(result.stderr, `kjl ${args.join(' ')}`).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-chart-rbac-'));
  const certificates = await makeCertificates();
  cluster = await startSimCluster({
    auth: { tokens: { [TOKEN]: { namespace: RELEASE_NAMESPACE, serviceAccount: FULLNAME } } },
    tls: certificates,
    rules: TEST_RULES,
    kubeconfigPath: join(dir, 'admin-kubeconfig'),
  });
  for (const name of [RELEASE_NAMESPACE, BUILD_NAMESPACE]) {
    cluster.store.create('namespaces', { metadata: { name }, status: { phase: 'Active' } });
  }
  infra = await startBaseInfra(join(dir, 'admin-kubeconfig'), async () => {});
  setup = await createSetup(infra, {}, { namespace: BUILD_NAMESPACE });

  const objects = await renderChart(
    [
      ['builds.namespace', BUILD_NAMESPACE],
      ['config.sqsQueueUrl', setup.queueUrl],
      ['config.sqsDlqUrl', setup.env.KJL_SQS_DLQ_URL!],
      ['config.sqsEndpoint', infra.sqs.endpoint],
      ['config.eventsSink', setup.eventsUrl],
      ['secrets.redisUrl', infra.redis.url],
      ['builds.nodeSelector.disktype', 'ssd'],
      ['builds.priorityClassName', 'batch-low'],
      ['builds.runtimeClassName', 'gvisor'],
      ['builds.imagePullSecrets[0]', 'registry-a'],
      ['builds.tolerations[0].key', 'dedicated'],
      ['builds.tolerations[0].operator', 'Exists'],
      ['builds.tolerations[0].effect', 'NoSchedule'],
      ['extraEnv.KJL_QUEUE_NAME', setup.config.queue.name],
      ['extraEnv.KJL_SQS_WAIT_SECONDS', '1'],
      ['extraEnv.KJL_START_TIMEOUT_SECONDS', '2'],
      ['extraEnv.KJL_SWEEP_INTERVAL_SECONDS', '1'],
      ['extraEnv.KJL_WORKER_LOCK_SECONDS', '2'],
      ['extraEnv.KJL_FAILURE_BACKOFF_SECONDS', '1'],
    ]
      .flatMap(([key, value]) => ['--set-string', `${key}=${value}`])
      .concat(['--set', 'config.maxConcurrentJobs=4']),
    'kjl',
    RELEASE_NAMESPACE,
  );

  // the chart's Role and RoleBinding, as an admin applies them
  const admin = new KubeConfig();
  admin.loadFromString(cluster.kubeconfig);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  role = find(objects, 'Role')[0] as unknown as V1Role;
  await rbac.createNamespacedRole({ namespace: BUILD_NAMESPACE, body: role });
  const binding = find(objects, 'RoleBinding')[0] as unknown as V1RoleBinding;
  await rbac.createNamespacedRoleBinding({ namespace: BUILD_NAMESPACE, body: binding });

  // the chart's ConfigMap, mounted as the kubelet mounts it; the pod's service-account files
  const templates = find(objects, 'ConfigMap')[0] as unknown as { data: Record<string, string> };
  await writeConfigMapVolume(join(dir, 'templates'), templates.data);
  const root = join(dir, 'pod');
  await writeServiceAccountFiles(root, { token: TOKEN, ca: certificates.ca, namespace: RELEASE_NAMESPACE });

  env = {
    ...deploymentEnv(objects),
    ...inClusterEnv(cluster.url),
    KJL_IN_CLUSTER_ROOT: root,
    KJL_TEMPLATES_DIR: join(dir, 'templates'),
    KJL_HTTP_PORT: '0',
    KJL_LOG_LEVEL: 'info',
    KUBECONFIG: '',
    KJL_KUBECONFIG: '',
  };
  config = loadConfig(env);
  expect(config.k8s.namespace).toBe(BUILD_NAMESPACE);
  await start().waitFor(/kjl started/);
});

afterAll(async () => {
  await kjl?.stop('SIGKILL');
  await infra?.stop();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

const build = (parserId: string, n: number) => ({
  thirdPartyId: 'deploy',
  parserId,
  contentHash: `${n}0cafebabe`,
});

describe('kjl deployed by the chart, in the cluster, with only its Role', () => {
  it('runs a build, on the nodes and with the pod settings the values chose', async () => {
    const ok = build('ok', 1);
    await setup.publish([ok]);
    await setup.waitForEvents('the build', (all) => ofType(all, 'succeeded', requestIdOf(ok)).length === 1);
    const job = cluster.store.get(
      'jobs',
      BUILD_NAMESPACE,
      jobNameFor(ok, config.k8s.instance),
    ) as unknown as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    expect(job.spec.template.spec).toMatchObject({
      serviceAccountName: `${FULLNAME}-build`,
      nodeSelector: { disktype: 'ssd' },
      tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'batch-low',
      runtimeClassName: 'gvisor',
      imagePullSecrets: [{ name: 'registry-a' }],
    });
  });

  it('reports a failure with its log tail', async () => {
    const broken = build('invalid-1', 2);
    await setup.publish([broken]);
    await setup.waitForEvents(
      'the failure',
      (all) => ofType(all, 'failed', requestIdOf(broken)).length === 1,
    );
    const status = JSON.parse(await command(['status', requestIdOf(broken), '--json'])) as {
      outcome: { reason: string; logTail: string[] };
    };
    expect(status.outcome.reason).toBe('Error');
    expect(status.outcome.logTail).toContain('npm ERR! code EJSONPARSE');
  });

  it('cancels a running build with kjl cancel', async () => {
    const long = build('long-1', 3);
    await setup.publish([long]);
    await setup.waitForEvents('the start', (all) => ofType(all, 'started', requestIdOf(long)).length === 1);
    expect(await command(['cancel', requestIdOf(long)])).toMatch(/cancelled; deleted Job/);
    await setup.waitForEvents(
      'the cancel',
      (all) => ofType(all, 'cancelled', requestIdOf(long)).length === 1,
    );
  });

  it('sweeps a Job no request knows and a pod whose Job is gone', async () => {
    const keys = labelKeys(config.k8s.labelPrefix);
    const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [keys.instance]: config.k8s.instance };
    cluster.store.create('jobs', {
      metadata: {
        name: 'build-left-over',
        namespace: BUILD_NAMESPACE,
        labels: { ...labels, [keys.requestId]: 'r0000000000000000000', [keys.attempt]: '1' },
      },
      spec: {
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
      },
    });
    cluster.store.create(
      'pods',
      {
        metadata: {
          name: 'build-gone-abcde',
          namespace: BUILD_NAMESPACE,
          labels: { ...labels, 'batch.kubernetes.io/job-name': 'build-gone' },
        },
        spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
      },
      Date.now() - 10 * 60_000,
    );
    await waitFor('the sweep', () =>
      cluster.store.tryGet('jobs', BUILD_NAMESPACE, 'build-left-over') ||
      cluster.store.tryGet('pods', BUILD_NAMESPACE, 'build-gone-abcde')
        ? undefined
        : true,
    );
  });

  it('adopts its running Job after a restart, with no second Job', async () => {
    const long = build('long-2', 4);
    await setup.publish([long]);
    await setup.waitForEvents('the start', (all) => ofType(all, 'started', requestIdOf(long)).length === 1);
    await kjl!.stop('SIGKILL');
    await start().waitFor(/kjl started/);
    await setup.waitForEvents(
      'the build',
      (all) => ofType(all, 'succeeded', requestIdOf(long)).length === 1,
      45_000,
    );
    expect(cluster.stats().jobsCreated[jobNameFor(long, config.k8s.instance)]).toBe(1);
    expect(kjl!.output()).toMatch(/job adopted/);
  });

  it('keeps a build whose pod the quota refuses waiting, says so, and runs it once quota frees', async () => {
    cluster.store.create('resourcequotas', {
      metadata: { name: 'build-quota', namespace: BUILD_NAMESPACE },
      spec: { hard: { pods: '0' } },
    });
    const waiting = build('quota', 5);
    await setup.publish([waiting]);
    const id = requestIdOf(waiting);
    await waitFor('kjl status to say it waits for quota', async () =>
      (await command(['status', id])).includes('waiting for quota (pods'),
    );
    await new Promise((resolve) => setTimeout(resolve, 2500)); // past the 2 s start timeout
    expect(ofType(setup.events, 'failed', id)).toEqual([]);
    cluster.store.remove('resourcequotas', BUILD_NAMESPACE, 'build-quota');
    await setup.waitForEvents('the build', (all) => ofType(all, 'succeeded', id).length === 1, 45_000);
  });

  it('made no call outside the Role, and used every verb of every rule in it', () => {
    const records: AccessRecord[] = cluster.access().filter((record) => record.user === USER);
    expect(records.filter((record) => !record.allowed)).toEqual([]);
    const unused: string[] = [];
    (role.rules ?? []).forEach((rule, index) => {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs) {
            const used = records.some(
              (record) =>
                record.verb === verb &&
                record.apiGroup === group &&
                record.resource === resource &&
                record.grantedBy.some((ref) => ref.name === FULLNAME && ref.rule === index),
            );
            if (!used) unused.push(`rule ${index}: ${verb} ${group ? `${group}/` : ''}${resource}`);
          }
        }
      }
    });
    expect(unused).toEqual([]);
  });
});
