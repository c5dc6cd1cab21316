import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

/** The name of the simulated cluster, its user and its context in the kubeconfig. */
export const SIM_CONTEXT = 'kjl-sim';

/**
 * A kubeconfig for the simulated cluster: plain HTTP, a dummy bearer token (the simulator does not
 * authenticate; clients just need a user entry), context `kjl-sim` current, namespace `default`.
 * client-node refuses an `http://` server unless `insecure-skip-tls-verify` is set.
 */
export function buildKubeconfig(serverUrl: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: SIM_CONTEXT, cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
    users: [{ name: SIM_CONTEXT, user: { token: 'kjl-sim-token' } }],
    contexts: [
      { name: SIM_CONTEXT, context: { cluster: SIM_CONTEXT, user: SIM_CONTEXT, namespace: 'default' } },
    ],
    'current-context': SIM_CONTEXT,
    preferences: {},
  });
}

/** Writes a kubeconfig file readable only by its owner (it holds a token, even if a dummy one). */
export async function writeKubeconfig(path: string, kubeconfig: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, kubeconfig, { mode: 0o600 });
}
