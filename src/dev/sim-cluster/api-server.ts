import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import { serveAdmin } from './admin.js';
import type { Authenticator } from './authentication.js';
import type { SimClock } from './clock.js';
import type { Controllers } from './controllers/index.js';
import { discoveryDocument } from './discovery.js';
import type { FaultController, FaultKind, Verb } from './faults.js';
import { readBody, sendJson, sendStatus, sendText } from './http-io.js';
import { servePodLogs } from './pod-logs.js';
import { authorize, forbiddenRequest } from './rbac.js';
import type { Recorder } from './recorder.js';
import { requestInfoOf, type RequestInfo, type ResourceRequestInfo } from './request-info.js';
import { ResourceHandlers, type Target } from './resource-handlers.js';
import { parseSelectors } from './selectors.js';
import { StatusError } from './status.js';
import { RESOURCES, type KubeObject, type ObjectStore, type ResourceKey } from './store.js';
import { includeObjectOf, toTable, wantsTable } from './tables.js';
import { serveWatch } from './watch-stream.js';

export interface ApiServerOptions {
  store: ObjectStore;
  clock: SimClock;
  controllers: Controllers;
  faults: FaultController;
  recorder: Recorder;
  logger?: Logger;
  /** how often watches with `allowWatchBookmarks=true` get a BOOKMARK (real servers: about a minute) */
  bookmarkIntervalMs?: number;
  /** when set, requests must authenticate, and RBAC authorizes them */
  authenticator?: Authenticator;
  /** when set, the server speaks HTTPS with this key and certificate (PEM) */
  tls?: { key: string; cert: string };
}

const NOT_FOUND = new StatusError(404, 'NotFound', 'the server could not find the requested resource');
const METHOD_NOT_ALLOWED = new StatusError(
  405,
  'MethodNotAllowed',
  'the server does not allow this method on the requested resource',
);

/** The object a resource request addresses, when the simulator serves it. */
function parseTarget(info: RequestInfo): Target | undefined {
  if (!info.isResourceRequest || info.apiVersion !== 'v1') return undefined;
  const resource = info.resource as ResourceKey;
  const type = RESOURCES[resource] as (typeof RESOURCES)[ResourceKey] | undefined;
  if (!type || type.group !== info.apiGroup) return undefined;
  const [, name, subresource, ...rest] = info.parts;
  if (rest.length || (subresource && subresource !== 'status' && subresource !== 'log')) return undefined;
  if (subresource === 'log' && resource !== 'pods') return undefined;
  if (!type.namespaced) {
    // `namespaces/{name}` is the namespace itself (RequestInfo sets its namespace to the name)
    if (subresource) return undefined;
    return { resource, namespace: undefined, ...(name ? { name } : {}) };
  }
  // named objects and subresources live in a namespace; cluster-wide paths only list and watch
  if (name && !info.namespace) return undefined;
  return {
    resource,
    namespace: info.namespace || undefined,
    ...(name ? { name } : {}),
    ...(subresource ? { subresource: subresource as Target['subresource'] } : {}),
  };
}

/** The verb the simulator serves for a RequestInfo verb; 405 for what it does not serve on the target. */
function verbOf(info: ResourceRequestInfo, target: Target): Verb {
  const verb = info.verb as Verb;
  switch (info.verb) {
    case 'get':
    case 'list':
    case 'watch':
      return verb;
    case 'create':
      if (target.name || (RESOURCES[target.resource].namespaced && !target.namespace))
        throw METHOD_NOT_ALLOWED;
      return verb;
    case 'update':
    case 'patch':
    case 'delete':
      if (!target.name || target.subresource === 'log') throw METHOD_NOT_ALLOWED;
      if (info.verb === 'delete' && target.subresource) throw METHOD_NOT_ALLOWED;
      return verb;
    default:
      throw METHOD_NOT_ALLOWED;
  }
}

/** Answers an injected fault; false when the request should be served normally. */
function answerFault(req: IncomingMessage, res: ServerResponse, fault: FaultKind | undefined): boolean {
  switch (fault) {
    case undefined:
      return false;
    case 'drop':
      req.socket.destroy();
      return true;
    case '429':
      // the max-in-flight filter's answer: plain text, not a Status
      sendText(res, 429, 'Too many requests, please try again later.\n', { 'retry-after': '1' });
      return true;
    case '500':
      sendStatus(res, new StatusError(500, 'InternalError', 'Internal error occurred: injected fault'));
      return true;
    case '503':
      sendStatus(
        res,
        new StatusError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'),
      );
      return true;
    case '504':
      sendStatus(
        res,
        new StatusError(504, 'Timeout', 'Timeout: request did not complete within the allotted timeout'),
      );
      return true;
  }
}

/**
 * The simulated kube-apiserver: node:http, routing to the resource handlers, watches, logs,
 * discovery and the `/sim/` admin endpoints, with fault injection in front of the API.
 */
export class ApiServer {
  private readonly server: Server;
  private readonly handlers: ResourceHandlers;
  private address = '127.0.0.1:0';

  constructor(private readonly options: ApiServerOptions) {
    this.handlers = new ResourceHandlers(options.store, options.clock);
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => this.fail(res, error));
    };
    this.server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener);
  }

  /** Starts listening; resolves to the base URL. */
  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.address = `${hostPart}:${address.port}`;
    return `${this.options.tls ? 'https' : 'http'}://${this.address}`;
  }

  /** Stops listening and cuts every open connection (watches and follows included). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof StatusError) return sendStatus(res, error);
    this.options.logger?.error({ err: error }, 'sim-cluster request failed');
    sendStatus(
      res,
      new StatusError(500, 'InternalError', `Internal error occurred: ${(error as Error).message}`),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (path.startsWith('/sim/')) {
      const { faults, controllers, recorder } = this.options;
      return serveAdmin(res, method, path, await readBody(req), { faults, controllers, recorder });
    }
    const info = requestInfoOf(method, path, url.searchParams);
    this.checkAccess(req, info);
    const document = method === 'GET' ? discoveryDocument(path.replace(/\/$/, ''), this.address) : undefined;
    if (document) return sendJson(res, 200, document);
    if (['/healthz', '/livez', '/readyz'].includes(path)) return sendText(res, 200, 'ok');

    const target = info.isResourceRequest ? parseTarget(info) : undefined;
    if (!target) throw NOT_FOUND;
    const verb = verbOf(info as ResourceRequestInfo, target);
    this.options.recorder.request(verb);
    const latency = this.options.faults.latencyMs();
    if (latency > 0) await sleep(latency);
    if (answerFault(req, res, this.options.faults.decide(verb))) return;
    const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? await readBody(req) : '';
    this.serve(req, res, verb, target, url.searchParams, body);
  }

  /**
   * With auth on, kube-apiserver's filters in their order: authentication (401), then
   * authorization (403). The authorizer's decisions on resource requests are recorded per user.
   */
  private checkAccess(req: IncomingMessage, info: RequestInfo): void {
    const { authenticator, store, recorder } = this.options;
    if (!authenticator) return;
    const user = authenticator.authenticate(req.headers.authorization);
    const decision = authorize(store, user, info);
    if (info.isResourceRequest) recorder.access.record(user.name, info, decision);
    if (!decision.allowed) throw forbiddenRequest(user, info, decision.reason);
  }

  private serve(
    req: IncomingMessage,
    res: ServerResponse,
    verb: Verb,
    target: Target,
    query: URLSearchParams,
    body: string,
  ): void {
    const { store, clock, faults, controllers } = this.options;
    const table = wantsTable(req.headers.accept);
    const present = (obj: KubeObject): object =>
      table
        ? toTable(target.resource, [obj], {}, { now: clock.now(), include: includeObjectOf(query) })
        : obj;
    switch (verb) {
      case 'get':
        if (target.subresource === 'log') {
          return servePodLogs(
            res,
            { store, clock, logs: controllers.logs },
            { namespace: target.namespace!, name: target.name! },
            query,
          );
        }
        return sendJson(res, 200, present(this.handlers.get(target)));
      case 'list': {
        const page = this.handlers.list(target, parseSelectors(target.resource, query), query);
        if (table) {
          const tableBody = toTable(target.resource, page.items, page.metadata, {
            now: clock.now(),
            include: includeObjectOf(query),
          });
          return sendJson(res, 200, tableBody);
        }
        const type = RESOURCES[target.resource];
        // list items carry no kind/apiVersion
        const items = page.items.map(({ kind: _kind, apiVersion: _apiVersion, ...item }) => item);
        return sendJson(res, 200, {
          kind: `${type.kind}List`,
          apiVersion: type.apiVersion,
          metadata: page.metadata,
          items,
        });
      }
      case 'watch': {
        const timeout = Number(query.get('timeoutSeconds') ?? 0);
        const selected = parseSelectors(target.resource, query).matches;
        // `/watch/…/{name}` watches one object
        const matches = target.name
          ? (obj: KubeObject) => obj.metadata.name === target.name && selected(obj)
          : selected;
        return serveWatch(
          res,
          {
            resource: target.resource,
            namespace: target.namespace,
            matches,
            resourceVersion: query.get('resourceVersion'),
            timeoutSeconds: timeout > 0 ? timeout : undefined,
            allowBookmarks: query.get('allowWatchBookmarks') === 'true',
            present,
          },
          { store, faults, bookmarkIntervalMs: this.options.bookmarkIntervalMs ?? 1000 },
        );
      }
      case 'create':
        return sendJson(res, 201, this.handlers.create(target, body));
      case 'update':
        return sendJson(res, 200, this.handlers.update(target, body));
      case 'patch':
        return sendJson(res, 200, this.handlers.patch(target, req.headers['content-type'], body));
      case 'delete': {
        const reply = this.handlers.delete(target, body, query);
        return sendJson(res, reply.code, reply.body, reply.headers);
      }
    }
  }
}
