import {
  BatchV1Api,
  bufferFromFileOrString,
  CoreV1Api,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  ServerConfiguration,
  VersionApi,
  Watch,
  createConfiguration,
  setHeaderMiddleware,
  wrapHttpLibrary,
  type Configuration,
  type RequestContext,
} from '@kubernetes/client-node';
import { Agent } from 'undici';
import { KubeConfigError } from '../errors.js';
import { DEFAULT_API_RETRY, type RetryOptions } from './api-retry.js';
import { findKubeConfig, type KubeConfigSources } from './kube-config-source.js';
import { TokenBucket } from './token-bucket.js';

export interface KubeClients {
  kubeConfig: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  version: VersionApi;
  /** list+watch requests (the informers) */
  watch: Pick<Watch, 'watch'>;
  /** how `callApi` retries these clients' calls (and whom it tells) */
  retry: RetryOptions;
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

/** What the composition root may learn of the traffic to the API server (metrics). */
export interface KubeApiObserver {
  /**
   * Every request to the API server, once answered: its verb as the API server names it (`get`,
   * `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`) and the HTTP
   * status, or `error` when no answer came (connection refused or dropped, timeout, credentials).
   */
  onRequest?(verb: string, code: string): void;
  /** A call `callApi` is about to try again (throttled, server error, dropped connection). */
  onRetry?(operation: string): void;
}

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
 * The cluster's configuration from the first source found (see `findKubeConfig`); with `limits`,
 * its requests share a bounded keep-alive pool and a client-side rate limit.
 */
export function loadKubeConfig(sources: KubeConfigSources & { limits?: ApiLimits }): KubeConfig {
  const source = findKubeConfig(sources);
  return load(
    source.what,
    (config) => {
      if (source.kind === 'in-cluster') return config.loadFromCluster(source.root);
      for (const [index, file] of source.files.entries()) {
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

/** True for a path that names a collection (`…/jobs`), false for an object or anything else. */
function isCollection(path: string): boolean {
  const parts = path.split('/').filter(Boolean);
  let rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : [];
  if (rest[0] === 'watch') rest = rest.slice(1);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  return rest.length === 1;
}

/** The API server's verb of a request: `GET …/jobs` is `list`, `GET …/jobs/x` is `get`, … */
export function apiVerb(method: string, url: string): string {
  const { pathname, searchParams } = new URL(url);
  switch (method.toUpperCase()) {
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return isCollection(pathname) ? 'deletecollection' : 'delete';
    default: {
      const watch = searchParams.get('watch');
      if (watch === 'true' || watch === '1' || pathname.split('/').includes('watch')) return 'watch';
      return isCollection(pathname) ? 'list' : 'get';
    }
  }
}

/** client-node's `makeApiClient`, with an HTTP library that tells `observer` about every request. */
function apiConfiguration(kubeConfig: KubeConfig, observer: KubeApiObserver): Configuration {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new KubeConfigError('the kubeconfig names no current cluster');
  const fetchLibrary = new IsomorphicFetchHttpLibrary();
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    middleware: [setHeaderMiddleware('User-Agent', 'kube-job-launcher (kubernetes-client-javascript)')],
    httpApi: wrapHttpLibrary({
      async send(request) {
        const verb = apiVerb(request.getHttpMethod(), request.getUrl());
        try {
          const response = await fetchLibrary.send(request).toPromise();
          observer.onRequest?.(verb, String(response.httpStatusCode));
          return response;
        } catch (error) {
          observer.onRequest?.(verb, 'error');
          throw error;
        }
      },
    }),
  });
}

/**
 * A watch that tells `observer` how each watch request was answered: `200` once it is open, the
 * HTTP status of a refusal (410, 403, …), `error` when no answer came.
 */
function observedWatch(kubeConfig: KubeConfig, observer: KubeApiObserver): Pick<Watch, 'watch'> {
  const watch = new Watch(kubeConfig);
  return {
    async watch(path, queryParams, callback, done) {
      let counted = false;
      const count = (code: string) => {
        if (counted) return;
        counted = true;
        observer.onRequest?.('watch', code);
      };
      try {
        const controller = await watch.watch(path, queryParams, callback, (error: unknown) => {
          // before the watch resolved: the request's own answer; after: the end of an open watch
          const status = (error as { statusCode?: unknown } | null)?.statusCode;
          count(error ? (typeof status === 'number' ? String(status) : 'error') : '200');
          done(error);
        });
        count('200');
        return controller;
      } catch (error) {
        count('error');
        throw error;
      }
    },
  };
}

/** The API clients of a configuration; `observer` learns of every request and retry (metrics). */
export function createKubeClients(kubeConfig: KubeConfig, observer: KubeApiObserver = {}): KubeClients {
  const configuration = apiConfiguration(kubeConfig, observer);
  return {
    kubeConfig,
    batch: new BatchV1Api(configuration),
    core: new CoreV1Api(configuration),
    version: new VersionApi(configuration),
    watch: observedWatch(kubeConfig, observer),
    retry: {
      ...DEFAULT_API_RETRY,
      ...(observer.onRetry ? { onRetry: (what: string) => observer.onRetry?.(what) } : {}),
    },
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
