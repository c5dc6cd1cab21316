import type { Decision, RuleRef } from './rbac.js';
import type { ResourceRequestInfo } from './request-info.js';

/**
 * What one user was allowed or denied, aggregated over requests (`GET /sim/access`): a Role is
 * exactly what a client needs when every record of its user is allowed and each of the Role's
 * rules appears in some record's `grantedBy`.
 */
export interface AccessRecord {
  user: string;
  verb: string;
  /** '' for the core group */
  apiGroup: string;
  /** `resource` or `resource/subresource` */
  resource: string;
  /** absent for cluster-scoped and all-namespaces requests */
  namespace?: string;
  allowed: boolean;
  /** how many requests this record stands for */
  count: number;
  /** every Role rule that allowed one of them (empty for `system:masters`) */
  grantedBy: RuleRef[];
}

const ruleKey = (ref: RuleRef) => `${ref.kind}/${ref.namespace}/${ref.name}/${ref.rule}`;

/** The authorizer's decisions on resource requests, per user, verb, group, resource and namespace. */
export class AccessLog {
  private records = new Map<string, AccessRecord>();

  record(user: string, info: ResourceRequestInfo, decision: Decision): void {
    const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    const fields = { user, verb: info.verb, apiGroup: info.apiGroup, resource, namespace: info.namespace };
    const key = JSON.stringify([...Object.values(fields), decision.allowed]);
    const record = this.records.get(key) ?? {
      user,
      verb: info.verb,
      apiGroup: info.apiGroup,
      resource,
      ...(info.namespace ? { namespace: info.namespace } : {}),
      allowed: decision.allowed,
      count: 0,
      grantedBy: [],
    };
    record.count += 1;
    const known = new Set(record.grantedBy.map(ruleKey));
    record.grantedBy.push(...decision.grantedBy.filter((ref) => !known.has(ruleKey(ref))));
    this.records.set(key, record);
  }

  /** Every record, in the order they were first seen. */
  list(): AccessRecord[] {
    return structuredClone([...this.records.values()]);
  }

  reset(): void {
    this.records = new Map();
  }
}
