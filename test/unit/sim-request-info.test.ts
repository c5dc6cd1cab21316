import { describe, expect, it } from 'vitest';
import { requestInfoOf } from '../../src/dev/sim-cluster/request-info.js';

const info = (method: string, url: string) => {
  const { pathname, searchParams } = new URL(url, 'http://sim');
  return requestInfoOf(method, pathname, searchParams);
};

describe('requestInfoOf', () => {
  it.each([
    ['GET', '/api/v1/namespaces/ns/pods/p', 'get', 'pods', 'p'],
    ['GET', '/api/v1/namespaces/ns/pods', 'list', 'pods', ''],
    ['GET', '/api/v1/namespaces/ns/pods?watch=1', 'watch', 'pods', ''],
    ['GET', '/api/v1/namespaces/ns/pods?watch=true&fieldSelector=metadata.name%3Dp', 'watch', 'pods', 'p'],
    ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=status.phase%3DRunning', 'list', 'pods', ''],
    ['GET', '/api/v1/watch/namespaces/ns/pods/p', 'watch', 'pods', 'p'],
    ['POST', '/api/v1/namespaces/ns/pods', 'create', 'pods', ''],
    ['PUT', '/api/v1/namespaces/ns/pods/p/status', 'update', 'pods', 'p'],
    ['PATCH', '/apis/batch/v1/namespaces/ns/jobs/j', 'patch', 'jobs', 'j'],
    ['DELETE', '/apis/batch/v1/namespaces/ns/jobs/j', 'delete', 'jobs', 'j'],
    ['DELETE', '/apis/batch/v1/namespaces/ns/jobs', 'deletecollection', 'jobs', ''],
  ])('%s %s is %s of %s %s', (method, url, verb, resource, name) => {
    expect(info(method, url)).toMatchObject({
      isResourceRequest: true,
      verb,
      resource,
      name,
      namespace: 'ns',
    });
  });

  it('reads the group, the subresource and the namespace of a namespace', () => {
    expect(info('GET', '/api/v1/namespaces/ns/pods/p/log')).toMatchObject({
      apiGroup: '',
      subresource: 'log',
      parts: ['pods', 'p', 'log'],
    });
    expect(info('GET', '/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles')).toMatchObject({
      apiGroup: 'rbac.authorization.k8s.io',
      apiVersion: 'v1',
      resource: 'roles',
    });
    expect(info('GET', '/api/v1/namespaces/ns')).toMatchObject({
      resource: 'namespaces',
      name: 'ns',
      namespace: 'ns',
    });
    expect(info('GET', '/apis/batch/v1/jobs')).toMatchObject({
      verb: 'list',
      resource: 'jobs',
      namespace: '',
    });
  });

  it('leaves discovery, version and health as non-resource requests', () => {
    for (const path of [
      '/version',
      '/api',
      '/api/v1',
      '/apis',
      '/apis/batch/v1',
      '/healthz',
      '/openapi/v3',
    ]) {
      expect(info('GET', path)).toEqual({ isResourceRequest: false, verb: 'get', path });
    }
  });
});
