import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  Watch,
  type V1Job,
  type V1PolicyRule,
  type RbacV1Subject,
} from '@kubernetes/client-node';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import { failure } from '../support/api-failure.js';
import { runCommand } from '../support/cli.js';
import { inClusterEnv, writeServiceAccountFiles } from '../support/in-cluster.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

const SA_USER = 'system:serviceaccount:builds:kjl';
const TOKENS = {
  'builder-token': { namespace: 'builds', serviceAccount: 'kjl' },
  'jane-token': { user: 'jane', groups: ['readers'] },
  'ops-token': { user: 'ops' },
};

const UNAUTHORIZED = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Unauthorized',
  reason: 'Unauthorized',
  code: 401,
};

function jobManifest(name: string): V1Job {
  return {
    metadata: { name },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
    },
  };
}

/** A KubeConfig for the cluster at `url` as a user with `token` (none: no Authorization header). */
function configFor(url: string, token?: string, ca?: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [
      {
        name: 'sim',
        server: url,
        ...(ca ? { caData: Buffer.from(ca).toString('base64') } : { skipTLSVerify: true }),
      },
    ],
    users: [{ name: 'user', ...(token ? { token } : {}) }],
    contexts: [{ name: 'sim', cluster: 'sim', user: 'user' }],
    currentContext: 'sim',
  });
  return config;
}

/** A request without client-node, over HTTP or HTTPS (trusting `ca`): status and body text. */
function raw(
  url: string,
  path: string,
  options: { method?: string; token?: string; ca?: string } = {},
): Promise<{ status: number; body: string }> {
  const target = new URL(path, url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: options.method ?? 'GET',
        ...(options.ca ? { ca: options.ca } : {}),
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function clients(config: KubeConfig) {
  return {
    batch: config.makeApiClient(BatchV1Api),
    core: config.makeApiClient(CoreV1Api),
    rbac: config.makeApiClient(RbacAuthorizationV1Api),
  };
}

/** The forbidden Status body kube-apiserver answers a denied request with. */
function forbiddenBody(message: string, details: Record<string, string>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: 'Forbidden',
    details,
    code: 403,
  };
}

describe('authentication over verified TLS', () => {
  let cluster: SimCluster;
  let certificates: TestCertificates;
  let prefix: string;

  const get = (path: string, token?: string) => raw(cluster.url, path, { token, ca: certificates.ca });

  /** client-node's in-cluster configuration, reading the service account files under `prefix`. */
  function inCluster(): KubeConfig {
    const env = inClusterEnv(cluster.url);
    const saved = Object.keys(env).map((key) => [key, process.env[key]] as const);
    Object.assign(process.env, env);
    try {
      const config = new KubeConfig();
      config.loadFromCluster(prefix);
      return config;
    } finally {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  }

  beforeAll(async () => {
    certificates = await makeCertificates();
    cluster = await startSimCluster({ auth: { tokens: TOKENS }, tls: certificates });
    prefix = await mkdtemp(join(tmpdir(), 'kjl-in-cluster-'));
    const admin = new KubeConfig();
    admin.loadFromString(cluster.kubeconfig);
    const { core, rbac } = clients(admin);
    await core.createNamespace({ body: { metadata: { name: 'builds' } } });
    await rbac.createNamespacedRole({
      namespace: 'builds',
      body: {
        metadata: { name: 'kjl' },
        rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['list'] }],
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
  });

  afterAll(async () => {
    await cluster.stop();
    await rm(prefix, { recursive: true, force: true });
  });

  it('serves HTTPS and writes a kubeconfig that trusts the CA', async () => {
    expect(cluster.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const admin = new KubeConfig();
    admin.loadFromString(cluster.kubeconfig);
    expect(admin.getCurrentCluster()).toMatchObject({ skipTLSVerify: false, caData: expect.any(String) });
    const namespaces = await admin.makeApiClient(CoreV1Api).listNamespace();
    expect(namespaces.items.map((n) => n.metadata!.name)).toEqual(['builds', 'default']);
  });

  it('works with loadFromCluster: the service account token, its namespace and the CA', async () => {
    await writeServiceAccountFiles(prefix, {
      token: 'builder-token',
      ca: certificates.ca,
      namespace: 'builds',
    });
    const config = inCluster();
    expect(config.getContextObject(config.getCurrentContext())?.namespace).toBe('builds');
    expect(config.getCurrentCluster()?.server).toBe(cluster.url);
    const jobs = await config.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'builds' });
    expect(jobs.items).toEqual([]);
    expect(cluster.access()).toContainEqual(
      expect.objectContaining({ user: SA_USER, verb: 'list', resource: 'jobs', allowed: true }),
    );
  });

  it('verifies the server certificate: another CA is refused', async () => {
    const other = await makeCertificates();
    const batch = configFor(cluster.url, 'builder-token', other.ca).makeApiClient(BatchV1Api);
    const error = (await batch.listNamespacedJob({ namespace: 'builds' }).catch((e: unknown) => e)) as Error;
    expect((error.cause as { code?: string }).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('answers a wrong token with 401 and the API server’s exact Status', async () => {
    await writeServiceAccountFiles(prefix, {
      token: 'stolen-token',
      ca: certificates.ca,
      namespace: 'builds',
    });
    // client-node keeps no body for a 401 of a typed call
    const { code } = await failure(
      inCluster().makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'builds' }),
    );
    expect(code).toBe(401);
    const response = await get('/apis/batch/v1/namespaces/builds/jobs', 'stolen-token');
    expect([response.status, JSON.parse(response.body)]).toEqual([401, UNAUTHORIZED]);
  });

  it('answers a request without a token with 401, discovery and /version included', async () => {
    const { code } = await failure(
      configFor(cluster.url, undefined, certificates.ca).makeApiClient(CoreV1Api).listNamespace(),
    );
    expect(code).toBe(401);
    for (const path of ['/version', '/healthz', '/api', '/apis/batch/v1']) {
      const response = await get(path);
      expect(response.status, path).toBe(401);
      expect(JSON.parse(response.body), path).toEqual(UNAUTHORIZED);
    }
  });

  it('lets any authenticated user read discovery, /version and health', async () => {
    for (const path of ['/version', '/healthz', '/readyz', '/api', '/api/v1', '/apis', '/apis/batch/v1']) {
      expect((await get(path, 'jane-token')).status, path).toBe(200);
    }
  });

  it('keeps the /sim/ endpoints open', async () => {
    const stats = await get('/sim/stats');
    expect(stats.status).toBe(200);
    expect(JSON.parse(stats.body)).toHaveProperty('requests');
  });
});

describe('anonymous requests', () => {
  let cluster: SimCluster;
  beforeAll(async () => {
    cluster = await startSimCluster({ auth: { tokens: TOKENS, anonymous: true } });
  });
  afterAll(() => cluster.stop());

  it('are system:anonymous: /version and health only; other paths and resources are forbidden', async () => {
    expect((await fetch(`${cluster.url}/version`)).status).toBe(200);
    expect(await (await fetch(`${cluster.url}/healthz`)).text()).toBe('ok');
    const api = await fetch(`${cluster.url}/api`);
    expect(api.status).toBe(403);
    expect(await api.json()).toEqual(
      forbiddenBody('forbidden: User "system:anonymous" cannot get path "/api"', {}),
    );
    const { code, body } = await failure(
      configFor(cluster.url).makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' }),
    );
    expect(code).toBe(403);
    expect(body).toEqual(
      forbiddenBody(
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"',
        { kind: 'pods' },
      ),
    );
  });

  it('still refuses an unknown token with 401', async () => {
    const response = await fetch(`${cluster.url}/version`, { headers: { authorization: 'Bearer nope' } });
    expect(response.status).toBe(401);
  });
});

describe('RBAC', () => {
  let cluster: SimCluster;
  let admin: ReturnType<typeof clients>;
  let builder: ReturnType<typeof clients>;
  let jane: ReturnType<typeof clients>;
  let ops: ReturnType<typeof clients>;
  let builderConfig: KubeConfig;
  let certificates: TestCertificates;
  let dir: string;

  const request = (path: string, token: string, method = 'GET') =>
    raw(cluster.url, path, { token, method, ca: certificates.ca });

  const kubectl = (...args: string[]) =>
    runCommand('kubectl', [
      '--kubeconfig',
      join(dir, 'kubeconfig'),
      '--cache-dir',
      join(dir, 'cache'),
      ...args,
    ]);

  async function bind(namespace: string, name: string, rules: V1PolicyRule[], subjects: RbacV1Subject[]) {
    await admin.rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
    await admin.rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects,
      },
    });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kjl-sim-rbac-'));
    certificates = await makeCertificates();
    // HTTPS: kubectl sends no credentials over plain HTTP
    cluster = await startSimCluster({
      timeScale: 20,
      auth: { tokens: TOKENS },
      tls: certificates,
      kubeconfigPath: join(dir, 'kubeconfig'),
    });
    const config = new KubeConfig();
    config.loadFromString(cluster.kubeconfig);
    admin = clients(config);
    builderConfig = configFor(cluster.url, 'builder-token', certificates.ca);
    builder = clients(builderConfig);
    jane = clients(configFor(cluster.url, 'jane-token', certificates.ca));
    ops = clients(configFor(cluster.url, 'ops-token', certificates.ca));
    for (const name of ['builds', 'ops', 'broken'])
      await admin.core.createNamespace({ body: { metadata: { name } } });
    await bind(
      'builds',
      'readers',
      [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
      [{ kind: 'Group', name: 'readers', apiGroup: 'rbac.authorization.k8s.io' }],
    );
    await bind(
      'ops',
      'everything',
      [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
      [{ kind: 'User', name: 'ops', apiGroup: 'rbac.authorization.k8s.io' }],
    );
    await admin.rbac.createNamespacedRoleBinding({
      namespace: 'broken',
      body: {
        metadata: { name: 'dangling' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'missing' },
        subjects: [{ kind: 'ServiceAccount', name: 'kjl', namespace: 'builds' }],
      },
    });
  });

  afterAll(async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves Roles and RoleBindings to kubectl create -f and get', async () => {
    await writeFile(
      join(dir, 'rbac.yaml'),
      [
        'apiVersion: rbac.authorization.k8s.io/v1',
        'kind: Role',
        'metadata: { name: kjl, namespace: builds }',
        'rules:',
        '  - { apiGroups: [batch], resources: [jobs], verbs: [create, get, list, watch] }',
        '  - { apiGroups: [batch], resources: [jobs], resourceNames: [disposable], verbs: [delete] }',
        '  - { apiGroups: [""], resources: [pods, pods/log], verbs: [get, list] }',
        '---',
        'apiVersion: rbac.authorization.k8s.io/v1',
        'kind: RoleBinding',
        'metadata: { name: kjl, namespace: builds }',
        'roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: kjl }',
        'subjects: [{ kind: ServiceAccount, name: kjl }]',
      ].join('\n'),
    );
    const created = await kubectl('create', '-f', join(dir, 'rbac.yaml'));
    expect(created.stderr).toBe('');
    expect(created.stdout.trim().split('\n')).toEqual([
      'role.rbac.authorization.k8s.io/kjl created',
      'rolebinding.rbac.authorization.k8s.io/kjl created',
    ]);
    const bindings = await kubectl('get', 'rolebindings', '-n', 'builds', '-o', 'wide');
    const row = bindings.stdout.split('\n').find((line) => line.startsWith('kjl '));
    expect(row?.split(/\s+/)).toEqual(['kjl', 'Role/kjl', expect.stringMatching(/^\d+s$/), '/kjl']);
    const role = await admin.rbac.readNamespacedRole({ namespace: 'builds', name: 'kjl' });
    expect(role.rules).toHaveLength(3);
  });

  it('allows what a bound Role grants, to a service account named without a namespace', async () => {
    await builder.batch.createNamespacedJob({ namespace: 'builds', body: jobManifest('disposable') });
    await builder.batch.createNamespacedJob({ namespace: 'builds', body: jobManifest('kept') });
    expect((await builder.batch.listNamespacedJob({ namespace: 'builds' })).items).toHaveLength(2);
    await builder.batch.deleteNamespacedJob({
      namespace: 'builds',
      name: 'disposable',
      propagationPolicy: 'Background',
    });
  });

  it('answers a denied named object, collection and cluster-wide request with the API server’s 403', async () => {
    const named = await failure(builder.batch.deleteNamespacedJob({ namespace: 'builds', name: 'kept' }));
    expect(named.code).toBe(403);
    expect(named.body).toEqual(
      forbiddenBody(
        `jobs.batch "kept" is forbidden: User "${SA_USER}" cannot delete resource "jobs" in API group "batch" in the namespace "builds"`,
        { name: 'kept', group: 'batch', kind: 'jobs' },
      ),
    );
    const collection = await failure(builder.core.listNamespacedEvent({ namespace: 'builds' }));
    expect(collection.body).toEqual(
      forbiddenBody(
        `events is forbidden: User "${SA_USER}" cannot list resource "events" in API group "" in the namespace "builds"`,
        { kind: 'events' },
      ),
    );
    const clusterWide = await failure(builder.batch.listJobForAllNamespaces());
    expect(clusterWide.body.message).toBe(
      `jobs.batch is forbidden: User "${SA_USER}" cannot list resource "jobs" in API group "batch" at the cluster scope`,
    );
    const elsewhere = await failure(builder.batch.listNamespacedJob({ namespace: 'default' }));
    expect(elsewhere.code).toBe(403);
  });

  it('maps methods to verbs: update, patch, deletecollection, watch (query and path)', async () => {
    const kept = await admin.batch.readNamespacedJob({ namespace: 'builds', name: 'kept' });
    const denied = (verb: string, name = '') =>
      `jobs.batch ${name ? `"${name}" ` : ''}is forbidden: User "${SA_USER}" cannot ${verb} resource "jobs" in API group "batch" in the namespace "builds"`;
    const put = await failure(
      builder.batch.replaceNamespacedJob({ namespace: 'builds', name: 'kept', body: kept }),
    );
    expect(put.body.message).toBe(denied('update', 'kept'));
    const patch = await failure(
      builder.batch.patchNamespacedJob(
        { namespace: 'builds', name: 'kept', body: { metadata: { labels: { a: 'b' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(patch.body.message).toBe(denied('patch', 'kept'));
    const deleteAll = await request('/apis/batch/v1/namespaces/builds/jobs', 'builder-token', 'DELETE');
    expect(deleteAll.status).toBe(403);
    expect((JSON.parse(deleteAll.body) as { message: string }).message).toBe(denied('deletecollection'));

    // jane may get and list pods, not watch them
    const watch = await request('/api/v1/namespaces/builds/pods?watch=1', 'jane-token');
    expect((JSON.parse(watch.body) as { message: string }).message).toBe(
      'pods is forbidden: User "jane" cannot watch resource "pods" in API group "" in the namespace "builds"',
    );
    // the builder may watch jobs, also through the /watch/ path, which then streams
    const events: [string, string | undefined][] = [];
    const stream = await new Watch(builderConfig).watch(
      '/apis/batch/v1/watch/namespaces/builds/jobs/kept',
      {},
      (type: string, object: V1Job) => events.push([type, object.metadata?.name]),
      () => {},
    );
    await waitFor('the ADDED event', () => events.length > 0);
    stream.abort();
    expect(events[0]).toEqual(['ADDED', 'kept']);
    expect(new Set(events.map(([, name]) => name))).toEqual(new Set(['kept']));
  });

  it('checks subresources', async () => {
    const pod = await admin.core.createNamespacedPod({
      namespace: 'builds',
      body: {
        metadata: { name: 'p' },
        spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] },
      },
    });
    await waitFor('the pod to run to its end', async () => {
      const current = await admin.core.readNamespacedPod({ namespace: 'builds', name: 'p' });
      return current.status?.phase === 'Succeeded';
    });
    expect((await builder.core.readNamespacedPod({ namespace: 'builds', name: 'p' })).metadata?.uid).toBe(
      pod.metadata?.uid,
    );
    await expect(builder.core.readNamespacedPodLog({ namespace: 'builds', name: 'p' })).resolves.toBe('');
    const log = await failure(jane.core.readNamespacedPodLog({ namespace: 'builds', name: 'p' }));
    expect(log.body).toEqual(
      forbiddenBody(
        'pods "p" is forbidden: User "jane" cannot get resource "pods/log" in API group "" in the namespace "builds"',
        { name: 'p', kind: 'pods' },
      ),
    );
    const status = await failure(
      builder.core.replaceNamespacedPodStatus({ namespace: 'builds', name: 'p', body: pod }),
    );
    expect(status.body.message).toContain('cannot update resource "pods/status" in API group ""');
  });

  it('matches wildcards and User subjects within the binding’s namespace only', async () => {
    await ops.batch.createNamespacedJob({ namespace: 'ops', body: jobManifest('any') });
    await ops.core.createNamespacedEvent({
      namespace: 'ops',
      body: {
        metadata: { name: 'e' },
        involvedObject: { kind: 'Job', name: 'any' },
        reason: 'R',
        message: 'm',
      },
    });
    await ops.batch.deleteNamespacedJob({ namespace: 'ops', name: 'any', propagationPolicy: 'Background' });
    expect((await failure(ops.batch.listNamespacedJob({ namespace: 'builds' }))).code).toBe(403);
  });

  it('adds the RBAC reason when a binding’s Role does not exist', async () => {
    const { body } = await failure(builder.core.listNamespacedPod({ namespace: 'broken' }));
    expect(body.message).toBe(
      `pods is forbidden: User "${SA_USER}" cannot list resource "pods" in API group "" in the namespace "broken": RBAC: role.rbac.authorization.k8s.io "missing" not found`,
    );
  });

  it('validates Roles and RoleBindings; a roleRef may not change', async () => {
    const bad = await failure(
      admin.rbac.createNamespacedRole({
        namespace: 'builds',
        body: { metadata: { name: 'bad' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: [] }] },
      }),
    );
    expect(bad.code).toBe(422);
    expect(bad.body.message).toBe(
      'Role.rbac.authorization.k8s.io "bad" is invalid: rules[0].verbs: Required value: verbs must contain at least one value',
    );
    const changed = await failure(
      admin.rbac.patchNamespacedRoleBinding(
        {
          namespace: 'builds',
          name: 'kjl',
          body: { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'readers' } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(changed.code).toBe(422);
    expect(changed.body.message).toMatch(
      /^RoleBinding\.rbac\.authorization\.k8s\.io "kjl" is invalid: roleRef: Invalid value: .*: cannot change roleRef$/,
    );
  });

  it('works for kubectl with a service account token: listing, Forbidden and Unauthorized', async () => {
    const listed = await kubectl('--token', 'builder-token', 'get', 'jobs', '-n', 'builds', '-o', 'name');
    expect(listed.stdout.trim()).toBe('job.batch/kept');
    const forbidden = await kubectl('--token', 'builder-token', 'get', 'pods', '-n', 'default');
    expect(forbidden.stderr.trim()).toBe(
      `Error from server (Forbidden): pods is forbidden: User "${SA_USER}" cannot list resource "pods" in API group "" in the namespace "default"`,
    );
    const unauthorized = await kubectl('--token', 'wrong', 'get', 'jobs', '-n', 'builds');
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toContain('error: You must be logged in to the server (Unauthorized)');
  });

  it('records every decision per user, with the rules that allowed it; reset-stats clears them', async () => {
    const response = await request('/sim/access', '');
    const records = JSON.parse(response.body) as ReturnType<SimCluster['access']>;
    const mine = records.filter((r) => r.user === SA_USER);
    expect(mine).toContainEqual({
      user: SA_USER,
      verb: 'create',
      apiGroup: 'batch',
      resource: 'jobs',
      namespace: 'builds',
      allowed: true,
      count: 2,
      grantedBy: [{ kind: 'Role', namespace: 'builds', name: 'kjl', rule: 0 }],
    });
    expect(mine).toContainEqual(
      expect.objectContaining({
        verb: 'delete',
        resource: 'jobs',
        allowed: true,
        grantedBy: [{ kind: 'Role', namespace: 'builds', name: 'kjl', rule: 1 }],
      }),
    );
    expect(mine).toContainEqual(
      expect.objectContaining({
        verb: 'delete',
        resource: 'jobs',
        namespace: 'builds',
        allowed: false,
        grantedBy: [],
      }),
    );
    expect(mine).toContainEqual(
      expect.objectContaining({ verb: 'list', resource: 'jobs', allowed: false, grantedBy: [] }),
    );
    expect(mine.find((r) => r.verb === 'list' && r.resource === 'jobs' && !r.namespace)).toBeDefined();
    expect(mine).toContainEqual(
      expect.objectContaining({ verb: 'get', resource: 'pods/log', allowed: true }),
    );
    const used = new Set(mine.flatMap((r) => r.grantedBy.map((g) => g.rule)));
    expect([...used].sort()).toEqual([0, 1, 2]);
    expect(records.some((r) => r.user === 'kjl-sim-admin' && r.allowed)).toBe(true);

    expect((await request('/sim/reset-stats', '', 'POST')).status).toBe(204);
    expect(cluster.access()).toEqual([]);
  });
});
