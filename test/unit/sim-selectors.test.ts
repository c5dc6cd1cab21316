import { describe, expect, it } from 'vitest';
import {
  parseFieldSelector,
  parseLabelSelector,
  parseSelectors,
} from '../../src/dev/sim-cluster/selectors.js';
import { StatusError } from '../../src/dev/sim-cluster/status.js';
import { thrown } from '../support/thrown.js';
import type { KubeObject } from '../../src/dev/sim-cluster/store.js';

const obj = (labels: Record<string, string>, rest: Partial<KubeObject> = {}): KubeObject => ({
  metadata: { name: 'pi', namespace: 'default', labels },
  ...rest,
});

const statusOf = (run: () => unknown) => thrown(StatusError, run);

describe('label selectors', () => {
  const labels = { app: 'kjl', tier: 'build', 'kjl.dev/target': 'web' };

  it.each([
    ['', true],
    ['app=kjl', true],
    ['app==kjl', true],
    ['app!=kjl', false],
    ['app=other', false],
    ['app=kjl,tier=build', true],
    ['app=kjl,tier=test', false],
    ['tier in (build, test)', true],
    ['tier in (test)', false],
    ['tier notin (test)', true],
    ['tier notin (build,test)', false],
    ['missing notin (x)', true],
    ['missing!=x', true],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['kjl.dev/target=web', true],
    ['app=kjl, tier in (build), !missing', true],
  ])('%s → %s', (selector, expected) => {
    expect(parseLabelSelector(selector)(obj(labels))).toBe(expected);
  });

  it('treats an object without labels as having none', () => {
    expect(parseLabelSelector('!app')({ metadata: { name: 'x' } })).toBe(true);
    expect(parseLabelSelector('app')({ metadata: { name: 'x' } })).toBe(false);
  });

  it('rejects malformed selectors with 400 BadRequest', () => {
    const error = statusOf(() => parseLabelSelector('app=a b'));
    expect(error.code).toBe(400);
    expect(error.reason).toBe('BadRequest');
    expect(error.message).toMatch(/^unable to parse requirement/);
  });
});

describe('field selectors', () => {
  it('selects jobs by name, namespace and status.successful (unset counts as 0)', () => {
    const job = obj({}, { status: { succeeded: 2 } });
    expect(parseFieldSelector('jobs', 'metadata.name=pi')(job)).toBe(true);
    expect(parseFieldSelector('jobs', 'metadata.name!=pi')(job)).toBe(false);
    expect(parseFieldSelector('jobs', 'metadata.namespace==default,status.successful=2')(job)).toBe(true);
    expect(parseFieldSelector('jobs', 'status.successful=0')(obj({}))).toBe(true);
  });

  it('selects pods by phase and node', () => {
    const pod = obj({}, { status: { phase: 'Running' }, spec: { nodeName: 'node-1' } });
    expect(parseFieldSelector('pods', 'status.phase=Running,spec.nodeName=node-1')(pod)).toBe(true);
    expect(parseFieldSelector('pods', 'status.phase!=Running')(pod)).toBe(false);
  });

  it('selects events by involved object', () => {
    const event = obj({}, { involvedObject: { kind: 'Job', name: 'pi', namespace: 'default', uid: 'u1' } });
    const selector =
      'involvedObject.kind=Job,involvedObject.name=pi,involvedObject.namespace=default,involvedObject.uid=u1';
    expect(parseFieldSelector('events', selector)(event)).toBe(true);
    expect(parseFieldSelector('events', 'involvedObject.name=other')(event)).toBe(false);
  });

  it('rejects fields the resource does not support', () => {
    const error = statusOf(() => parseFieldSelector('jobs', 'status.phase=Running'));
    expect(error.toBody()).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: 'field label not supported: status.phase',
    });
  });
});

describe('parseSelectors', () => {
  it('combines both selectors and reports whether any was given', () => {
    const none = parseSelectors('jobs', new URLSearchParams());
    expect(none.empty).toBe(true);
    const both = parseSelectors(
      'jobs',
      new URLSearchParams({ labelSelector: 'app=kjl', fieldSelector: 'metadata.name=pi' }),
    );
    expect(both.empty).toBe(false);
    expect(both.matches(obj({ app: 'kjl' }))).toBe(true);
    expect(both.matches(obj({ app: 'other' }))).toBe(false);
  });
});
