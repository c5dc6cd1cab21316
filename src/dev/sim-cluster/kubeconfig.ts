import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { DEFAULT_ADMIN_TOKEN } from './authentication.js';

/** The name of the simulated cluster, its user and its context in the kubeconfig. */
export const SIM_CONTEXT = 'kjl-sim';

export interface KubeconfigOptions {
  /** the admin's bearer token (default `kjl-sim-token`; any token works while auth is off) */
  token?: string;
  /** the CA (PEM) that signed an HTTPS server's certificate; without it the kubeconfig skips TLS verification */
  ca?: string;
}

/**
 * A kubeconfig for the simulated cluster: the admin's bearer token, context `kjl-sim` current,
 * namespace `default`. client-node refuses an `http://` server unless `insecure-skip-tls-verify` is
 * set, so it is set unless a CA is given for an HTTPS server.
 */
export function buildKubeconfig(serverUrl: string, options: KubeconfigOptions = {}): string {
  const tls = options.ca
    ? { 'certificate-authority-data': Buffer.from(options.ca).toString('base64') }
    : { 'insecure-skip-tls-verify': true };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: SIM_CONTEXT, cluster: { server: serverUrl, ...tls } }],
    users: [{ name: SIM_CONTEXT, user: { token: options.token ?? DEFAULT_ADMIN_TOKEN } }],
    contexts: [
      { name: SIM_CONTEXT, context: { cluster: SIM_CONTEXT, user: SIM_CONTEXT, namespace: 'default' } },
    ],
    'current-context': SIM_CONTEXT,
    preferences: {},
  });
}

/** Writes a kubeconfig file readable only by its owner (it holds a token). */
export async function writeKubeconfig(path: string, kubeconfig: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, kubeconfig, { mode: 0o600 });
}
