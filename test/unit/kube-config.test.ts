import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeConfigError } from '../../src/errors.js';
import { loadKubeConfig } from '../../src/k8s/kube-client.js';
import { thrown } from '../support/thrown.js';

const kubeconfig = (server: string) => `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: '${server}' } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

let dir: string;
let root: string;
let file: string;
let home: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-kubeconfig-'));
  file = join(dir, 'explicit');
  await writeFile(file, kubeconfig('https://explicit:6443'));
  await writeFile(join(dir, 'env'), kubeconfig('https://from-env:6443'));
  root = join(dir, 'root');
  await mkdir(join(root, 'var/run/secrets/kubernetes.io/serviceaccount'), { recursive: true });
  for (const name of ['token', 'ca.crt', 'namespace']) {
    await writeFile(join(root, 'var/run/secrets/kubernetes.io/serviceaccount', name), name);
  }
  home = join(dir, 'home');
  await mkdir(join(home, '.kube'), { recursive: true });
  await writeFile(join(home, '.kube', 'config'), kubeconfig('https://home:6443'));
});

const server = (config: ReturnType<typeof loadKubeConfig>) => config.getCurrentCluster()?.server;

describe('loadKubeConfig: KJL_KUBECONFIG, in-cluster, KUBECONFIG, ~/.kube/config, else an error', () => {
  it('takes KJL_KUBECONFIG before anything else', () => {
    const config = loadKubeConfig({ kubeconfig: file, serviceHost: '10.0.0.1', inClusterRoot: root, home });
    expect(server(config)).toBe('https://explicit:6443');
  });

  it('takes the in-cluster service account in a pod, before KUBECONFIG', () => {
    const config = loadKubeConfig({
      serviceHost: '10.0.0.1',
      servicePort: '443',
      inClusterRoot: root,
      kubeconfigEnv: join(dir, 'env'),
      home,
    });
    expect(config.getCurrentCluster()?.caFile).toBe(
      join(root, 'var/run/secrets/kubernetes.io/serviceaccount/ca.crt'),
    );
  });

  it('takes KUBECONFIG when not in a pod, then ~/.kube/config', () => {
    expect(server(loadKubeConfig({ inClusterRoot: root, kubeconfigEnv: join(dir, 'env'), home }))).toBe(
      'https://from-env:6443',
    );
    expect(server(loadKubeConfig({ inClusterRoot: '/nonexistent', home }))).toBe('https://home:6443');
  });

  it('is an error naming where it looked, never a silent localhost:8080', () => {
    const error = thrown(KubeConfigError, () =>
      loadKubeConfig({ inClusterRoot: '/nonexistent', home: join(dir, 'nobody') }),
    );
    expect(error.code).toBe('KJL_K8S_CONFIG');
    expect(error.message).toMatch(/KJL_KUBECONFIG or KUBECONFIG/);
  });
});
