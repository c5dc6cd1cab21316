import { StatusError } from './status.js';

/** Who a bearer token stands for: a service account, or a user with its groups. */
export type TokenIdentity =
  { namespace: string; serviceAccount: string } | { user: string; groups?: string[] };

/** `startSimCluster({ auth })`: turns on authentication (bearer tokens) and RBAC authorization. */
export interface AuthOptions {
  /** bearer token → identity */
  tokens?: Record<string, TokenIdentity>;
  /** the cluster admin's token, written into the cluster's kubeconfig (default `kjl-sim-token`) */
  adminToken?: string;
  /** requests without a token are `system:anonymous` instead of 401 (kube-apiserver's `--anonymous-auth`; default false) */
  anonymous?: boolean;
}

/** An authenticated (or anonymous) user, as the authorizer sees it. */
export interface UserInfo {
  name: string;
  groups: string[];
}

export const DEFAULT_ADMIN_TOKEN = 'kjl-sim-token';
/** The group kube-apiserver lets do anything without asking the authorizer. */
export const SUPERUSER_GROUP = 'system:masters';
export const AUTHENTICATED_GROUP = 'system:authenticated';
const UNAUTHENTICATED_GROUP = 'system:unauthenticated';

const ADMIN: UserInfo = { name: 'kjl-sim-admin', groups: [SUPERUSER_GROUP, AUTHENTICATED_GROUP] };
const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: [UNAUTHENTICATED_GROUP] };

/** The 401 kube-apiserver answers a missing or unknown token with (no details). */
const UNAUTHORIZED = new StatusError(401, 'Unauthorized', 'Unauthorized');

/** A service account's user name, as its tokens authenticate. */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function userOf(identity: TokenIdentity): UserInfo {
  if ('serviceAccount' in identity) {
    const { namespace, serviceAccount } = identity;
    return {
      name: serviceAccountUser(namespace, serviceAccount),
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, AUTHENTICATED_GROUP],
    };
  }
  return { name: identity.user, groups: [...(identity.groups ?? []), AUTHENTICATED_GROUP] };
}

/** The token of an `Authorization: Bearer …` header; undefined when there is none. */
function bearerToken(header: string | undefined): string | undefined {
  const [scheme, token, ...rest] = (header ?? '').trim().split(/\s+/);
  if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length) return undefined;
  return token;
}

/**
 * Bearer-token authentication as kube-apiserver's static token file does it: a known token is its
 * user, the admin token is a member of `system:masters`; a request without a bearer token is
 * `system:anonymous` when anonymous requests are allowed; anything else is 401.
 */
export class Authenticator {
  private readonly users = new Map<string, UserInfo>();
  private readonly anonymous: boolean;

  constructor(options: AuthOptions) {
    for (const [token, identity] of Object.entries(options.tokens ?? {}))
      this.users.set(token, userOf(identity));
    this.users.set(options.adminToken ?? DEFAULT_ADMIN_TOKEN, ADMIN);
    this.anonymous = !!options.anonymous;
  }

  /** The user of a request's Authorization header; throws 401 Unauthorized. */
  authenticate(authorization: string | undefined): UserInfo {
    const token = bearerToken(authorization);
    if (token === undefined && this.anonymous) return ANONYMOUS;
    const user = token === undefined ? undefined : this.users.get(token);
    if (!user) throw UNAUTHORIZED;
    return user;
  }
}
