import { describe, expect, it } from 'vitest';
import {
  applyPatch,
  jsonPatch,
  mergePatch,
  patchTypeOf,
  strategicMergePatch,
  type Json,
} from '../../src/dev/sim-cluster/patch.js';
import { StatusError } from '../../src/dev/sim-cluster/status.js';
import { thrown } from '../support/thrown.js';

const statusOf = (run: () => unknown) => thrown(StatusError, run);

const fixture = {
  metadata: { name: 'pi', labels: { a: '1', b: '2' } },
  spec: {
    suspend: false,
    template: {
      spec: {
        containers: [
          { name: 'main', image: 'busybox', env: [{ name: 'A', value: '1' }], args: ['x', 'y'] },
          { name: 'side', image: 'nginx' },
        ],
      },
    },
  },
};
const job = fixture as unknown as Json;
type Job = typeof fixture;

describe('patch content types', () => {
  it('accepts the four patch types, with parameters', () => {
    expect(patchTypeOf('application/merge-patch+json; charset=utf-8')).toBe('application/merge-patch+json');
    expect(patchTypeOf('application/apply-patch+yaml')).toBe('application/apply-patch+yaml');
  });

  it('answers anything else with 415 UnsupportedMediaType', () => {
    const error = statusOf(() => patchTypeOf('application/json'));
    expect(error.code).toBe(415);
    expect(error.reason).toBe('UnsupportedMediaType');
    expect(error.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
    );
  });
});

describe('merge patch (RFC 7386)', () => {
  it('merges maps, removes null members and replaces lists', () => {
    const result = mergePatch(job, {
      metadata: { labels: { a: null, c: '3' } },
      spec: { suspend: true, template: { spec: { containers: [{ name: 'only' }] } } },
    });
    expect(result).toMatchObject({ metadata: { labels: { b: '2', c: '3' } }, spec: { suspend: true } });
    expect((result as Job).metadata.labels).not.toHaveProperty('a');
    expect((result as Job).spec.template.spec.containers).toEqual([{ name: 'only' }]);
  });

  it('does not change its input', () => {
    const before = structuredClone(job);
    mergePatch(job, { spec: { suspend: true } });
    expect(job).toEqual(before);
  });
});

describe('strategic merge patch', () => {
  it('merges containers and env by name and replaces other lists', () => {
    const result = strategicMergePatch(job, {
      spec: {
        template: {
          spec: {
            containers: [{ name: 'main', image: 'alpine', env: [{ name: 'B', value: '2' }], args: ['z'] }],
          },
        },
      },
    }) as Job;
    const [main, side] = result.spec.template.spec.containers;
    expect(main).toEqual({
      name: 'main',
      image: 'alpine',
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: '2' },
      ],
      args: ['z'],
    });
    expect(side).toEqual({ name: 'side', image: 'nginx' });
  });

  it('appends new named items and deletes with $patch: delete', () => {
    const result = strategicMergePatch(job, {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'side', $patch: 'delete' },
              { name: 'new', image: 'x' },
            ],
          },
        },
      },
    }) as Job;
    expect(result.spec.template.spec.containers.map((c) => c.name)).toEqual(['main', 'new']);
  });

  it('ignores $setElementOrder directives', () => {
    const result = strategicMergePatch(job, { metadata: { labels: { a: null } }, '$setElementOrder/x': [] });
    expect(result).toMatchObject({ metadata: { labels: { b: '2' } } });
    expect(result).not.toHaveProperty('$setElementOrder/x');
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('applies add, remove, replace, move, copy and test in order', () => {
    const result = jsonPatch(job, [
      { op: 'test', path: '/metadata/name', value: 'pi' },
      { op: 'replace', path: '/spec/suspend', value: true },
      { op: 'add', path: '/metadata/labels/c~1d', value: '3' },
      { op: 'remove', path: '/metadata/labels/a' },
      { op: 'add', path: '/spec/template/spec/containers/0/args/-', value: 'z' },
      { op: 'copy', from: '/metadata/labels/b', path: '/metadata/labels/e' },
      { op: 'move', from: '/metadata/labels/e', path: '/metadata/labels/f' },
    ]) as Job;
    expect(result.spec.suspend).toBe(true);
    expect(result.metadata.labels).toEqual({ b: '2', 'c/d': '3', f: '2' });
    expect(result.spec.template.spec.containers[0]!.args).toEqual(['x', 'y', 'z']);
  });

  it('rejects a failed test with 422 and a malformed patch with 400', () => {
    expect(
      statusOf(() => jsonPatch(job, [{ op: 'test', path: '/metadata/name', value: 'other' }])).code,
    ).toBe(422);
    expect(statusOf(() => jsonPatch(job, [{ op: 'remove', path: '/metadata/missing' }])).code).toBe(422);
    expect(statusOf(() => jsonPatch(job, { op: 'add' })).code).toBe(400);
    expect(statusOf(() => jsonPatch(job, [{ op: 'frobnicate', path: '/a' }])).code).toBe(400);
  });
});

describe('applyPatch', () => {
  it('treats apply-patch+yaml as a merge of the YAML document', () => {
    const result = applyPatch('application/apply-patch+yaml', fixture, 'spec:\n  suspend: true\n');
    expect(result.spec.suspend).toBe(true);
    expect(result.metadata.labels).toEqual({ a: '1', b: '2' });
  });

  it('answers an undecodable body with 400 BadRequest', () => {
    expect(statusOf(() => applyPatch('application/merge-patch+json', fixture, '{nope')).code).toBe(400);
  });
});
