import { parse as parseYaml } from 'yaml';
import { StatusError } from './status.js';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The patch content types the API server accepts, in its error message's order. */
export const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

/** Lists of objects that strategic merge patch merges by `name` instead of replacing (subset of the k8s schema). */
const MERGE_BY_NAME = new Set(['containers', 'initContainers', 'ephemeralContainers', 'volumes', 'env']);

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function badRequest(message: string): StatusError {
  return new StatusError(400, 'BadRequest', message);
}

function invalid(message: string): StatusError {
  return new StatusError(422, 'Invalid', message);
}

/** The patch type of a Content-Type header; throws 415 UnsupportedMediaType for anything else. */
export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const known = PATCH_TYPES.find((t) => t === type);
  if (known) return known;
  throw new StatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
  );
}

/** RFC 7386 JSON merge patch: objects merge recursively, `null` removes, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Merges two lists of named objects: patch items update the same-named item or are appended. */
function mergeNamedList(target: Json | undefined, patch: Json[]): Json[] {
  const result = Array.isArray(target) ? [...target] : [];
  for (const item of patch) {
    const name = isObject(item) ? item.name : undefined;
    const index = result.findIndex((existing) => isObject(existing) && existing.name === name);
    if (isObject(item) && item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) {
      result[index] = strategicMergePatch(result[index], item);
    } else {
      result.push(strategicMergePatch(undefined, item));
    }
  }
  return result;
}

/**
 * Strategic merge patch, the subset kubectl and typical clients send: maps merge, `null` removes,
 * lists are replaced except `containers`/`volumes`/`env` (merged by `name`, `$patch: delete`
 * removes an item); `$setElementOrder`/`$retainKeys` directives are ignored.
 */
export function strategicMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _directive, ...replacement } = patch;
    return replacement;
  }
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) delete result[key];
    else if (MERGE_BY_NAME.has(key) && Array.isArray(value)) result[key] = mergeNamedList(result[key], value);
    else result[key] = strategicMergePatch(result[key], value);
  }
  return result;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw invalid(`JSON pointer must start with "/": "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The container holding the last token of `path`, and that token. */
function locate(doc: Json, path: string): { parent: JsonObject | Json[]; key: string } {
  const tokens = pointer(path);
  const key = tokens.pop();
  if (key === undefined) throw invalid('JSON patch cannot operate on the document root');
  let parent: Json | undefined = doc;
  for (const token of tokens) {
    parent = Array.isArray(parent) ? parent[Number(token)] : isObject(parent) ? parent[token] : undefined;
  }
  if (!Array.isArray(parent) && !isObject(parent)) throw invalid(`missing path: "${path}"`);
  return { parent, key };
}

function arrayIndex(list: Json[], key: string, path: string, forInsert: boolean): number {
  if (forInsert && key === '-') return list.length;
  const index = Number(key);
  const max = forInsert ? list.length : list.length - 1;
  if (!/^(0|[1-9][0-9]*)$/.test(key) || index > max) throw invalid(`invalid array index in path: "${path}"`);
  return index;
}

function getAt(doc: Json, path: string): Json {
  if (path === '') return doc;
  const { parent, key } = locate(doc, path);
  const value = Array.isArray(parent) ? parent[arrayIndex(parent, key, path, false)] : parent[key];
  if (value === undefined) throw invalid(`missing value at path: "${path}"`);
  return value;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, path, false), 1)[0]!;
  if (!(key in parent)) throw invalid(`unable to remove nonexistent key: ${key}: missing value`);
  const value = parent[key]!;
  delete parent[key];
  return value;
}

function addAt(doc: Json, path: string, value: Json): Json {
  if (path === '') return value;
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
  else parent[key] = value;
  return doc;
}

function applyOperation(doc: Json, op: Operation): Json {
  const value = structuredClone(op.value);
  switch (op.op) {
    case 'add':
      return addAt(doc, op.path, value ?? null);
    case 'remove':
      removeAt(doc, op.path);
      return doc;
    case 'replace':
      getAt(doc, op.path);
      if (op.path === '') return value ?? null;
      removeAt(doc, op.path);
      return addAt(doc, op.path, value ?? null);
    case 'move':
      return addAt(doc, op.path, removeAt(doc, op.from ?? ''));
    case 'copy':
      return addAt(doc, op.path, structuredClone(getAt(doc, op.from ?? '')));
    case 'test':
      if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(value)) {
        throw invalid(`testing value ${op.path} failed: test failed`);
      }
      return doc;
    default:
      throw badRequest(`unexpected kind: ${op.op}`);
  }
}

/** RFC 6902 JSON patch. A malformed patch is 400 BadRequest; one that does not apply is 422 Invalid. */
export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = structuredClone(target);
  for (const op of operations) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw badRequest('invalid JSON patch operation: "op" and "path" are required strings');
    }
    doc = applyOperation(doc, op as unknown as Operation);
  }
  return doc;
}

function parseBody(type: PatchType, body: string): Json {
  try {
    return (type === 'application/apply-patch+yaml' ? parseYaml(body) : JSON.parse(body)) as Json;
  } catch (error) {
    throw badRequest(`error decoding patch: ${(error as Error).message}`);
  }
}

/** Applies a PATCH request body of the given type to a copy of `target`. */
export function applyPatch<T extends object>(type: PatchType, target: T, body: string): T {
  const patch = parseBody(type, body);
  const doc = target as unknown as Json;
  switch (type) {
    case 'application/json-patch+json':
      return jsonPatch(doc, patch) as unknown as T;
    case 'application/strategic-merge-patch+json':
      return strategicMergePatch(doc, patch) as unknown as T;
    // server-side apply is approximated as a merge: the simulator tracks no field managers
    case 'application/merge-patch+json':
    case 'application/apply-patch+yaml':
      return mergePatch(doc, patch) as unknown as T;
  }
}
