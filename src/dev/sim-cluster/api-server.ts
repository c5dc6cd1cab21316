import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import { serveAdmin } from './admin.js';
import type { SimClock } from './clock.js';
import type { Controllers } from './controllers/index.js';
import { discoveryDocument } from './discovery.js';
import type { FaultController, FaultKind, Verb } from './faults.js';
import { readBody, sendJson, sendStatus, sendText } from './http-io.js';
import { servePodLogs } from './pod-logs.js';
import type { Recorder } from './recorder.js';
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
}

const NOT_FOUND = new StatusError(404, 'NotFound', 'the server could not find the requested resource');
const METHOD_NOT_ALLOWED = new StatusError(
  405,
  'MethodNotAllowed',
  'the server does not allow this method on the requested resource',
);

/** `/api/v1/…` (core) and `/apis/batch/v1/…` resource paths. */
const PATH =
  /^\/(?:api\/v1|apis\/batch\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?(?:\/(status|log))?\/?$/;

const NAMESPACES_PATH = /^\/api\/v1\/namespaces(?:\/([^/]+))?\/?$/;

function parseTarget(pathname: string): Target | undefined {
  const ns = NAMESPACES_PATH.exec(pathname);
  if (ns)
    return {
      resource: 'namespaces',
      namespace: undefined,
      ...(ns[1] ? { name: decodeURIComponent(ns[1]) } : {}),
    };
  const match = PATH.exec(pathname);
  if (!match) return undefined;
  const [, namespace, resourceName, name, subresource] = match;
  const resource = resourceName as ResourceKey;
  const type = RESOURCES[resource] as (typeof RESOURCES)[ResourceKey] | undefined;
  const group = pathname.startsWith('/apis/batch/') ? 'batch' : '';
  if (!type || type.group !== group || !type.namespaced) return undefined;
  // named objects and subresources live in a namespace; cluster-wide paths only list and watch
  if (name && !namespace) return undefined;
  if (subresource === 'log' && resource !== 'pods') return undefined;
  return {
    resource,
    namespace: namespace ? decodeURIComponent(namespace) : undefined,
    ...(name ? { name: decodeURIComponent(name) } : {}),
    ...(subresource ? { subresource: subresource as Target['subresource'] } : {}),
  };
}

function isWatch(query: URLSearchParams): boolean {
  const watch = query.get('watch');
  return watch === 'true' || watch === '1';
}

/** The Kubernetes verb of a request (the authorizer's notion: list vs watch vs get). */
function verbOf(method: string, target: Target, query: URLSearchParams): Verb {
  switch (method) {
    case 'GET':
      if (target.name) return 'get';
      return isWatch(query) ? 'watch' : 'list';
    case 'POST':
      if (target.name || (RESOURCES[target.resource].namespaced && !target.namespace))
        throw METHOD_NOT_ALLOWED;
      return 'create';
    case 'PUT':
    case 'PATCH':
    case 'DELETE':
      if (!target.name || target.subresource === 'log') throw METHOD_NOT_ALLOWED;
      if (method === 'DELETE' && target.subresource) throw METHOD_NOT_ALLOWED;
      return method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : 'delete';
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
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => this.fail(res, error));
    });
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
    return `http://${this.address}`;
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
    const document = method === 'GET' ? discoveryDocument(path.replace(/\/$/, ''), this.address) : undefined;
    if (document) return sendJson(res, 200, document);
    if (['/healthz', '/livez', '/readyz'].includes(path)) return sendText(res, 200, 'ok');

    const target = parseTarget(path);
    if (!target) throw NOT_FOUND;
    const verb = verbOf(method, target, url.searchParams);
    this.options.recorder.request(verb);
    const latency = this.options.faults.latencyMs();
    if (latency > 0) await sleep(latency);
    if (answerFault(req, res, this.options.faults.decide(verb))) return;
    const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? await readBody(req) : '';
    this.serve(req, res, verb, target, url.searchParams, body);
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
        return serveWatch(
          res,
          {
            resource: target.resource,
            namespace: target.namespace,
            matches: parseSelectors(target.resource, query).matches,
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
