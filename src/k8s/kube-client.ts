import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  BatchV1Api,
  bufferFromFileOrString,
  CoreV1Api,
  KubeConfig,
  VersionApi,
  type RequestContext,
} from '@kubernetes/client-node';
import { Agent } from 'undici';
import { KubeConfigError } from '../errors.js';
import { TokenBucket } from './token-bucket.js';

export interface KubeClients {
  kubeConfig: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  version: VersionApi;
  /** closes the pooled connections */
  close(): Promise<void>;
}

/** How hard kjl may use the API server: client-go's QPS and burst, and the connections it keeps. */
export interface ApiLimits {
  qps: number;
  burst: number;
  connections: number;
}

/**
 * A KubeConfig whose API requests share one pool of keep-alive connections (client-node otherwise
 * makes a new agent, and new connections, per request on TLS clusters) of at most `connections`,
 * and wait for a token of a client-side rate limit, so that a burst of creates does not hammer the
 * API server. Watches and followed logs — long-lived streams — keep their own connections and are
 * not rate limited. A user whose credential plugin (exec) may hand out a client certificate keeps
 * client-node's own agents.
 */
export class PooledKubeConfig extends KubeConfig {
  private pool: Agent | undefined;
  private readonly bucket: TokenBucket;

  constructor(private readonly limits: ApiLimits) {
    super();
    this.bucket = new TokenBucket(limits.qps, limits.burst);
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const streaming = /[?&](watch|follow)=(true|1)\b/.test(context.getUrl());
    if (!streaming) await this.bucket.take();
    await super.applySecurityAuthentication(context);
    if (!streaming && !this.getCurrentUser()?.exec) context.setDispatcher(this.agent());
  }

  /** The one agent of every request: the cluster's TLS settings, keep-alive, bounded. */
  private agent(): Agent {
    if (this.pool) return this.pool;
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    const ca = bufferFromFileOrString(cluster?.caFile, cluster?.caData);
    const cert = bufferFromFileOrString(user?.certFile, user?.certData);
    const key = bufferFromFileOrString(user?.keyFile, user?.keyData);
    this.pool = new Agent({
      connections: this.limits.connections,
      connect: {
        ...(ca ? { ca } : {}),
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
        ...(cluster?.skipTLSVerify ? { rejectUnauthorized: false } : {}),
        ...(cluster?.tlsServerName ? { servername: cluster.tlsServerName } : {}),
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
      },
    });
    return this.pool;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
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
  /** the API client's limits (default: client-node's own behaviour, no pool) */
  limits?: ApiLimits;
}

const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

function load(what: string, apply: (config: KubeConfig) => void, limits?: ApiLimits): KubeConfig {
  const kubeConfig = limits ? new PooledKubeConfig(limits) : new KubeConfig();
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
    return load(
      `the kubeconfig ${file} (KJL_KUBECONFIG)`,
      (config) => config.loadFromFile(file),
      sources.limits,
    );
  }
  const tokenFile = join(sources.inClusterRoot, SERVICE_ACCOUNT_DIR, 'token');
  if (sources.serviceHost && existsSync(tokenFile)) {
    // client-node reads KUBERNETES_SERVICE_HOST/PORT itself; the prefix is the root folder
    const prefix = sources.inClusterRoot.replace(/\/+$/, '');
    return load(
      `the in-cluster configuration (${tokenFile})`,
      (config) => config.loadFromCluster(prefix),
      sources.limits,
    );
  }
  if (sources.kubeconfigEnv) {
    const files = sources.kubeconfigEnv.split(':').filter(Boolean);
    return load(
      `the kubeconfig ${files.join(':')} (KUBECONFIG)`,
      (config) => {
        for (const [index, file] of files.entries()) {
          if (index === 0) config.loadFromFile(file);
          else {
            const more = new KubeConfig();
            more.loadFromFile(file);
            config.mergeConfig(more);
          }
        }
      },
      sources.limits,
    );
  }
  const home = join(sources.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) {
    return load(`the kubeconfig ${home}`, (config) => config.loadFromFile(home), sources.limits);
  }
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
    close: async () => {
      if (kubeConfig instanceof PooledKubeConfig) await kubeConfig.close();
    },
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
