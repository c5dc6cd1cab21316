import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { instanceSelector } from '../../src/k8s/labels.js';
import {
  createSetup,
  ofType,
  startBaseInfra,
  startLauncher,
  type BaseInfra,
  type Setup,
} from '../support/stack.js';

/**
 * The lifecycle scenarios against a real cluster (kind, minikube, …): run by test/e2e/run.sh, which
 * sets KJL_E2E_KUBECONFIG, or skips and says so when there is no cluster. Redis and SQS are the
 * tests' own; every run works in a namespace of its own, deleted afterwards.
 */
const kubeconfigPath = process.env.KJL_E2E_KUBECONFIG!;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfigPath);
const core = kubeConfig.makeApiClient(CoreV1Api);
const batch = kubeConfig.makeApiClient(BatchV1Api);
const TEMPLATES = fileURLToPath(new URL('./templates', import.meta.url));
const namespaces: string[] = [];

let infra: BaseInfra;
let launcher: Runtime | undefined;

beforeAll(async () => {
  infra = await startBaseInfra(kubeconfigPath, async (name) => {
    await core.createNamespace({ body: { metadata: { name } } });
    namespaces.push(name);
  });
});
afterEach(async () => {
  await launcher?.stop();
  launcher = undefined;
});
afterAll(async () => {
  for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => {});
  await infra?.stop();
});

async function launch(env: Record<string, string> = {}): Promise<Setup> {
  const setup = await createSetup(infra, {
    KJL_TEMPLATES_DIR: TEMPLATES,
    KJL_TEMPLATES: 'e2e',
    KJL_DEFAULT_TEMPLATE: 'e2e',
    KJL_START_TIMEOUT_SECONDS: '180',
    ...env,
  });
  launcher = await startLauncher(setup);
  return setup;
}

const jobsOf = async (setup: Setup) =>
  (
    await batch.listNamespacedJob({
      namespace: setup.namespace,
      labelSelector: instanceSelector(setup.config.k8s.labelPrefix, setup.config.k8s.instance),
    })
  ).items;
let serial = 0;
const request = (parserId: string, env: Record<string, string> = {}) => ({
  thirdPartyId: 'e2e',
  parserId,
  contentHash: `${(++serial).toString(16).padStart(4, '0')}e2e0e2e0`,
  ...(Object.keys(env).length ? { env } : {}),
});

describe('against a real cluster', () => {
  it('runs a build to success and keeps its Job for the TTL', async () => {
    const setup = await launch();
    const build = request('ok');
    await setup.publish([build]);
    const events = await setup.waitForEvents(
      'success',
      (all) => ofType(all, 'succeeded').length === 1,
      180_000,
    );
    expect(ofType(events, 'succeeded')[0]!.data.jobName).toBe(jobNameFor(build, setup.config.k8s.instance));
    const [job] = await jobsOf(setup);
    expect(job?.spec?.ttlSecondsAfterFinished).toBe(86_400);
  });

  it('reports a failing build with its exit code and log, and deletes its Job', async () => {
    const setup = await launch();
    const build = request('fails', { EXIT_CODE: '3' });
    await setup.publish([build]);
    const events = await setup.waitForEvents('failure', (all) => ofType(all, 'failed').length === 1, 180_000);
    expect(ofType(events, 'failed')[0]!.data).toMatchObject({
      reason: 'Error',
      exitCode: 3,
      willRetry: false,
    });
    const status = await launcher!.service.status(requestIdOf(build));
    expect(status.outcome?.status === 'failed' ? status.outcome.logTail : []).toContain('exiting with 3');
    expect(await jobsOf(setup)).toEqual([]);
  });

  it('runs the same request sent twice as one Job, and never more Jobs than the limit', async () => {
    const setup = await launch({ KJL_MAX_CONCURRENT_JOBS: '2' });
    const builds = [
      request('slow-a', { SLEEP: '5' }),
      request('slow-b', { SLEEP: '5' }),
      request('slow-c', { SLEEP: '5' }),
    ];
    await setup.publish([...builds, builds[0]!]);
    let most = 0;
    const done = setup.waitForEvents('all three', (all) => ofType(all, 'succeeded').length === 3, 300_000);
    const poll = setInterval(async () => {
      const active = (await jobsOf(setup)).filter((job) => !job.status?.completionTime).length;
      most = Math.max(most, active);
    }, 250);
    try {
      await done;
    } finally {
      clearInterval(poll);
    }
    expect(most).toBeLessThanOrEqual(2);
    expect((await jobsOf(setup)).map((job) => job.metadata?.name).sort()).toEqual(
      builds.map((build) => jobNameFor(build, setup.config.k8s.instance)).sort(),
    );
  });
});
