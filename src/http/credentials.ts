import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Who may use the API and the dashboard: the API token as a bearer, and for the dashboard a user
 * and password (HTTP basic). Secrets are compared in constant time (as digests, so their lengths
 * do not show either).
 */
export interface Credentials {
  token?: string;
  basic?: { user: string; password: string };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** True when `given` is `expected`, in time that does not depend on where they differ. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The `Authorization` header's credentials of one scheme (`Bearer`, `Basic`), when it has them. */
function authorization(headers: IncomingHttpHeaders, scheme: string): string | undefined {
  const match = /^(\S+)\s+(\S+)\s*$/.exec(headers.authorization ?? '');
  return match && match[1]!.toLowerCase() === scheme.toLowerCase() ? match[2] : undefined;
}

/** True when the request carries the token as a bearer, or the basic user and password. */
export function authorized(headers: IncomingHttpHeaders, credentials: Credentials): boolean {
  const bearer = authorization(headers, 'Bearer');
  if (bearer !== undefined && credentials.token !== undefined) return sameSecret(bearer, credentials.token);
  const basic = authorization(headers, 'Basic');
  if (basic !== undefined && credentials.basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    // both compared, whatever the first says: no early exit to time
    const user = sameSecret(decoded.slice(0, colon), credentials.basic.user);
    const password = sameSecret(decoded.slice(colon + 1), credentials.basic.password);
    return user && password;
  }
  return false;
}
