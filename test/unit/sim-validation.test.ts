import { describe, expect, it } from 'vitest';
import { StatusError } from '../../src/dev/sim-cluster/status.js';
import { thrown } from '../support/thrown.js';
import type { KubeObject } from '../../src/dev/sim-cluster/store.js';
import { prepareJobForCreate, prepareJobForUpdate } from '../../src/dev/sim-cluster/validation.js';

const UID = '0b0c5c2a-8f57-4c3e-9d0e-1d2b3c4d5e6f';

function jobNamed(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
      ...spec,
    },
  };
}

const statusOf = (run: () => unknown) => thrown(StatusError, run);

describe('prepareJobForCreate', () => {
  it('applies the batch/v1 defaults', () => {
    const job = prepareJobForCreate(jobNamed('pi'), 'pi', UID);
    expect(job.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      suspend: false,
    });
    expect(job.status).toEqual({});
  });

  it('keeps completions unset for a work queue (parallelism only)', () => {
    const job = prepareJobForCreate(jobNamed('pi', { parallelism: 3 }), 'pi', UID);
    expect(job.spec).toMatchObject({ parallelism: 3 });
    expect(job.spec).not.toHaveProperty('completions');
  });

  it('generates the selector and the four template labels from the uid', () => {
    const job = prepareJobForCreate(jobNamed('pi'), 'pi', UID);
    const spec = job.spec as {
      selector: unknown;
      template: { metadata: { labels: Record<string, string> } };
    };
    expect(spec.selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': UID } });
    expect(spec.template.metadata.labels).toEqual({
      'batch.kubernetes.io/controller-uid': UID,
      'batch.kubernetes.io/job-name': 'pi',
      'controller-uid': UID,
      'job-name': 'pi',
    });
    expect(job.metadata.labels).toEqual(spec.template.metadata.labels);
  });

  it('rejects a name over 63 characters through the job-name label, as the API server reports it', () => {
    const name = 'a'.repeat(64);
    const body = statusOf(() => prepareJobForCreate(jobNamed(name), name, UID)).toBody();
    expect(body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Invalid',
      code: 422,
      message: `Job.batch "${name}" is invalid: spec.template.labels: Invalid value: "${name}": must be no more than 63 characters`,
      details: { name, group: 'batch', kind: 'Job' },
    });
    expect(body.details!.causes).toContainEqual({
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${name}": must be no more than 63 characters`,
      field: 'spec.template.labels',
    });
  });

  it('rejects names that are not DNS-1123 subdomains', () => {
    const error = statusOf(() => prepareJobForCreate(jobNamed('Bad_Name'), 'Bad_Name', UID));
    expect(error.details?.causes?.[0]).toMatchObject({ reason: 'FieldValueInvalid', field: 'metadata.name' });
    expect(error.message).toContain('a lowercase RFC 1123 subdomain must consist of');
  });

  it('requires a restartPolicy of Never or OnFailure', () => {
    const missing = jobNamed('pi', {
      template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } },
    });
    expect(statusOf(() => prepareJobForCreate(missing, 'pi', UID)).message).toBe(
      'Job.batch "pi" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    );
    const always = jobNamed('pi', {
      template: { spec: { restartPolicy: 'Always', containers: [{ name: 'main', image: 'busybox' }] } },
    });
    const error = statusOf(() => prepareJobForCreate(always, 'pi', UID));
    expect(error.details?.causes).toEqual([
      {
        reason: 'FieldValueNotSupported',
        field: 'spec.template.spec.restartPolicy',
        message: 'Unsupported value: "Always": supported values: "OnFailure", "Never"',
      },
    ]);
  });

  it('validates label keys and values and the annotation size, listing every error', () => {
    const job = jobNamed('pi');
    job.metadata.labels = { 'bad key': 'ok', good: 'bad value!' };
    job.metadata.annotations = { big: 'x'.repeat(256 * 1024) };
    const error = statusOf(() => prepareJobForCreate(job, 'pi', UID));
    expect(error.details?.causes?.map((c) => [c.reason, c.field])).toEqual([
      ['FieldValueInvalid', 'metadata.labels'],
      ['FieldValueInvalid', 'metadata.labels'],
      ['FieldValueTooLong', 'metadata.annotations'],
    ]);
    expect(error.message).toMatch(
      /^Job\.batch "pi" is invalid: \[metadata\.labels: Invalid value: "bad key": /,
    );
  });

  it('requires containers with a name and an image', () => {
    const job = jobNamed('pi', {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main' }] } },
    });
    expect(statusOf(() => prepareJobForCreate(job, 'pi', UID)).details?.causes).toEqual([
      {
        reason: 'FieldValueRequired',
        field: 'spec.template.spec.containers[0].image',
        message: 'Required value',
      },
    ]);
  });
});

describe('prepareJobForUpdate', () => {
  const current = prepareJobForCreate(jobNamed('pi'), 'pi', UID);

  it('allows the mutable fields to change', () => {
    const updated = structuredClone(current);
    Object.assign(updated.spec as object, {
      suspend: true,
      parallelism: 3,
      backoffLimit: 1,
      activeDeadlineSeconds: 60,
    });
    expect(prepareJobForUpdate(current, updated).spec).toMatchObject({ suspend: true, parallelism: 3 });
  });

  it('rejects changes to immutable fields', () => {
    const updated = structuredClone(current);
    Object.assign(updated.spec as object, { completions: 2 });
    const error = statusOf(() => prepareJobForUpdate(current, updated));
    expect(error.code).toBe(422);
    expect(error.message).toBe(
      'Job.batch "pi" is invalid: spec.completions: Invalid value: 2: field is immutable',
    );

    const template = structuredClone(current);
    (
      template.spec as { template: { spec: { containers: { image: string }[] } } }
    ).template.spec.containers[0]!.image = 'alpine';
    expect(statusOf(() => prepareJobForUpdate(current, template)).details?.causes?.[0]?.field).toBe(
      'spec.template',
    );
  });
});
