import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../../src/dev/sim-cluster/index.js';
import { failure } from '../support/api-failure.js';
import { waitFor } from '../support/wait.js';

let cluster: SimCluster;
let batch: BatchV1Api;
let core: CoreV1Api;
let kubeconfig: KubeConfig;
let counter = 0;

/** A unique name per test, so that tests sharing the cluster do not see each other's objects. */
const uniqueName = (prefix: string) => `${prefix}-${++counter}`;

function jobManifest(
  name: string,
  extra: { labels?: Record<string, string>; command?: string[] } = {},
): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'busybox', command: extra.command }],
        },
      },
    },
  };
}

interface Event {
  type: string;
  object: {
    kind?: string;
    metadata?: { name?: string; resourceVersion?: string };
    code?: number;
    reason?: string;
  };
}

/** Opens a watch and collects its events until `done`. */
async function collectWatch(path: string, params: Record<string, string | number | boolean | undefined>) {
  const events: Event[] = [];
  let ended: unknown = 'open';
  const controller = await new Watch(kubeconfig).watch(
    path,
    params,
    (type, object) => events.push({ type, object }),
    (error) => {
      ended = error ?? null;
    },
  );
  return {
    events,
    ended: () => ended,
    names: (type?: string) =>
      events.filter((e) => !type || e.type === type).map((e) => e.object.metadata?.name),
    stop: () => controller.abort(),
  };
}

beforeAll(async () => {
  cluster = await startSimCluster({ timeScale: 20, historySize: 200, bookmarkIntervalMs: 200 });
  kubeconfig = new KubeConfig();
  kubeconfig.loadFromString(cluster.kubeconfig);
  batch = kubeconfig.makeApiClient(BatchV1Api);
  core = kubeconfig.makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await cluster.stop();
});

afterEach(() => {
  cluster.faults.clear();
});

describe('REST paths and verbs', () => {
  it('creates a Job (201) with defaults, generated selector and labels, and reads it back', async () => {
    const name = uniqueName('create');
    const created = await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const uid = created.metadata!.uid!;
    expect(created.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      suspend: false,
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
    });
    expect(created.spec!.template.metadata!.labels).toEqual({
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    });
    const read = await batch.readNamespacedJob({ namespace: 'default', name });
    expect(read.metadata!.uid).toBe(uid);
    expect(read.kind).toBe('Job');
  });

  it('lists Jobs per namespace and cluster-wide', async () => {
    await core.createNamespace({ body: { metadata: { name: 'team-a' } } });
    const name = uniqueName('listed');
    await batch.createNamespacedJob({ namespace: 'team-a', body: jobManifest(name) });
    const inNamespace = await batch.listNamespacedJob({ namespace: 'team-a' });
    expect(inNamespace.items.map((j) => j.metadata!.name)).toEqual([name]);
    const all = await batch.listJobForAllNamespaces();
    expect(all.items.map((j) => `${j.metadata!.namespace}/${j.metadata!.name}`)).toContain(`team-a/${name}`);
    expect((await core.readNamespace({ name: 'team-a' })).status?.phase).toBe('Active');
  });

  it('refuses to create in a namespace that does not exist', async () => {
    const { code, body } = await failure(
      batch.createNamespacedJob({ namespace: 'nope', body: jobManifest('x') }),
    );
    expect(code).toBe(404);
    expect(body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'namespaces "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'namespaces' },
      code: 404,
    });
  });

  it('updates with PUT, keeping status, and writes status through /status', async () => {
    const name = uniqueName('put');
    const job = await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    // unconditional (no resourceVersion), as Jobs allow: the controller may have written status since
    job.metadata!.resourceVersion = undefined;
    job.spec!.activeDeadlineSeconds = 600;
    job.status = { succeeded: 99 };
    const updated = await batch.replaceNamespacedJob({ namespace: 'default', name, body: job });
    expect(updated.spec!.activeDeadlineSeconds).toBe(600);
    expect(updated.status?.succeeded).not.toBe(99);

    const withStatus = {
      ...updated,
      metadata: { ...updated.metadata, resourceVersion: undefined },
      spec: { ...updated.spec!, activeDeadlineSeconds: 1 },
      status: { failed: 7 },
    };
    const statusWritten = await batch.replaceNamespacedJobStatus({
      namespace: 'default',
      name,
      body: withStatus,
    });
    expect(statusWritten.status!.failed).toBe(7);
    expect(statusWritten.spec!.activeDeadlineSeconds).toBe(600);
  });

  it('patches with merge, strategic-merge and JSON patch; a no-op keeps the resourceVersion', async () => {
    const name = uniqueName('patch');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const suspended = await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { spec: { suspend: true } } },
      merge,
    );
    expect(suspended.spec!.suspend).toBe(true);

    const strategic = await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { metadata: { labels: { team: 'a' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(strategic.metadata!.labels).toMatchObject({ team: 'a', 'job-name': name });

    const json = await batch.patchNamespacedJob({
      namespace: 'default',
      name,
      body: [{ op: 'replace', path: '/spec/parallelism', value: 3 }],
    });
    expect(json.spec!.parallelism).toBe(3);

    // a namespace, which no controller writes to, shows that a no-op patch is not a write
    const labelled = await core.patchNamespace(
      { name: 'default', body: { metadata: { labels: { x: 'y' } } } },
      merge,
    );
    const again = await core.patchNamespace(
      { name: 'default', body: { metadata: { labels: { x: 'y' } } } },
      merge,
    );
    expect(again.metadata!.resourceVersion).toBe(labelled.metadata!.resourceVersion);
  });

  it('patches status through /status', async () => {
    const name = uniqueName('patch-status');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const patched = await batch.patchNamespacedJobStatus(
      { namespace: 'default', name, body: { status: { terminating: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.status!.terminating).toBe(2);
  });

  it('answers an unknown patch content type with 415 UnsupportedMediaType', async () => {
    const name = uniqueName('patch415');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const { code, body } = await failure(
      batch.patchNamespacedJob(
        { namespace: 'default', name, body: {} },
        setHeaderOptions('Content-Type', 'application/json'),
      ),
    );
    expect(code).toBe(415);
    expect(body).toMatchObject({ kind: 'Status', reason: 'UnsupportedMediaType', code: 415 });
  });
});

describe('delete propagation', () => {
  /** A Job whose pod keeps running, and that pod once it runs. */
  async function runningJob(prefix: string): Promise<{ name: string; uid: string; pod: V1Pod }> {
    const name = uniqueName(prefix);
    const job = await batch.createNamespacedJob({
      namespace: 'default',
      body: jobManifest(name, { labels: { hang: 'yes' } }),
    });
    const pod = await waitFor('a running pod', async () => {
      const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: `job-name=${name}` });
      return pods.items.find((p) => p.status?.phase === 'Running');
    });
    return { name, uid: job.metadata!.uid!, pod };
  }

  beforeAll(() => {
    cluster.controllers.setRules([{ match: { labels: { 'job-name': 'del-*' } }, action: 'hang' }]);
  });

  afterAll(() => {
    cluster.controllers.setRules([]);
  });

  it('orphans by default, with the Warning header and a Status Success body', async () => {
    const { name, uid, pod } = await runningJob('del-default');
    const response = await batch.deleteNamespacedJobWithHttpInfo({ namespace: 'default', name });
    expect(response.httpStatusCode).toBe(200);
    expect(response.headers.warning).toBe(
      '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"',
    );
    expect(response.data).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Success',
      details: { name, group: 'batch', kind: 'jobs', uid },
    });
    const orphan = await core.readNamespacedPod({ namespace: 'default', name: pod.metadata!.name! });
    expect(orphan.metadata!.deletionTimestamp).toBeUndefined();
    expect(orphan.metadata!.ownerReferences ?? []).toEqual([]);
  });

  it('sends no warning for an explicit policy; Background removes the Job at once and its pods after', async () => {
    const { name, pod } = await runningJob('del-background');
    const response = await batch.deleteNamespacedJobWithHttpInfo({
      namespace: 'default',
      name,
      propagationPolicy: 'Background',
    });
    expect(response.headers.warning).toBeUndefined();
    expect((await failure(batch.readNamespacedJob({ namespace: 'default', name }))).code).toBe(404);
    await waitFor('the pod to be gone', async () => {
      const { code } = await failure(
        core.readNamespacedPod({ namespace: 'default', name: pod.metadata!.name! }),
      );
      return code === 404;
    });
  });

  it('Foreground keeps the Job with a finalizer until its pods are gone, and sends its DELETED last', async () => {
    const { name, pod } = await runningJob('del-foreground');
    const watch = await collectWatch('/api/v1/namespaces/default/pods', {});
    const jobWatch = await collectWatch('/apis/batch/v1/namespaces/default/jobs', {
      fieldSelector: `metadata.name=${name}`,
    });
    const response = await batch.deleteNamespacedJobWithHttpInfo({
      namespace: 'default',
      name,
      propagationPolicy: 'Foreground',
    });
    // the answer is the Job itself (client-node types it as a Status)
    expect(response.data.kind).toBe('Job');
    const lingering = await batch.readNamespacedJob({ namespace: 'default', name });
    expect(lingering.metadata!.deletionTimestamp).toBeDefined();
    expect(lingering.metadata!.finalizers).toContain('foregroundDeletion');
    await waitFor('the job to be deleted', () => jobWatch.names('DELETED').includes(name));
    expect(watch.names('DELETED')).toContain(pod.metadata!.name);
    watch.stop();
    jobWatch.stop();
  });

  it('answers a pod delete with the pod, its deletionTimestamp and grace period', async () => {
    const { pod } = await runningJob('del-pod');
    const deleted = await core.deleteNamespacedPod({ namespace: 'default', name: pod.metadata!.name! });
    expect(deleted.kind).toBe('Pod');
    expect(deleted.metadata!.deletionTimestamp).toBeDefined();
    expect(deleted.metadata!.deletionGracePeriodSeconds).toBe(30);
  });

  it('answers the object while a finalizer holds it, and removes it when the finalizer is dropped', async () => {
    const name = uniqueName('finalized');
    const manifest = jobManifest(name);
    manifest.metadata!.finalizers = ['example.com/hold'];
    await batch.createNamespacedJob({ namespace: 'default', body: manifest });
    const response = await batch.deleteNamespacedJobWithHttpInfo({
      namespace: 'default',
      name,
      propagationPolicy: 'Background',
    });
    expect(response.data.kind).toBe('Job');
    expect(
      (await batch.readNamespacedJob({ namespace: 'default', name })).metadata!.deletionTimestamp,
    ).toBeDefined();
    await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect((await failure(batch.readNamespacedJob({ namespace: 'default', name }))).code).toBe(404);
  });

  it('checks delete preconditions', async () => {
    const name = uniqueName('precondition');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const { code, body } = await failure(
      batch.deleteNamespacedJob({ namespace: 'default', name, body: { preconditions: { uid: 'other' } } }),
    );
    expect(code).toBe(409);
    expect(body).toMatchObject({ reason: 'Conflict' });
  });
});

describe('lists', () => {
  const labelSelector = 'page=yes';

  beforeAll(async () => {
    for (const suffix of ['a', 'b', 'c', 'd', 'e']) {
      await batch.createNamespacedJob({
        namespace: 'default',
        body: jobManifest(`page-${suffix}`, { labels: { page: 'yes' } }),
      });
    }
  });

  it('pages with limit and continue; remainingItemCount without selectors', async () => {
    const first = await batch.listNamespacedJob({ namespace: 'default', labelSelector, limit: 2 });
    expect(first.items.map((j) => j.metadata!.name)).toEqual(['page-a', 'page-b']);
    expect(first.metadata!._continue).toBeTruthy();
    expect(first.metadata!.remainingItemCount).toBeUndefined();
    const second = await batch.listNamespacedJob({
      namespace: 'default',
      labelSelector,
      limit: 2,
      _continue: first.metadata!._continue!,
    });
    expect(second.items.map((j) => j.metadata!.name)).toEqual(['page-c', 'page-d']);
    expect(second.metadata!.resourceVersion).toBe(first.metadata!.resourceVersion);
    const last = await batch.listNamespacedJob({
      namespace: 'default',
      labelSelector,
      limit: 2,
      _continue: second.metadata!._continue!,
    });
    expect(last.items.map((j) => j.metadata!.name)).toEqual(['page-e']);
    expect(last.metadata!._continue).toBeFalsy();

    const all = (await batch.listNamespacedJob({ namespace: 'default' })).items.length;
    const counted = await batch.listNamespacedJob({ namespace: 'default', limit: 1 });
    expect(counted.metadata!.remainingItemCount).toBe(all - 1);
  });

  it('selects with label and field selectors, and rejects unsupported fields', async () => {
    const byField = await batch.listNamespacedJob({
      namespace: 'default',
      fieldSelector: 'metadata.name=page-c',
    });
    expect(byField.items.map((j) => j.metadata!.name)).toEqual(['page-c']);
    const bySet = await batch.listNamespacedJob({
      namespace: 'default',
      labelSelector: 'page in (yes),!missing',
    });
    expect(bySet.items).toHaveLength(5);
    const { code, body } = await failure(
      batch.listNamespacedJob({ namespace: 'default', fieldSelector: 'spec.foo=1' }),
    );
    expect(code).toBe(400);
    expect(body).toMatchObject({ reason: 'BadRequest', message: 'field label not supported: spec.foo' });
  });

  it('answers an expired continue token with 410 Expired', async () => {
    const first = await batch.listNamespacedJob({ namespace: 'default', labelSelector, limit: 1 });
    const name = uniqueName('churn');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    for (let i = 0; i < 210; i++) {
      await batch.patchNamespacedJob(
        { namespace: 'default', name, body: { metadata: { annotations: { i: String(i) } } } },
        merge,
      );
    }
    const { code, body } = await failure(
      batch.listNamespacedJob({
        namespace: 'default',
        labelSelector,
        limit: 1,
        _continue: first.metadata!._continue!,
      }),
    );
    expect(code).toBe(410);
    expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
    expect(body.message).toMatch(
      /^The provided continue parameter is too old to display a consistent list result\./,
    );
  });
});

describe('watch', () => {
  it('starts with synthetic ADDED events when no resourceVersion is given, then streams changes', async () => {
    const name = uniqueName('watched');
    await batch.createNamespacedJob({
      namespace: 'default',
      body: jobManifest(name, { labels: { w: name } }),
    });
    const watch = await collectWatch('/apis/batch/v1/namespaces/default/jobs', {
      labelSelector: `w=${name}`,
    });
    await waitFor('the synthetic ADDED', () => watch.names('ADDED').includes(name));
    await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { spec: { suspend: true } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor('MODIFIED', () => watch.names('MODIFIED').includes(name));
    expect(watch.events[0]!.object.kind).toBe('Job');
    watch.stop();
  });

  it('resumes from a resourceVersion with only the later changes', async () => {
    const first = uniqueName('resume');
    await batch.createNamespacedJob({
      namespace: 'default',
      body: jobManifest(first, { labels: { resume: 'yes' } }),
    });
    const { metadata } = await batch.listNamespacedJob({ namespace: 'default', labelSelector: 'resume=yes' });
    const second = uniqueName('resume');
    await batch.createNamespacedJob({
      namespace: 'default',
      body: jobManifest(second, { labels: { resume: 'yes' } }),
    });
    const watch = await collectWatch('/apis/batch/v1/namespaces/default/jobs', {
      labelSelector: 'resume=yes',
      resourceVersion: metadata!.resourceVersion,
    });
    await waitFor('the later ADDED', () => watch.names('ADDED').includes(second));
    // `first` may appear as MODIFIED (its controller works on it), never as a synthetic ADDED
    expect(watch.names('ADDED')).not.toContain(first);
    watch.stop();
  });

  it('sends DELETED when an object stops matching the selector and ADDED when it starts', async () => {
    const name = uniqueName('relabel');
    await batch.createNamespacedJob({
      namespace: 'default',
      body: jobManifest(name, { labels: { tier: 'a' } }),
    });
    const watch = await collectWatch('/apis/batch/v1/namespaces/default/jobs', { labelSelector: 'tier=a' });
    await waitFor('ADDED', () => watch.names('ADDED').includes(name));
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { metadata: { labels: { tier: 'b' } } } },
      merge,
    );
    await waitFor('DELETED', () => watch.names('DELETED').includes(name));
    await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { metadata: { labels: { tier: 'a' } } } },
      merge,
    );
    await waitFor('ADDED again', () => watch.names('ADDED').filter((n) => n === name).length === 2);
    watch.stop();
  });

  it('sends BOOKMARKs when allowed and closes cleanly at timeoutSeconds', async () => {
    const watch = await collectWatch('/apis/batch/v1/namespaces/empty-ns/jobs', {
      allowWatchBookmarks: true,
      timeoutSeconds: 1,
    });
    await waitFor('the clean close', () => watch.ended() === null, 5000);
    const bookmarks = watch.events.filter((e) => e.type === 'BOOKMARK');
    expect(bookmarks.length).toBeGreaterThan(0);
    expect(bookmarks[0]!.object).toEqual({
      kind: 'Job',
      apiVersion: 'batch/v1',
      metadata: { resourceVersion: expect.stringMatching(/^\d+$/) },
    });
  });

  it('answers a too-old resourceVersion with HTTP 200, one ERROR 410 Expired line, then the end', async () => {
    const watch = await collectWatch('/apis/batch/v1/jobs', { resourceVersion: '1' });
    await waitFor('the end of the stream', () => watch.ended() === null, 5000);
    expect(watch.events).toHaveLength(1);
    expect(watch.events[0]).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 },
    });
    expect((watch.events[0]!.object as { message: string }).message).toMatch(
      /^too old resource version: 1 \(\d+\)$/,
    );
  });

  it.each(['event', 'http'] as const)(
    "keeps client-node's informer cache right across a 410 (%s mode): it relists",
    async (mode) => {
      const namespace = uniqueName('informer');
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      const keep = uniqueName('keep');
      const gone = uniqueName('gone');
      for (const name of [keep, gone])
        await batch.createNamespacedJob({ namespace, body: jobManifest(name) });
      const informer = makeInformer(kubeconfig, `/apis/batch/v1/namespaces/${namespace}/jobs`, () =>
        batch.listNamespacedJob({ namespace }),
      );
      const errors: unknown[] = [];
      informer.on('error', (error) => errors.push(error));
      await informer.start();
      await waitFor('the first sync', () => informer.list().length === 2);
      const listsBefore = cluster.stats().requests.list ?? 0;

      cluster.faults.set({
        expireWatches: { count: 1, mode },
        cutWatches: { everySeconds: 0.3, mode: 'close' },
      });
      await batch.deleteNamespacedJob({ namespace, name: gone, propagationPolicy: 'Background' });
      const added = uniqueName('added');
      await batch.createNamespacedJob({ namespace, body: jobManifest(added) });
      await waitFor(
        'the expiry to be used',
        () => (cluster.stats().faults['expire-watch'] ?? 0) >= 1,
        10_000,
      );
      await waitFor('the relist', () => (cluster.stats().requests.list ?? 0) > listsBefore, 10_000);
      await waitFor(
        'the cache after the relist',
        () =>
          informer
            .list()
            .map((j) => j.metadata!.name)
            .sort()
            .join() === [added, keep].sort().join(),
        10_000,
      );
      await informer.stop();
      expect(errors).toEqual([]);
    },
  );
});

describe('error bodies', () => {
  it('404 NotFound for jobs (with group) and pods (without)', async () => {
    const job = await failure(batch.readNamespacedJob({ namespace: 'default', name: 'pi' }));
    expect(job.code).toBe(404);
    expect(job.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'jobs.batch "pi" not found',
      reason: 'NotFound',
      details: { name: 'pi', group: 'batch', kind: 'jobs' },
      code: 404,
    });
    const pod = await failure(core.readNamespacedPod({ namespace: 'default', name: 'x' }));
    expect(pod.body).toMatchObject({ message: 'pods "x" not found', details: { name: 'x', kind: 'pods' } });
    expect(pod.body.details).not.toHaveProperty('group');
  });

  it('409 AlreadyExists on create and 409 Conflict on a stale update', async () => {
    const name = uniqueName('conflict');
    const job = await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const exists = await failure(
      batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) }),
    );
    expect(exists.code).toBe(409);
    expect(exists.body).toMatchObject({
      reason: 'AlreadyExists',
      message: `jobs.batch "${name}" already exists`,
    });

    await batch.patchNamespacedJob(
      { namespace: 'default', name, body: { spec: { parallelism: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const stale = await failure(batch.replaceNamespacedJob({ namespace: 'default', name, body: job }));
    expect(stale.code).toBe(409);
    expect(stale.body).toMatchObject({
      reason: 'Conflict',
      message: `Operation cannot be fulfilled on jobs.batch "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    });
  });

  it('422 Invalid with causes (validation through the API)', async () => {
    const name = 'x'.repeat(64);
    const invalid = await failure(
      batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) }),
    );
    expect(invalid.code).toBe(422);
    expect(invalid.body).toMatchObject({
      reason: 'Invalid',
      message: `Job.batch "${name}" is invalid: spec.template.labels: Invalid value: "${name}": must be no more than 63 characters`,
      details: { name, group: 'batch', kind: 'Job' },
    });
    expect((invalid.body.details as { causes: unknown[] }).causes).toContainEqual({
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${name}": must be no more than 63 characters`,
      field: 'spec.template.labels',
    });

    const job = jobManifest(uniqueName('always'));
    job.spec!.template.spec!.restartPolicy = 'Always';
    const policy = await failure(batch.createNamespacedJob({ namespace: 'default', body: job }));
    expect(policy.body.message).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always"');

    const immutable = uniqueName('immutable');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(immutable) });
    const changed = await failure(
      batch.patchNamespacedJob(
        { namespace: 'default', name: immutable, body: { spec: { completions: 5 } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(changed.code).toBe(422);
    expect(changed.body.message).toBe(
      `Job.batch "${immutable}" is invalid: spec.completions: Invalid value: 5: field is immutable`,
    );
  });
});

describe('pod logs', () => {
  let pod: string;

  beforeAll(async () => {
    cluster.controllers.setRules([
      {
        match: { labels: { 'job-name': 'logs-*' } },
        action: 'succeed',
        seconds: 40,
        logs: [
          { after: 0, text: 'one' },
          { after: 1, text: 'two' },
          { after: 2, text: 'three' },
          { after: 30, text: 'four' },
        ],
      },
    ]);
    const name = uniqueName('logs');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    pod = await waitFor('a pod with three lines', async () => {
      const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: `job-name=${name}` });
      const candidate = pods.items[0]?.metadata?.name;
      if (!candidate) return undefined;
      const text = await core.readNamespacedPodLog({ namespace: 'default', name: candidate }).catch(() => '');
      return text.includes('three') ? candidate : undefined;
    });
  });

  afterAll(() => {
    cluster.controllers.setRules([]);
  });

  it('serves raw text, with tailLines, timestamps, limitBytes and sinceSeconds', async () => {
    expect(await core.readNamespacedPodLog({ namespace: 'default', name: pod })).toBe('one\ntwo\nthree\n');
    expect(await core.readNamespacedPodLog({ namespace: 'default', name: pod, tailLines: 1 })).toBe(
      'three\n',
    );
    expect(await core.readNamespacedPodLog({ namespace: 'default', name: pod, limitBytes: 6 })).toBe(
      'one\ntw',
    );
    const stamped = await core.readNamespacedPodLog({
      namespace: 'default',
      name: pod,
      timestamps: true,
      tailLines: 2,
    });
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\S+ two\n\d{4}-\d\d-\d\dT\S+ three\n$/);
  });

  it('follows until the container exits; sinceSeconds counts in simulated time', async () => {
    const text = await core.readNamespacedPodLog({ namespace: 'default', name: pod, follow: true });
    expect(text).toBe('one\ntwo\nthree\nfour\n');
    // 'four' was printed 30 simulated seconds after 'one'
    expect(await core.readNamespacedPodLog({ namespace: 'default', name: pod, sinceSeconds: 20 })).toBe(
      'four\n',
    );
  });

  it('answers log errors: unknown container 400, previous without a previous run 400, missing pod 404', async () => {
    const unknown = await failure(
      core.readNamespacedPodLog({ namespace: 'default', name: pod, container: 'nope' }),
    );
    expect(unknown.code).toBe(400);
    expect(unknown.body).toMatchObject({
      reason: 'BadRequest',
      message: `container nope is not valid for pod ${pod}`,
    });
    const previous = await failure(
      core.readNamespacedPodLog({ namespace: 'default', name: pod, previous: true }),
    );
    expect(previous.code).toBe(400);
    const missing = await failure(core.readNamespacedPodLog({ namespace: 'default', name: 'missing' }));
    expect(missing.code).toBe(404);
  });
});

describe('pod logs: long lines and byte limits', () => {
  const LONG = 6 * 1024 * 1024;
  let pod: string;

  beforeAll(async () => {
    cluster.controllers.setRules([
      {
        match: { labels: { 'job-name': 'long-log-*' } },
        action: 'succeed',
        seconds: 2,
        logs: [
          { after: 0, text: 'first' },
          { after: 0.5, text: 'x', repeat: LONG },
          { after: 1, text: 'é' },
        ],
      },
    ]);
    const name = uniqueName('long-log');
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    pod = await waitFor('the pod to finish', async () => {
      const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: `job-name=${name}` });
      const [found] = pods.items;
      return found?.status?.phase === 'Succeeded' ? found.metadata!.name! : undefined;
    });
  });

  afterAll(() => {
    cluster.controllers.setRules([]);
  });

  /** The raw bytes of a log request. */
  const logBytes = async (query: string) =>
    Buffer.from(
      await (await fetch(`${cluster.url}/api/v1/namespaces/default/pods/${pod}/log?${query}`)).arrayBuffer(),
    );

  it('serves a 6 MiB line made by a rule’s `repeat` whole', async () => {
    const log = await core.readNamespacedPodLog({ namespace: 'default', name: pod });
    const lines = log.split('\n');
    expect(lines.map((line) => line.length)).toEqual([5, LONG, 1, 0]);
    expect(lines[1]).toBe('x'.repeat(LONG));
  });

  it('takes the tail first, then limits the bytes from its start, cutting even mid-character', async () => {
    expect(
      await core.readNamespacedPodLog({ namespace: 'default', name: pod, tailLines: 2, limitBytes: 4 }),
    ).toBe('xxxx');
    const tail = await logBytes(`tailLines=2&limitBytes=${LONG + 2}`);
    expect(tail.length).toBe(LONG + 2);
    expect(tail.subarray(LONG - 1)).toEqual(Buffer.from('x\n\xc3', 'latin1'));
    expect(await logBytes('tailLines=1&limitBytes=1')).toEqual(Buffer.from([0xc3]));
    const stamped = (await logBytes('tailLines=1&timestamps=true&limitBytes=10')).toString();
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\d$/);
  });

  it('rejects a rule line over 64 MiB', async () => {
    const put = await fetch(`${cluster.url}/sim/rules`, {
      method: 'PUT',
      body: JSON.stringify([{ action: 'succeed', logs: [{ text: 'xx', repeat: 32 * 1024 * 1024 + 1 }] }]),
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { message: string }).message).toBe(
      '0.logs.0.repeat: a line may have at most 67108864 bytes',
    );
  });
});

describe('events', () => {
  it('lists a Job’s events with the involvedObject field selector', async () => {
    const name = uniqueName('evented');
    const job = await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    const selector = `involvedObject.kind=Job,involvedObject.name=${name},involvedObject.uid=${job.metadata!.uid}`;
    const events = await waitFor('a SuccessfulCreate event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: selector });
      return list.items.some((e) => e.reason === 'SuccessfulCreate') ? list.items : undefined;
    });
    expect(events.every((e) => e.involvedObject.name === name)).toBe(true);
    const created = await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: `${name}.manual` },
        involvedObject: { kind: 'Job', name, namespace: 'default', uid: job.metadata!.uid },
        reason: 'Manual',
        message: 'made by a test',
        type: 'Normal',
      },
    });
    expect(created.metadata!.uid).toBeDefined();
  });
});

describe('faults', () => {
  it.each([
    ['500', 'InternalError'],
    ['503', 'ServiceUnavailable'],
    ['504', 'Timeout'],
  ] as const)('answers %s with a Status for the chosen verb only', async (kind, reason) => {
    cluster.faults.set({ errors: { list: { [kind]: 1 } } });
    const { code, body } = await failure(batch.listNamespacedJob({ namespace: 'default' }));
    expect(code).toBe(Number(kind));
    expect(body).toMatchObject({ kind: 'Status', status: 'Failure', reason, code: Number(kind) });
    await expect(
      batch.readNamespacedJobStatus({ namespace: 'default', name: 'page-a' }),
    ).resolves.toBeDefined();
    expect(cluster.stats().faults[kind]).toBeGreaterThanOrEqual(1);
  });

  it('answers 429 in plain text with Retry-After: 1', async () => {
    cluster.faults.set({ errors: { '*': { '429': 1 } } });
    const { code, text, headers } = await failure(
      batch.readNamespacedJob({ namespace: 'default', name: 'page-a' }),
    );
    expect(code).toBe(429);
    expect(headers['retry-after']).toBe('1');
    expect(text).toBe('Too many requests, please try again later.\n');
  });

  it('drops the connection', async () => {
    cluster.faults.set({ errors: { get: { drop: 1 } } });
    await expect(batch.readNamespacedJob({ namespace: 'default', name: 'page-a' })).rejects.toThrow();
    expect(cluster.stats().faults.drop).toBeGreaterThanOrEqual(1);
  });

  it('adds latency', async () => {
    cluster.faults.set({ latencyMs: 300 });
    const started = Date.now();
    await batch.readNamespacedJob({ namespace: 'default', name: 'page-a' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('cuts open watches, cleanly or by resetting the connection', async () => {
    cluster.faults.set({ cutWatches: { everySeconds: 0.2, mode: 'close' } });
    const closed = await collectWatch('/apis/batch/v1/jobs', {
      resourceVersion: String(cluster.store.resourceVersion),
    });
    await waitFor('a clean end', () => closed.ended() === null, 5000);
    cluster.faults.set({ cutWatches: { everySeconds: 0.2, mode: 'reset' } });
    const reset = await collectWatch('/apis/batch/v1/jobs', {
      resourceVersion: String(cluster.store.resourceVersion),
    });
    await waitFor('an error end', () => reset.ended() instanceof Error, 5000);
    expect(cluster.stats().faults['cut-watch']).toBeGreaterThanOrEqual(2);
  });

  it('expires the next watch with HTTP 410', async () => {
    cluster.faults.set({ expireWatches: { count: 1, mode: 'http' } });
    const expired = await collectWatch('/apis/batch/v1/jobs', {});
    await waitFor(
      'the 410',
      () => (expired.ended() as { statusCode?: number } | null)?.statusCode === 410,
      5000,
    );
    const next = await collectWatch('/apis/batch/v1/jobs', {});
    await waitFor('a normal watch', () => next.events.length > 0, 5000);
    next.stop();
  });

  it('never applies to /version, discovery and /sim/, and is settable over HTTP', async () => {
    const put = await fetch(`${cluster.url}/sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ errors: { '*': { '503': 1 } } }),
    });
    expect(await put.json()).toMatchObject({ errors: { '*': { '503': 1 } } });
    for (const path of ['/version', '/api', '/apis', '/apis/batch/v1', '/sim/faults']) {
      expect((await fetch(`${cluster.url}${path}`)).status).toBe(200);
    }
    expect((await failure(batch.listNamespacedJob({ namespace: 'default' }))).code).toBe(503);
    const bad = await fetch(`${cluster.url}/sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ latencyMs: -1 }),
    });
    expect(bad.status).toBe(400);
  });
});

describe('admin endpoints and the recorder', () => {
  it('reads and replaces kubelet rules over HTTP, validating them', async () => {
    const rules = [{ name: 'all-fail', action: 'fail', exitCode: 3 }];
    const put = await fetch(`${cluster.url}/sim/rules`, { method: 'PUT', body: JSON.stringify(rules) });
    expect(put.status).toBe(200);
    expect(await (await fetch(`${cluster.url}/sim/rules`)).json()).toEqual(rules);
    const bad = await fetch(`${cluster.url}/sim/rules`, {
      method: 'PUT',
      body: JSON.stringify([{ action: 'explode' }]),
    });
    expect(bad.status).toBe(400);
    cluster.controllers.setRules([]);
  });

  it('records creations per name, active Jobs, requests by verb; reset-stats zeroes them', async () => {
    expect((await fetch(`${cluster.url}/sim/reset-stats`, { method: 'POST' })).status).toBe(204);
    cluster.controllers.setRules([
      { match: { labels: { 'job-name': 'stats-*' } }, action: 'succeed', seconds: 5 },
    ]);
    const names = [uniqueName('stats'), uniqueName('stats')];
    for (const name of names)
      await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(name) });
    await batch.deleteNamespacedJob({
      namespace: 'default',
      name: names[0]!,
      propagationPolicy: 'Background',
    });
    await batch.createNamespacedJob({ namespace: 'default', body: jobManifest(names[0]!) });
    const stats = (await (await fetch(`${cluster.url}/sim/stats`)).json()) as ReturnType<SimCluster['stats']>;
    expect(stats.jobsCreated).toEqual({ [names[0]!]: 2, [names[1]!]: 1 });
    expect(stats.maxActiveJobs).toBeGreaterThanOrEqual(2);
    expect(stats.requests).toMatchObject({ create: 3, delete: 1 });
    const unfinished = async () =>
      (await batch.listJobForAllNamespaces()).items.filter(
        (job) =>
          !job.status?.conditions?.some(
            (c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True',
          ),
      ).length;
    await waitFor('both to finish', async () => {
      const finished = await Promise.all(
        names.map((name) => batch.readNamespacedJob({ namespace: 'default', name })),
      );
      return finished.every((job) => job.status?.completionTime);
    });
    expect(cluster.stats().activeJobs).toBe(await unfinished());
    cluster.controllers.setRules([]);
  });
});
