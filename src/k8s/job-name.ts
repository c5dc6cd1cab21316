import { createHash } from 'node:crypto';
import type { BuildRequest } from '../build-request.js';

/** Longest name a Job may have in practice: it is copied into the `job-name` pod label. */
export const MAX_JOB_NAME_LENGTH = 63;
const PREFIX = 'build';
const HASH_LENGTH = 8;
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

function shortDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * The deterministic name of a request's Job: `build-{thirdPartyId}-{parserId}-{hash8}`, where hash8
 * is the first 8 hex characters of the content hash. Always a DNS-1123 label of at most 63
 * characters, and different targets get different names (up to hash collisions):
 *
 * - ids that are already lower-case `[a-z0-9-]` with no leading, trailing or doubled `-`, whose
 *   thirdPartyId has no `-`, and that fit, are used as they are;
 * - otherwise a short hash of the exact (thirdPartyId, parserId) pair is inserted before hash8:
 *   `build-{tp}-{p}-{idHash}-{hash8}`, with the ids sanitised and truncated to fit. This covers
 *   sanitising that merges ids (`a.b` and `a-b`, `A` and `a`), truncation that merges ids that differ
 *   past the cut, and a `-` in thirdPartyId, which would make the split ambiguous
 *   (`a-b`/`c` against `a`/`b-c`).
 */
export function jobNameFor(request: Pick<BuildRequest, 'thirdPartyId' | 'parserId' | 'contentHash'>): string {
  const { thirdPartyId, parserId } = request;
  const hash8 = request.contentHash.toLowerCase().slice(0, HASH_LENGTH);
  const tp = sanitise(thirdPartyId);
  const p = sanitise(parserId);
  const plain = `${PREFIX}-${tp}-${p}-${hash8}`;
  const clean = tp === thirdPartyId && p === parserId && !tp.includes('-') && tp !== '' && p !== '';
  if (clean && plain.length <= MAX_JOB_NAME_LENGTH) return plain;

  const idHash = shortDigest(`${thirdPartyId}/${parserId}`);
  // build-{tp}-{p}-{idHash}-{hash8}: the fixed parts and their separators
  const budget = MAX_JOB_NAME_LENGTH - (PREFIX.length + idHash.length + hash8.length + 4);
  const [tpLength, pLength] = share(tp.length, p.length, budget);
  const parts = [PREFIX, cut(tp, tpLength), cut(p, pLength), idHash, hash8].filter((part) => part !== '');
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
