import type { ServerResponse } from 'node:http';
import type { FaultController } from './faults.js';
import type { Predicate } from './selectors.js';
import { nonNegativeInteger } from './http-io.js';
import { StatusError, expired } from './status.js';
import { RESOURCES, type KubeObject, type ObjectStore, type ResourceKey, type StoreChange } from './store.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchRequest {
  resource: ResourceKey;
  /** undefined: all namespaces */
  namespace: string | undefined;
  matches: Predicate;
  /** the `resourceVersion` query parameter */
  resourceVersion: string | null;
  timeoutSeconds: number | undefined;
  allowBookmarks: boolean;
  /** how an object is sent (itself, or as a Table for kubectl) */
  present: (obj: KubeObject) => object;
}

export interface WatchContext {
  store: ObjectStore;
  faults: FaultController;
  bookmarkIntervalMs: number;
}

interface WatchEvent {
  type: WatchEventType;
  object: object;
}

/**
 * How the watch cache turns a change into an event for a filtered watcher
 * (`cacheWatcher.convertToWatchEvent`): an object that starts matching is ADDED, one that stops
 * matching is DELETED (its previous state at the change's version), and ignored if neither.
 */
function eventFor(
  change: StoreChange,
  request: WatchRequest,
): { type: WatchEventType; object: KubeObject } | undefined {
  const inScope = (obj: KubeObject | undefined) =>
    obj !== undefined &&
    (request.namespace === undefined || obj.metadata.namespace === request.namespace) &&
    request.matches(obj);
  const now = change.type !== 'DELETED' && inScope(change.object);
  const before = change.type === 'DELETED' ? inScope(change.object) : inScope(change.previous);
  if (now && before) return { type: 'MODIFIED', object: change.object };
  if (now) return { type: 'ADDED', object: change.object };
  if (!before) return undefined;
  if (change.type === 'DELETED') return { type: 'DELETED', object: change.object };
  const previous = structuredClone(change.previous!);
  previous.metadata.resourceVersion = String(change.resourceVersion);
  return { type: 'DELETED', object: previous };
}

/**
 * The events a watch starts with: the current objects as ADDED when no (or "0") resourceVersion
 * is given, else the changes after it. Throws 410 Expired when the history no longer reaches it.
 */
function initialEvents(store: ObjectStore, request: WatchRequest): WatchEvent[] {
  const version = request.resourceVersion;
  if (!version || version === '0') {
    return store
      .list(request.resource, request.namespace, request.matches)
      .items.map((obj) => ({ type: 'ADDED', object: request.present(obj) }));
  }
  return store
    .changesSince(request.resource, nonNegativeInteger('resourceVersion', version))
    .flatMap((change) => {
      const event = eventFor(change, request);
      return event ? [{ type: event.type, object: request.present(event.object) }] : [];
    });
}

const line = (event: WatchEvent): string => `${JSON.stringify(event)}\n`;

function startStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
  res.flushHeaders();
}

/** HTTP 200, then one ERROR event carrying the Expired Status, then the end of the stream. */
function endExpired(res: ServerResponse, error: StatusError): void {
  startStream(res);
  res.end(line({ type: 'ERROR', object: error.toBody() }));
}

/** Serves one watch request as a chunked stream of JSON lines until timeout, cut or client close. */
export function serveWatch(res: ServerResponse, request: WatchRequest, context: WatchContext): void {
  const { store, faults } = context;
  const expiry = faults.takeWatchExpiry();
  const stale = expired(
    `too old resource version: ${request.resourceVersion ?? 0} (${store.resourceVersion})`,
  );
  if (expiry === 'http') throw stale;
  if (expiry === 'event') return endExpired(res, stale);

  let initial: WatchEvent[];
  try {
    initial = initialEvents(store, request);
  } catch (error) {
    if (error instanceof StatusError && error.code === 410) return endExpired(res, error);
    throw error;
  }
  const type = RESOURCES[request.resource];
  const send = (event: WatchEvent) => {
    // a change can arrive after a timeout or cut ended the response but before it closed
    if (!res.writableEnded && !res.destroyed) res.write(line(event));
  };
  const onChange = (change: StoreChange) => {
    if (change.resource !== request.resource) return;
    const event = eventFor(change, request);
    if (event) send({ type: event.type, object: request.present(event.object) });
  };
  const bookmark = () =>
    send({
      type: 'BOOKMARK',
      object: {
        kind: type.kind,
        apiVersion: type.apiVersion,
        metadata: { resourceVersion: String(store.resourceVersion) },
      },
    });
  const onCut = (mode: 'close' | 'reset') => {
    faults.noteCut();
    if (mode === 'reset') res.destroy();
    else res.end();
  };
  const timers = [
    request.allowBookmarks ? setInterval(bookmark, context.bookmarkIntervalMs) : undefined,
    request.timeoutSeconds ? setTimeout(() => res.end(), request.timeoutSeconds * 1000) : undefined,
  ];
  // Listing (or replaying) above and subscribing here happen in the same tick: no change falls between.
  store.on('change', onChange);
  faults.on('cut', onCut);
  res.on('close', () => {
    store.off('change', onChange);
    faults.off('cut', onCut);
    for (const timer of timers) clearTimeout(timer);
  });

  startStream(res);
  for (const event of initial) send(event);
}
