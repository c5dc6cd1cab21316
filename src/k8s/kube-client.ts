import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { KubeConfigError } from '../errors.js';

export interface KubeClients {
  kubeConfig: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  version: VersionApi;
}

/** Where the cluster's configuration may come from (the settings `k8s.*`). */
export interface KubeConfigSources {
  /** `KJL_KUBECONFIG`: this file, and nothing else */
  kubeconfig?: string;
  /** `KUBERNETES_SERVICE_HOST` / `_PORT`: set by Kubernetes in every pod */
  serviceHost?: string;
  servicePort?: string;
  /** folder the service-account files are under (`/` in a pod) */
  inClusterRoot: string;
  /** `KUBECONFIG`: one file or a `:`-separated list */
  kubeconfigEnv?: string;
  /** the home folder, for `~/.kube/config` */
  home?: string;
}

const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

function load(what: string, apply: (config: KubeConfig) => void): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    apply(kubeConfig);
  } catch (error) {
    throw new KubeConfigError(`cannot read ${what}: ${(error as Error).message}`, {
      cause: error,
      context: { source: what },
    });
  }
  if (!kubeConfig.getCurrentCluster()) {
    throw new KubeConfigError(`${what} names no current cluster`, { context: { source: what } });
  }
  return kubeConfig;
}

/**
 * The cluster's configuration, in this order: `KJL_KUBECONFIG`; in a pod (`KUBERNETES_SERVICE_HOST`
 * set and a service-account token present), the in-cluster configuration; `KUBECONFIG`;
 * `~/.kube/config`. Nothing found is a KubeConfigError (`KJL_K8S_CONFIG`), never a silent default.
 */
export function loadKubeConfig(sources: KubeConfigSources): KubeConfig {
  if (sources.kubeconfig) {
    const file = sources.kubeconfig;
    return load(`the kubeconfig ${file} (KJL_KUBECONFIG)`, (config) => config.loadFromFile(file));
  }
  const tokenFile = join(sources.inClusterRoot, SERVICE_ACCOUNT_DIR, 'token');
  if (sources.serviceHost && existsSync(tokenFile)) {
    // client-node reads KUBERNETES_SERVICE_HOST/PORT itself; the prefix is the root folder
    const prefix = sources.inClusterRoot.replace(/\/+$/, '');
    return load(`the in-cluster configuration (${tokenFile})`, (config) => config.loadFromCluster(prefix));
  }
  if (sources.kubeconfigEnv) {
    const files = sources.kubeconfigEnv.split(':').filter(Boolean);
    return load(`the kubeconfig ${files.join(':')} (KUBECONFIG)`, (config) => {
      for (const [index, file] of files.entries()) {
        if (index === 0) config.loadFromFile(file);
        else {
          const more = new KubeConfig();
          more.loadFromFile(file);
          config.mergeConfig(more);
        }
      }
    });
  }
  const home = join(sources.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return load(`the kubeconfig ${home}`, (config) => config.loadFromFile(home));
  throw new KubeConfigError(
    'no Kubernetes configuration: set KJL_KUBECONFIG or KUBECONFIG, create ~/.kube/config, or run in a ' +
      `pod with a service account (KUBERNETES_SERVICE_HOST and ${tokenFile})`,
    { context: { tokenFile } },
  );
}

export function createKubeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    kubeConfig,
    batch: kubeConfig.makeApiClient(BatchV1Api),
    core: kubeConfig.makeApiClient(CoreV1Api),
    version: kubeConfig.makeApiClient(VersionApi),
  };
}

/** True when the API server answers `/version` now (readiness; one cheap call, no retries). */
export async function apiReachable(clients: KubeClients): Promise<boolean> {
  try {
    await clients.version.getCode();
    return true;
  } catch {
    return false;
  }
}
