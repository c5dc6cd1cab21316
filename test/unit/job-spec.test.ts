import { fileURLToPath } from 'node:url';
import type { V1Container, V1Job } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf, type BuildRequest } from '../../src/build-request.js';
import { PermanentBuildError } from '../../src/errors.js';
import { thrown } from '../support/thrown.js';
import { contentTag, DNS1123_LABEL, jobNameFor } from '../../src/k8s/job-name.js';
import {
  buildJob,
  imageOf,
  imageReferenceFor,
  imageTagFor,
  mainContainerOf,
  type JobSpecOptions,
} from '../../src/k8s/job-spec.js';
import { instanceSelector, LABEL_VALUE } from '../../src/k8s/labels.js';
import { loadTemplateCatalog, parseTemplate, type TemplateCatalog } from '../../src/k8s/template-catalog.js';

const TEMPLATES = fileURLToPath(new URL('../../templates', import.meta.url));
/** Label keys: optional DNS-subdomain prefix + `/` + name. */
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;

const OPTIONS: JobSpecOptions = {
  namespace: 'builds',
  instance: 'kjl-builds',
  labelPrefix: 'kjl.dev',
  serviceAccount: 'kjl-builder',
  activeDeadlineSeconds: 1800,
  ttlSecondsAfterFinished: 86_400,
  bucket: 'ctx-bucket',
  registry: 'registry.example.com:5000',
  repository: 'parsers',
};

const TAG = contentTag('0123456789abcdef0123456789abcdef');

const REQUEST: BuildRequest = {
  thirdPartyId: 'acme',
  parserId: 'invoice',
  contentHash: '0123456789abcdef0123456789abcdef',
  template: 'kaniko',
};

let catalog: TemplateCatalog;
beforeAll(async () => {
  catalog = await loadTemplateCatalog(TEMPLATES, ['kaniko', 'generic']);
});

const podSpecOf = (job: V1Job) => job.spec!.template.spec!;
const container = (job: V1Job, name: string): V1Container =>
  [...podSpecOf(job).containers, ...(podSpecOf(job).initContainers ?? [])].find((c) => c.name === name)!;

/** Every label of the Job and its pod template, checked with the API server's rules. */
function expectValidLabels(job: V1Job): void {
  for (const labels of [job.metadata?.labels, job.spec?.template.metadata?.labels]) {
    expect(labels).toBeDefined();
    for (const [key, value] of Object.entries(labels!)) {
      expect(key).toMatch(LABEL_KEY);
      expect(value.length).toBeLessThanOrEqual(63);
      expect(value).toMatch(LABEL_VALUE);
    }
  }
  expect(job.metadata?.name).toMatch(DNS1123_LABEL);
  expect(job.metadata!.name!.length).toBeLessThanOrEqual(63);
  expect(['Never', 'OnFailure']).toContain(podSpecOf(job).restartPolicy);
}

/** Every string of the object with its path. */
function strings(value: unknown, path = ''): [string, string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((item, index) => strings(item, `${path}[${index}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => strings(item, path ? `${path}.${key}` : key));
  }
  return [];
}

describe('buildJob with the kaniko template', () => {
  it('names the Job and puts it in the namespace', () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.kind).toBe('Job');
    expect(job.metadata?.name).toBe(
      `build-acme-invoice-${contentTag(REQUEST.contentHash, OPTIONS.instance)}`,
    );
    expect(job.metadata?.name).toBe(jobNameFor(REQUEST, OPTIONS.instance));
    expect(job.metadata?.namespace).toBe('builds');
  });

  it('labels the Job and the pod template for tracking and cleanup', () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    const expected = {
      'app.kubernetes.io/managed-by': 'kube-job-launcher',
      'kjl.dev/instance': 'kjl-builds',
      'kjl.dev/third-party-id': 'acme',
      'kjl.dev/parser-id': 'invoice',
      'kjl.dev/request-id': requestIdOf(REQUEST),
      'kjl.dev/content-hash': contentTag(REQUEST.contentHash),
    };
    expect(job.metadata?.labels).toEqual(expected);
    expect(job.spec?.template.metadata?.labels).toEqual(expected);
    expect(instanceSelector('kjl.dev', 'kjl-builds')).toBe(
      'app.kubernetes.io/managed-by=kube-job-launcher,kjl.dev/instance=kjl-builds',
    );
    expectValidLabels(job);
  });

  it('annotates content hash, template, image and main container, and drops the template directives', () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    expect(job.metadata?.annotations).toEqual({
      'kjl.dev/content-hash': REQUEST.contentHash,
      'kjl.dev/template': 'kaniko',
      'kjl.dev/image': `registry.example.com:5000/parsers:acme-invoice-${TAG}`,
      'kjl.dev/main-container': 'kaniko',
      'kjl.dev/third-party-id': 'acme',
      'kjl.dev/parser-id': 'invoice',
    });
    expect(imageOf(job, 'kjl.dev')).toBe(`registry.example.com:5000/parsers:acme-invoice-${TAG}`);
    expect(mainContainerOf(job, 'kjl.dev')).toBe('kaniko');
  });

  it('uses another label prefix for labels, annotations and directives alike', () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), { ...OPTIONS, labelPrefix: 'builds.example.org' });
    expect(Object.keys(job.metadata!.labels!).sort()).toEqual([
      'app.kubernetes.io/managed-by',
      'builds.example.org/content-hash',
      'builds.example.org/instance',
      'builds.example.org/parser-id',
      'builds.example.org/request-id',
      'builds.example.org/third-party-id',
    ]);
    expect(
      Object.keys(job.metadata!.annotations!).every((key) => key.startsWith('builds.example.org/')),
    ).toBe(true);
    expect(imageOf(job, 'builds.example.org')).toBe(imageReferenceFor(REQUEST, OPTIONS));
  });

  it('builds from the default S3 context and pushes to {registry}/{repository}:{tp}-{p}-{contentTag}', () => {
    const kaniko = container(buildJob(REQUEST, catalog.get('kaniko'), OPTIONS), 'kaniko');
    expect(kaniko.image).toBe('gcr.io/kaniko-project/executor:v1.23.2');
    expect(kaniko.args).toEqual(
      expect.arrayContaining([
        '--context=s3://ctx-bucket/build-context/invoice/context.tar.gz',
        `--destination=registry.example.com:5000/parsers:acme-invoice-${TAG}`,
        '--cache=true',
      ]),
    );
  });

  it("uses the request's buildContext when given", () => {
    const job = buildJob(
      { ...REQUEST, buildContext: 'git://github.com/acme/parsers.git#refs/heads/main' },
      catalog.get('kaniko'),
      OPTIONS,
    );
    expect(container(job, 'kaniko').args).toContain(
      '--context=git://github.com/acme/parsers.git#refs/heads/main',
    );
  });

  it('sets backoff limit, deadline, TTL, restart policy, workspace and resources', () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.spec?.activeDeadlineSeconds).toBe(1800);
    expect(job.spec?.ttlSecondsAfterFinished).toBe(86_400);
    expect(podSpecOf(job).restartPolicy).toBe('Never');
    expect(podSpecOf(job).volumes).toEqual([{ name: 'workspace', emptyDir: { sizeLimit: '4Gi' } }]);
    const kaniko = container(job, 'kaniko');
    for (const key of ['cpu', 'memory', 'ephemeral-storage']) {
      expect(kaniko.resources?.requests?.[key]).toBeDefined();
      expect(kaniko.resources?.limits?.[key]).toBeDefined();
    }
    expect(
      buildJob(REQUEST, catalog.get('kaniko'), { ...OPTIONS, activeDeadlineSeconds: 600 }).spec
        ?.activeDeadlineSeconds,
    ).toBe(600);
  });

  it('runs the monitor as a native sidecar, non-root, on the shared workspace', () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    const monitor = container(job, 'monitor');
    expect(monitor.restartPolicy).toBe('Always');
    expect(monitor.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65534,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(monitor.volumeMounts).toEqual([{ name: 'workspace', mountPath: '/workspace', readOnly: true }]);
    expect(monitor.env).toContainEqual({ name: 'KJL_TARGET', value: 'acme/invoice' });
    // request values reach the script through env only
    expect(monitor.args?.join('\n')).not.toContain('acme');
  });

  it("keeps Kaniko's documented root exception narrow", () => {
    const job = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    expect(podSpecOf(job).securityContext).toEqual({
      runAsNonRoot: false,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const security = container(job, 'kaniko').securityContext!;
    expect(security.runAsUser).toBe(0);
    expect(security.allowPrivilegeEscalation).toBe(false);
    expect(security.privileged).toBeUndefined();
    expect(security.capabilities?.drop).toEqual(['ALL']);
    expect(security.capabilities?.add).not.toContain('SYS_ADMIN');
    expect(security.capabilities?.add).toEqual(
      expect.arrayContaining(['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETUID', 'SETGID']),
    );
    expect(security.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('sets the service account and does not mount its token', () => {
    const pod = podSpecOf(buildJob(REQUEST, catalog.get('kaniko'), OPTIONS));
    expect(pod.serviceAccountName).toBe('kjl-builder');
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('applies node selector, tolerations, priority class, pull secrets and runtime class when given, and nothing otherwise', () => {
    const plain = podSpecOf(buildJob(REQUEST, catalog.get('kaniko'), OPTIONS));
    expect(plain.nodeSelector).toBeUndefined();
    expect(plain.tolerations).toBeUndefined();
    expect(plain.priorityClassName).toBeUndefined();
    expect(plain.imagePullSecrets).toBeUndefined();
    expect(plain.runtimeClassName).toBeUndefined();
    const pod = podSpecOf(
      buildJob(REQUEST, catalog.get('kaniko'), {
        ...OPTIONS,
        nodeSelector: { 'node.kubernetes.io/pool': 'builds' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'builds', effect: 'NoSchedule' }],
        priorityClassName: 'batch-low',
        imagePullSecrets: ['registry-a', 'registry-b'],
        runtimeClassName: 'gvisor',
      }),
    );
    expect(pod.nodeSelector).toEqual({ 'node.kubernetes.io/pool': 'builds' });
    expect(pod.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'builds', effect: 'NoSchedule' },
    ]);
    expect(pod.priorityClassName).toBe('batch-low');
    expect(pod.imagePullSecrets).toEqual([{ name: 'registry-a' }, { name: 'registry-b' }]);
    expect(pod.runtimeClassName).toBe('gvisor');
  });

  it("adds pull secrets to the template's own without repeating one, and overrides its runtime class", () => {
    const template = parseTemplate(
      'own',
      'own.yaml',
      [
        'apiVersion: batch/v1',
        'kind: Job',
        'spec:',
        '  template:',
        '    spec:',
        '      runtimeClassName: runc',
        '      imagePullSecrets: [{ name: registry-a }]',
        '      containers: [{ name: main, image: busybox }]',
      ].join('\n'),
    );
    const pod = podSpecOf(
      buildJob(REQUEST, template, {
        ...OPTIONS,
        imagePullSecrets: ['registry-a', 'registry-b'],
        runtimeClassName: 'gvisor',
      }),
    );
    expect(pod.imagePullSecrets).toEqual([{ name: 'registry-a' }, { name: 'registry-b' }]);
    expect(pod.runtimeClassName).toBe('gvisor');
    expect(podSpecOf(buildJob(REQUEST, template, OPTIONS)).runtimeClassName).toBe('runc');
  });

  it("appends the request's env to the main container only, as literal values", () => {
    const job = buildJob(
      { ...REQUEST, env: { LOG_LEVEL: 'debug', PRICE: 'a$b' } },
      catalog.get('kaniko'),
      OPTIONS,
    );
    const env = container(job, 'kaniko').env!;
    expect(env.slice(-2)).toEqual([
      { name: 'LOG_LEVEL', value: 'debug' },
      { name: 'PRICE', value: 'a$$b' },
    ]);
    expect(env[0]).toEqual({ name: 'KJL_REQUEST_ID', value: requestIdOf(REQUEST) });
    expect(container(job, 'monitor').env?.map((entry) => entry.name)).not.toContain('LOG_LEVEL');
  });

  it("refuses to override the template's own env", () => {
    expect(() =>
      buildJob({ ...REQUEST, env: { KJL_REQUEST_ID: 'other' } }, catalog.get('kaniko'), OPTIONS),
    ).toThrow(PermanentBuildError);
  });

  it.each(['AWS_ACCESS_KEY_ID', 'https_proxy', 'NO_PROXY', 'DOCKER_CONFIG'])(
    'refuses the reserved env name %s unless the template allows it',
    (name) => {
      const error = thrown(PermanentBuildError, () =>
        buildJob({ ...REQUEST, env: { [name]: 'x' } }, catalog.get('kaniko'), OPTIONS),
      );
      expect(error.code).toBe('KJL_ENV_NOT_ALLOWED');
      expect(error.message).toContain(name);
      expect(error.message).toContain('kjl.dev/allowed-env');
    },
  );

  it('takes reserved names, and any name next to envFrom, that the kjl.dev/allowed-env directive lists', () => {
    const text = (directive: string) => `apiVersion: batch/v1
kind: Job
metadata:
  annotations:
${directive}
spec:
  template:
    spec:
      containers:
        - name: main
          image: busybox
          envFrom:
            - secretRef: { name: build-secrets }
`;
    const open = parseTemplate(
      'open',
      'open.yaml',
      text(`    kjl.dev/allowed-env: 'AWS_REGION, HTTP_*, GOFLAGS'`),
    );
    const job = buildJob(
      {
        ...REQUEST,
        env: { AWS_REGION: 'eu-west-1', HTTP_PROXY: 'http://proxy:3128', GOFLAGS: '-mod=vendor' },
      },
      open,
      OPTIONS,
    );
    expect(job.spec?.template.spec?.containers[0]?.env?.map((entry) => entry.name)).toEqual([
      'AWS_REGION',
      'HTTP_PROXY',
      'GOFLAGS',
    ]);
    expect(job.metadata?.annotations).not.toHaveProperty('kjl.dev/allowed-env');
    // next to envFrom, any name the directive does not list could override a secret's value
    const error = thrown(PermanentBuildError, () =>
      buildJob({ ...REQUEST, env: { LANG: 'C' } }, open, OPTIONS),
    );
    expect(error.code).toBe('KJL_ENV_NOT_ALLOWED');
    expect(error.message).toContain('envFrom');
  });

  it("overrides the main container's cpu and memory requests and limits", () => {
    const job = buildJob(
      { ...REQUEST, resources: { cpu: '3', memory: '6Gi' } },
      catalog.get('kaniko'),
      OPTIONS,
    );
    expect(container(job, 'kaniko').resources).toEqual({
      requests: { cpu: '3', memory: '6Gi', 'ephemeral-storage': '4Gi' },
      limits: { cpu: '3', memory: '6Gi', 'ephemeral-storage': '20Gi' },
    });
    const memoryOnly = buildJob({ ...REQUEST, resources: { memory: '1Gi' } }, catalog.get('kaniko'), OPTIONS);
    expect(container(memoryOnly, 'kaniko').resources?.requests).toMatchObject({ cpu: '1', memory: '1Gi' });
    expect(container(memoryOnly, 'monitor').resources?.limits?.memory).toBe('32Mi');
  });

  it('does not change the template it was built from', () => {
    const template = catalog.get('kaniko');
    const before = JSON.stringify(template.manifest);
    buildJob({ ...REQUEST, env: { A: 'b' }, resources: { cpu: '2' } }, template, OPTIONS);
    expect(JSON.stringify(template.manifest)).toBe(before);
  });

  it('puts odd id characters only into the intended fields, never into structure', () => {
    const odd: BuildRequest = { ...REQUEST, thirdPartyId: '-Acme.Corp_', parserId: 'a.b_c' };
    const job = buildJob(odd, catalog.get('kaniko'), OPTIONS);
    const reference = buildJob(REQUEST, catalog.get('kaniko'), OPTIONS);
    expectValidLabels(job);
    // same structure: the same paths hold strings
    expect(strings(job).map(([path]) => path)).toEqual(strings(reference).map(([path]) => path));
    const holding = strings(job)
      .filter(([, value]) => value.includes('a.b_c'))
      .map(([path]) => path);
    expect(holding.sort()).toEqual(
      [
        'metadata.annotations.kjl.dev/image',
        'metadata.annotations.kjl.dev/parser-id',
        'metadata.labels.kjl.dev/parser-id',
        'spec.template.metadata.labels.kjl.dev/parser-id',
        'spec.template.spec.containers[0].args[0]',
        'spec.template.spec.containers[0].args[1]',
        'spec.template.spec.initContainers[0].env[1].value',
        'spec.template.spec.initContainers[0].env[2].value',
      ].sort(),
    );
    expect(job.metadata?.labels?.['kjl.dev/third-party-id']).toMatch(/^Acme\.Corp-[0-9a-f]{8}$/);
    expect(job.metadata?.annotations?.['kjl.dev/third-party-id']).toBe('-Acme.Corp_');
    expect(container(job, 'kaniko').args).toContain(
      '--context=s3://ctx-bucket/build-context/a.b_c/context.tar.gz',
    );
  });

  it('keeps 63-character ids valid everywhere', () => {
    const long: BuildRequest = { ...REQUEST, thirdPartyId: 'T'.repeat(63), parserId: `${'p'.repeat(62)}_` };
    const job = buildJob(long, catalog.get('kaniko'), OPTIONS);
    expectValidLabels(job);
    const tag = imageTagFor(long);
    expect(tag.length).toBeLessThanOrEqual(128);
    expect(tag).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
  });
});

describe('imageTagFor', () => {
  it('is {thirdPartyId}-{parserId}-{contentTag} when that is unambiguous and valid', () => {
    expect(imageTagFor(REQUEST)).toBe(`acme-invoice-${TAG}`);
    expect(imageTagFor({ ...REQUEST, thirdPartyId: 'Acme_1', parserId: 'x.y-z' })).toBe(
      `Acme_1-x.y-z-${TAG}`,
    );
  });

  it('never gives two targets the same tag', () => {
    expect(imageTagFor({ ...REQUEST, thirdPartyId: 'a-b', parserId: 'c' })).not.toBe(
      imageTagFor({ ...REQUEST, thirdPartyId: 'a', parserId: 'b-c' }),
    );
    expect(imageTagFor({ ...REQUEST, thirdPartyId: '.a', parserId: 'b' })).not.toBe(
      imageTagFor({ ...REQUEST, thirdPartyId: 'a', parserId: 'b' }),
    );
    expect(imageTagFor({ ...REQUEST, thirdPartyId: '.a', parserId: 'b' })).toMatch(
      new RegExp(`^a-b-[0-9a-f]{8}-${TAG}$`),
    );
  });
});

describe('buildJob with the generic template', () => {
  it('gives a harmless default with every kjl field and the restricted security context', () => {
    const job = buildJob(
      { ...REQUEST, template: 'generic', env: { MODE: 'fast' } },
      catalog.get('generic'),
      OPTIONS,
    );
    expectValidLabels(job);
    expect(job.metadata?.annotations?.['kjl.dev/template']).toBe('generic');
    expect(job.metadata?.annotations?.['kjl.dev/image']).toBeUndefined();
    expect(imageOf(job, 'kjl.dev')).toBeUndefined();
    const pod = podSpecOf(job);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const main = container(job, 'main');
    expect(main.image).toBe('busybox:1.37');
    expect(main.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(main.env).toContainEqual({ name: 'KJL_TARGET', value: 'acme/invoice' });
    expect(main.env?.at(-1)).toEqual({ name: 'MODE', value: 'fast' });
  });

  it('keeps Indexed completion, parallelism and volumes from a template', () => {
    const template = parseTemplate(
      'indexed',
      'indexed.yaml',
      `apiVersion: batch/v1
kind: Job
metadata:
  labels:
    team: parsers
  annotations:
    kjl.dev/main-container: worker
spec:
  completions: 4
  parallelism: 2
  completionMode: Indexed
  backoffLimit: 1
  activeDeadlineSeconds: 7200
  template:
    metadata:
      labels:
        app: shard
    spec:
      serviceAccountName: shard-runner
      automountServiceAccountToken: true
      initContainers:
        - name: fetch
          image: busybox:1.37
          args: ['{{buildContext}}']
      containers:
        - name: helper
          image: busybox:1.37
        - name: worker
          image: '{{registry}}/{{repository}}:{{thirdPartyId}}-{{parserId}}-{{hash8}}'
          securityContext:
            readOnlyRootFilesystem: true
      volumes:
        - name: scratch
          emptyDir: {}
      nodeSelector:
        disk: ssd
`,
    );
    const job = buildJob({ ...REQUEST, env: { SHARDS: '4' }, resources: { cpu: '500m' } }, template, {
      ...OPTIONS,
      nodeSelector: { zone: 'a' },
    });
    expectValidLabels(job);
    expect(job.spec).toMatchObject({
      completions: 4,
      parallelism: 2,
      completionMode: 'Indexed',
      backoffLimit: 1,
      activeDeadlineSeconds: 1800,
    });
    expect(job.metadata?.labels?.team).toBe('parsers');
    expect(job.spec?.template.metadata?.labels?.app).toBe('shard');
    expect(job.spec?.template.metadata?.labels?.['kjl.dev/request-id']).toBe(requestIdOf(REQUEST));
    const pod = podSpecOf(job);
    expect(pod.serviceAccountName).toBe('shard-runner');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.volumes).toEqual([{ name: 'scratch', emptyDir: {} }]);
    expect(pod.nodeSelector).toEqual({ disk: 'ssd', zone: 'a' });
    const worker = container(job, 'worker');
    expect(worker.image).toBe('registry.example.com:5000/parsers:acme-invoice-01234567');
    expect(worker.env).toEqual([{ name: 'SHARDS', value: '4' }]);
    expect(worker.resources).toEqual({ requests: { cpu: '500m' }, limits: { cpu: '500m' } });
    expect(worker.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(container(job, 'helper').env).toBeUndefined();
    expect(container(job, 'fetch').args).toEqual(['s3://ctx-bucket/build-context/invoice/context.tar.gz']);
    expect(container(job, 'fetch').securityContext?.capabilities).toEqual({ drop: ['ALL'] });
    expect(mainContainerOf(job, 'kjl.dev')).toBe('worker');
  });

  it("keeps the template's own labels valid when a placeholder fills them", () => {
    const template = parseTemplate(
      'labelled',
      'labelled.yaml',
      `apiVersion: batch/v1
kind: Job
metadata:
  labels:
    tenant: '{{thirdPartyId}}'
spec:
  template:
    metadata:
      labels:
        tenant: '{{thirdPartyId}}'
    spec:
      containers:
        - name: main
          image: busybox
`,
    );
    const job = buildJob({ ...REQUEST, thirdPartyId: '_acme_' }, template, OPTIONS);
    expectValidLabels(job);
    expect(job.metadata?.labels?.tenant).toMatch(/^acme-[0-9a-f]{8}$/);
    expect(buildJob(REQUEST, template, OPTIONS).spec?.template.metadata?.labels?.tenant).toBe('acme');
  });

  it('does not add allowPrivilegeEscalation: false where the API server would reject it', () => {
    const template = parseTemplate(
      'priv',
      'priv.yaml',
      `apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: main
          image: busybox
          securityContext:
            privileged: true
`,
    );
    const security = container(buildJob(REQUEST, template, OPTIONS), 'main').securityContext;
    expect(security?.privileged).toBe(true);
    expect(security?.allowPrivilegeEscalation).toBeUndefined();
  });
});
