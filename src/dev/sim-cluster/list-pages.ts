import { nonNegativeInteger } from './http-io.js';
import { StatusError, expired } from './status.js';
import type { KubeObject } from './store.js';

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface ListPage {
  items: KubeObject[];
  metadata: ListMeta;
}

/** What a continue token carries, like the etcd3 store's: the list's version and the last key served. */
interface ContinueToken {
  v: 'meta.k8s.io/v1';
  rv: number;
  start: string;
}

const EXPIRED_CONTINUE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

/** The sort key of the store's lists. */
const keyOf = (obj: KubeObject): string => `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;

function encodeToken(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(text: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as ContinueToken;
    if (token.v === 'meta.k8s.io/v1' && Number.isInteger(token.rv) && typeof token.start === 'string')
      return token;
  } catch {
    // reported below, like any other malformed token
  }
  throw new StatusError(
    400,
    'BadRequest',
    'continue key is not valid: incorrect encoded start resourceVersion',
  );
}

export interface PageOptions {
  /** matching items, sorted by key, without kind/apiVersion */
  items: KubeObject[];
  /** the store's current resourceVersion */
  resourceVersion: string;
  /** continue tokens older than this have expired (the store's history bound, as etcd compaction) */
  oldestVersion: number;
  /** no selector applied: the remaining count is exact and is reported (as the etcd3 store does) */
  exactCount: boolean;
}

/**
 * Cuts one chunk of a list per `limit` and `continue`. The simulator does not keep snapshots: a
 * continued list reports the first chunk's resourceVersion but serves current objects after the
 * token's key. A token older than the store's history is 410 Expired.
 */
export function paginate(query: URLSearchParams, options: PageOptions): ListPage {
  const limitText = query.get('limit');
  const limit = limitText ? nonNegativeInteger('limit', limitText) : 0;
  const continueText = query.get('continue');
  let items = options.items;
  let resourceVersion = Number(options.resourceVersion);
  if (continueText) {
    const token = decodeToken(continueText);
    if (token.rv < options.oldestVersion) throw expired(EXPIRED_CONTINUE);
    resourceVersion = token.rv;
    items = items.filter((item) => keyOf(item) > token.start);
  }
  if (limit === 0 || items.length <= limit) {
    return { items, metadata: { resourceVersion: String(resourceVersion) } };
  }
  const page = items.slice(0, limit);
  const token = encodeToken({
    v: 'meta.k8s.io/v1',
    rv: resourceVersion,
    start: keyOf(page[page.length - 1]!),
  });
  return {
    items: page,
    metadata: {
      resourceVersion: String(resourceVersion),
      continue: token,
      ...(options.exactCount ? { remainingItemCount: items.length - limit } : {}),
    },
  };
}
