import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where a pod finds its service account's credentials (client-node's `SERVICEACCOUNT_ROOT`). */
const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

export interface ServiceAccountFiles {
  token: string;
  /** PEM of the CA that signed the API server's certificate */
  ca: string;
  namespace: string;
}

/**
 * Writes `<prefix>/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}` as the
 * kubelet mounts them (no trailing newlines), for `KubeConfig.loadFromCluster(prefix)`.
 */
export async function writeServiceAccountFiles(prefix: string, files: ServiceAccountFiles): Promise<void> {
  const dir = join(prefix, SERVICE_ACCOUNT_DIR);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'token'), files.token, { mode: 0o600 });
  await writeFile(join(dir, 'ca.crt'), files.ca);
  await writeFile(join(dir, 'namespace'), files.namespace);
}

/** The environment a pod sees for the API server at `url` (`KUBERNETES_SERVICE_HOST` and `_PORT`). */
export function inClusterEnv(url: string): {
  KUBERNETES_SERVICE_HOST: string;
  KUBERNETES_SERVICE_PORT: string;
} {
  const { hostname, port } = new URL(url);
  return { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port };
}
