import { createHash } from 'node:crypto';
import type { BuildRequest } from '../build-request.js';

/** Longest name a Job may have in practice: it is copied into the `job-name` pod label. */
export const MAX_JOB_NAME_LENGTH = 63;
const PREFIX = 'build';
const HASH_LENGTH = 8;
const DIGEST_LENGTH = 6;
/** DNS-1123 label: what every Job name this module returns matches. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Lower-case, `[a-z0-9-]` only, runs of `-` collapsed, no `-` at either end. */
function sanitise(id: string): string {
  return id
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

function shortDigest(text: string, length = HASH_LENGTH): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * The content part of a build's image tag and content-hash label: the first 8 hex characters of
 * the content hash (recognisable), then 6 of a digest of the whole hash, so that two contents of
 * one target whose hashes share a prefix still get different tags. A Job name's content part also
 * digests the deployment's instance (`scope`): two launchers building the same content in one
 * namespace never share a Job.
 */
export function contentTag(contentHash: string, scope?: string): string {
  const hash = contentHash.toLowerCase();
  return `${hash.slice(0, HASH_LENGTH)}${shortDigest(scope === undefined ? hash : `${scope}/${hash}`, DIGEST_LENGTH)}`;
}

/**
 * The deterministic name of a request's Job in a deployment: `build-{thirdPartyId}-{parserId}-{tag}`,
 * the tag from the content hash and the instance (see {@link contentTag}). Always a DNS-1123 label
 * of at most 63 characters, and different requests (or deployments) get different names (up to
 * hash collisions):
 *
 * - ids that are already lower-case `[a-z0-9-]` with no leading, trailing or doubled `-`, whose
 *   thirdPartyId has no `-`, and that fit, are used as they are;
 * - otherwise a short hash of the exact (thirdPartyId, parserId) pair is inserted before the tag:
 *   `build-{tp}-{p}-{idHash}-{contentTag}`, with the ids sanitised and truncated to fit. This covers
 *   sanitising that merges ids (`a.b` and `a-b`, `A` and `a`), truncation that merges ids that differ
 *   past the cut, and a `-` in thirdPartyId, which would make the split ambiguous
 *   (`a-b`/`c` against `a`/`b-c`).
 */
export function jobNameFor(
  request: Pick<BuildRequest, 'thirdPartyId' | 'parserId' | 'contentHash'>,
  instance: string,
): string {
  const { thirdPartyId, parserId } = request;
  const tag = contentTag(request.contentHash, instance);
  const tp = sanitise(thirdPartyId);
  const p = sanitise(parserId);
  const plain = `${PREFIX}-${tp}-${p}-${tag}`;
  const clean = tp === thirdPartyId && p === parserId && !tp.includes('-') && tp !== '' && p !== '';
  if (clean && plain.length <= MAX_JOB_NAME_LENGTH) return plain;

  const idHash = shortDigest(`${thirdPartyId}/${parserId}`);
  // build-{tp}-{p}-{idHash}-{tag}: the fixed parts and their separators
  const budget = MAX_JOB_NAME_LENGTH - (PREFIX.length + idHash.length + tag.length + 4);
  const [tpLength, pLength] = share(tp.length, p.length, budget);
  const parts = [PREFIX, cut(tp, tpLength), cut(p, pLength), idHash, tag].filter((part) => part !== '');
  return parts.join('-');
}

/** Splits `budget` between two lengths: each gets half, what one does not use goes to the other. */
function share(a: number, b: number, budget: number): [number, number] {
  if (a + b <= budget) return [a, b];
  const half = Math.floor(budget / 2);
  if (a <= half) return [a, budget - a];
  if (b <= budget - half) return [budget - b, b];
  return [half, budget - half];
}

function cut(id: string, length: number): string {
  return id.slice(0, length).replace(/-+$/, '');
}
