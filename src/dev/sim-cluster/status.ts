/** A metav1.Status failure, thrown inside the simulated cluster and written as the response body. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason: string; message: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class StatusError extends Error {
  override readonly name = 'StatusError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toBody(): StatusBody {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** How a resource is named in messages: `jobs.batch` for Jobs, `pods` for Pods (`GroupResource.String()`). */
export interface ResourceName {
  /** plural resource, e.g. `jobs` */
  resource: string;
  /** API group, '' for core */
  group: string;
}

export function qualified(r: ResourceName): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

export function notFound(r: ResourceName, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${qualified(r)} "${name}" not found`, {
    name,
    ...(r.group ? { group: r.group } : {}),
    kind: r.resource,
  });
}

export function alreadyExists(r: ResourceName, name: string): StatusError {
  return new StatusError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, {
    name,
    ...(r.group ? { group: r.group } : {}),
    kind: r.resource,
  });
}

export function conflict(r: ResourceName, name: string): StatusError {
  return new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(r.group ? { group: r.group } : {}), kind: r.resource },
  );
}

export function expired(message: string): StatusError {
  return new StatusError(410, 'Expired', message);
}

/**
 * 403 Forbidden as `errors.NewForbidden` builds it: `<resource> "<name>" is forbidden: <message>`,
 * `<resource> is forbidden: …` without a name, `forbidden: …` without a resource (non-resource paths).
 */
export function forbidden(r: ResourceName | undefined, name: string, message: string): StatusError {
  const subject = r ? (name ? `${qualified(r)} "${name}" ` : `${qualified(r)} `) : '';
  return new StatusError(403, 'Forbidden', `${subject}${subject ? 'is ' : ''}forbidden: ${message}`, {
    ...(name ? { name } : {}),
    ...(r?.group ? { group: r.group } : {}),
    ...(r?.resource ? { kind: r.resource } : {}),
  });
}
