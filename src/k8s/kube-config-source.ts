import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfigError } from '../errors.js';

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

/** The source found: kubeconfig files (merged in order) or the pod's service account. */
export type KubeConfigSource =
  { kind: 'files'; files: string[]; what: string } | { kind: 'in-cluster'; root: string; what: string };

const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The cluster's configuration, in this order: `KJL_KUBECONFIG`; in a pod (`KUBERNETES_SERVICE_HOST`
 * set and a service-account token present), the in-cluster configuration; `KUBECONFIG`;
 * `~/.kube/config`. Nothing found is a KubeConfigError (`KJL_K8S_CONFIG`), never a silent default.
 * Reads no file (that is the client's part): a process can tell whether it may reach a cluster
 * without loading the Kubernetes client.
 */
export function findKubeConfig(sources: KubeConfigSources): KubeConfigSource {
  if (sources.kubeconfig) {
    const file = sources.kubeconfig;
    return { kind: 'files', files: [file], what: `the kubeconfig ${file} (KJL_KUBECONFIG)` };
  }
  const tokenFile = join(sources.inClusterRoot, SERVICE_ACCOUNT_DIR, 'token');
  if (sources.serviceHost && existsSync(tokenFile)) {
    // client-node reads KUBERNETES_SERVICE_HOST/PORT itself; the prefix is the root folder
    const root = sources.inClusterRoot.replace(/\/+$/, '');
    return { kind: 'in-cluster', root, what: `the in-cluster configuration (${tokenFile})` };
  }
  if (sources.kubeconfigEnv) {
    const files = sources.kubeconfigEnv.split(':').filter(Boolean);
    return { kind: 'files', files, what: `the kubeconfig ${files.join(':')} (KUBECONFIG)` };
  }
  const home = join(sources.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return { kind: 'files', files: [home], what: `the kubeconfig ${home}` };
  throw new KubeConfigError(
    'no Kubernetes configuration: set KJL_KUBECONFIG or KUBECONFIG, create ~/.kube/config, or run in a ' +
      `pod with a service account (KUBERNETES_SERVICE_HOST and ${tokenFile})`,
    { context: { tokenFile } },
  );
}
