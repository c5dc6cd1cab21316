import { BatchV1Api, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { KubeConfigError } from '../errors.js';

export interface KubeClients {
  kubeConfig: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  version: VersionApi;
}

/**
 * The cluster's configuration: the given kubeconfig file; else client-node's defaults, which are
 * `KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account when running in a pod.
 */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (kubeconfigPath) kubeConfig.loadFromFile(kubeconfigPath);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new KubeConfigError(
      `cannot read the kubeconfig ${kubeconfigPath ?? '(default)'}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (!kubeConfig.getCurrentCluster()) {
    throw new KubeConfigError(
      'no Kubernetes cluster configured: not running in a pod (in-cluster config) and no kubeconfig ' +
        '(set KJL_KUBECONFIG or KUBECONFIG, or create ~/.kube/config)',
    );
  }
  return kubeConfig;
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
