import { UsageError } from '../errors.js';
import { BUILD_STATES, type BuildState } from './build-views.js';

/**
 * The words of a list query, as `kjl list` and `GET /api/v1/builds` take them. Each parser names
 * the field it was given as (`--since` on the command line, `since` over HTTP) when it refuses.
 */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function refuse(field: string, message: string): never {
  throw new UsageError(`${field}: ${message}`, { context: { field } });
}

/** A time ago (`30m`, `2h`, `7d`) or an ISO date, as epoch ms. */
export function parseSince(value: string, field: string, now = Date.now()): number {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) return now - Number(relative[1]) * UNIT_MS[relative[2]!]!;
  const at = Date.parse(value);
  if (Number.isNaN(at)) refuse(field, `must be a time ago (30m, 2h, 7d) or an ISO date (got "${value}")`);
  return at;
}

/** Comma-separated build states. */
export function parseStates(value: string, field: string): BuildState[] {
  const states = value.split(',').map((state) => state.trim());
  const unknown = states.filter((state) => !(BUILD_STATES as readonly string[]).includes(state));
  if (unknown.length) refuse(field, `unknown ${unknown.join(', ')} (states: ${BUILD_STATES.join(', ')})`);
  return states as BuildState[];
}
