import { describe, expect, it } from 'vitest';
import { apiVerb } from '../../src/k8s/kube-client.js';

const server = 'https://10.0.0.1:6443';

describe('apiVerb: the API server verb of a request, for kjl_k8s_api_requests_total', () => {
  it.each([
    ['GET', '/apis/batch/v1/namespaces/builds/jobs?labelSelector=a%3Db', 'list'],
    ['GET', '/apis/batch/v1/namespaces/builds/jobs/build-x', 'get'],
    ['GET', '/api/v1/namespaces/builds/pods', 'list'],
    ['GET', '/api/v1/namespaces/builds/pods/build-x-abcde/log?tailLines=100', 'get'],
    ['GET', '/apis/batch/v1/namespaces/builds/jobs?watch=true&resourceVersion=12', 'watch'],
    ['GET', '/api/v1/watch/namespaces/builds/pods', 'watch'],
    ['GET', '/api/v1/namespaces', 'list'],
    ['GET', '/api/v1/namespaces/builds', 'get'],
    ['GET', '/version', 'get'],
    ['POST', '/apis/batch/v1/namespaces/builds/jobs', 'create'],
    ['PUT', '/apis/batch/v1/namespaces/builds/jobs/build-x', 'update'],
    ['PATCH', '/apis/batch/v1/namespaces/builds/jobs/build-x', 'patch'],
    ['DELETE', '/apis/batch/v1/namespaces/builds/jobs/build-x', 'delete'],
    ['DELETE', '/api/v1/namespaces/builds/pods', 'deletecollection'],
  ])('%s %s is %s', (method, path, verb) => {
    expect(apiVerb(method, `${server}${path}`)).toBe(verb);
  });
});
