import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { startSimCluster } from '../../src/dev/sim-cluster/index.js';
import { runKjl, spawnKjl } from '../support/cli.js';
import { inClusterEnv, writeServiceAccountFiles } from '../support/in-cluster.js';
import { createSetup, ofType, TEST_RULES, useStack } from '../support/stack.js';
import { makeCertificates } from '../support/tls.js';

/**
 * What the cluster can throw at a build: a failing container that logs megabytes on one line, a
 * cluster that lets pod GC delete a failed pod before the Job's `Failed` condition (Kubernetes
 * 1.30 and older), and a launcher with no Kubernetes configuration at all or only a pod's service
 * account. Judged from Redis, the events and the process itself.
 */

const stack = useStack();

describe('a failing build that logs 6 MiB on one line', () => {
  it('keeps a bounded log tail with the lines that tell why', async () => {
    stack.infra.cluster.controllers.setRules([
      {
        match: { labels: { 'kjl.dev/parser-id': 'biglog-*' } },
        action: 'fail',
        exitCode: 2,
        seconds: 1,
        logs: [
          { after: 0.1, text: 'x', repeat: 6 * 1024 * 1024 },
          { after: 0.2, text: 'npm ERR! the cause, after the flood' },
        ],
      },
      ...TEST_RULES,
    ]);
    try {
      const setup = await createSetup(stack.infra);
      await stack.launch(setup);
      const build = { thirdPartyId: 'logs', parserId: 'biglog-1', contentHash: '0001b16b16' };
      await setup.publish([build]);
      await setup.waitForEvents(
        'the failure',
        (all) => ofType(all, 'failed', requestIdOf(build)).length === 1,
      );
      const redis = new Redis(stack.infra.redis.url);
      try {
        const data = await redis.hget(`kjl:${setup.config.queue.name}:${requestIdOf(build)}`, 'data');
        expect(data).not.toBeNull();
        // the whole queue entry, request and outcome included, stays small
        expect(Buffer.byteLength(data!)).toBeLessThan(32 * 1024);
        const logTail = (JSON.parse(data!) as { outcome: { logTail: string[] } }).outcome.logTail;
        expect(logTail.at(-1)).toBe('npm ERR! the cause, after the flood');
        expect(Buffer.byteLength(logTail.join('\n'))).toBeLessThanOrEqual(16 * 1024);
      } finally {
        redis.disconnect();
      }
    } finally {
      stack.infra.cluster.controllers.setRules(TEST_RULES);
    }
  });
});

describe('a failed pod deleted by pod GC before the Job is marked Failed', () => {
  it.each(['preempt', 'evict'])('%s: the cause is kept, and the build is retried', async (kind) => {
    stack.infra.cluster.controllers.setSettings({
      jobConditions: '1.30',
      podGC: { terminated: 'immediate' },
    });
    try {
      const setup = await createSetup(stack.infra, {
        KJL_MAX_ATTEMPTS: '2',
        KJL_FAILURE_BACKOFF_SECONDS: '0',
      });
      await stack.launch(setup);
      const build = { thirdPartyId: 'podgc', parserId: `${kind}-gc`, contentHash: '0001c0ffee' };
      await setup.publish([build]);
      const events = await setup.waitForEvents(
        'both runs to fail',
        (all) => ofType(all, 'failed', requestIdOf(build)).length === 2,
        30_000,
      );
      const failures = ofType(events, 'failed', requestIdOf(build)).map((event) => event.data);
      const reason = kind === 'preempt' ? 'Preempted' : 'Evicted';
      expect(failures.map((data) => [data.reason, data.willRetry])).toEqual([
        [reason, true],
        [reason, false],
      ]);
    } finally {
      stack.infra.cluster.controllers.setSettings({});
    }
  });
});

describe('no Kubernetes configuration', () => {
  it('is one clear error, not a silent localhost:8080', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kjl-home-'));
    try {
      const setup = await createSetup(stack.infra);
      const { KJL_KUBECONFIG: _kubeconfig, ...env } = setup.env;
      const started = Date.now();
      const result = await runKjl(['start', '--role', 'worker', '--http-port', '0'], {
        env: { ...env, HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', KJL_IN_CLUSTER_ROOT: home },
      });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^kjl: KJL_K8S_CONFIG: no Kubernetes configuration/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("runs builds with a pod's service account: its token, CA and namespace files, over verified TLS", async () => {
    const certificates = await makeCertificates();
    const cluster = await startSimCluster({
      auth: { tokens: { 'kjl-sa-token': { namespace: 'builds', serviceAccount: 'kjl' } } },
      tls: certificates,
      rules: TEST_RULES,
    });
    const root = await mkdtemp(join(tmpdir(), 'kjl-pod-'));
    const child: { stop?: () => Promise<unknown> } = {};
    try {
      const admin = new KubeConfig();
      admin.loadFromString(cluster.kubeconfig);
      cluster.store.create('namespaces', { metadata: { name: 'builds' }, status: { phase: 'Active' } });
      const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace: 'builds',
        body: {
          metadata: { name: 'kjl' },
          rules: [{ apiGroups: ['', 'batch'], resources: ['*'], verbs: ['*'] }],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: 'builds',
        body: {
          metadata: { name: 'kjl' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kjl' },
          subjects: [{ kind: 'ServiceAccount', name: 'kjl', namespace: 'builds' }],
        },
      });
      await writeServiceAccountFiles(root, {
        token: 'kjl-sa-token',
        ca: certificates.ca,
        namespace: 'builds',
      });
      const setup = await createSetup(stack.infra, {}, { namespace: 'builds' });
      const { KJL_KUBECONFIG: _kubeconfig, ...env } = setup.env;
      const process = spawnKjl(['start', '--http-port', '0'], {
        env: { ...env, ...inClusterEnv(cluster.url), KJL_IN_CLUSTER_ROOT: root, KJL_LOG_LEVEL: 'info' },
      });
      child.stop = () => process.stop('SIGKILL');
      await process.waitFor(/kjl started/);
      const build = { thirdPartyId: 'pod', parserId: 'ok-sa', contentHash: '0001abcdef' };
      await setup.publish([build]);
      await setup.waitForEvents(
        'the build',
        (all) => ofType(all, 'succeeded', requestIdOf(build)).length === 1,
      );
      // every call came from the service account, none was refused
      const calls = cluster.access().filter((record) => record.user === 'system:serviceaccount:builds:kjl');
      expect(calls.some((record) => record.verb === 'create' && record.resource === 'jobs')).toBe(true);
      expect(cluster.access().filter((record) => !record.allowed)).toEqual([]);
    } finally {
      await child.stop?.();
      await cluster.stop();
      await rm(root, { recursive: true, force: true });
    }
  });
});
