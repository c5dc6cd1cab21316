import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { createSetup, stored, TEST_RULES, useStack, type Setup } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * The HTTP API on the real server of a launcher, with its real queue on a redis-server, the
 * embedded SQS server and the simulated cluster. Each test has its own queues and namespace.
 */

const TOKEN = 'integration-token-0123456789';
const stack = useStack({
  rules: [
    {
      match: { labels: { 'kjl.dev/parser-id': 'tail-*' } },
      action: 'succeed',
      seconds: 3,
      logs: [
        { after: 0.3, text: 'step 1: unpacking' },
        { after: 1.5, text: 'step 2: building' },
        { after: 2.7, text: 'step 3: pushing' },
      ],
    },
    ...TEST_RULES,
  ],
});

interface Api {
  setup: Setup;
  runtime: Runtime;
  call(
    method: string,
    path: string,
    init?: { body?: unknown; headers?: Record<string, string>; token?: string | null },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of many shapes, read by the tests
  ): Promise<{ status: number; body: any; headers: Headers }>;
  url(path: string): string;
}

/** A launcher serving the API with a token, on a fresh setup. */
async function launchApi(env: Record<string, string> = {}): Promise<Api> {
  const setup = await createSetup(stack.infra, { KJL_HTTP_PORT: '0', KJL_API_TOKEN: TOKEN, ...env });
  const runtime = await stack.launch(setup, { http: true, httpHost: '127.0.0.1' });
  const base = `http://127.0.0.1:${(runtime.http!.server.address() as { port: number }).port}/api/v1`;
  return {
    setup,
    runtime,
    url: (path) => `${base}${path}`,
    async call(method, path, init = {}) {
      const token = init.token === undefined ? TOKEN : init.token;
      const body =
        init.body === undefined || typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined && typeof init.body !== 'string'
            ? { 'content-type': 'application/json' }
            : {}),
          ...init.headers,
        },
        ...(body !== undefined ? { body: body as string } : {}),
      });
      const text = await response.text();
      const type = response.headers.get('content-type') ?? '';
      return {
        status: response.status,
        headers: response.headers,
        body: type.startsWith('application/json') ? JSON.parse(text) : text,
      };
    },
  };
}

const request = (parserId: string, contentHash = '0123abcd', thirdPartyId = 'http') => ({
  thirdPartyId,
  parserId,
  contentHash,
});

/** Polls a build's status until `state`. */
async function until(api: Api, requestId: string, state: string, timeoutMs = 30_000) {
  return waitFor(
    `${requestId} ${state}`,
    async () => {
      const { body } = await api.call('GET', `/builds/${requestId}`);
      return body.state === state ? body : undefined;
    },
    timeoutMs,
    100,
  );
}

describe('POST /builds', () => {
  it('queues a build request, a structured and a binary CloudEvent; the same request again is a duplicate', async () => {
    const api = await launchApi();
    const plain = await api.call('POST', '/builds', { body: request('plain') });
    expect(plain.status).toBe(202);
    // `position` too while it waits: a worker may have taken it already (see the cancel test)
    expect(plain.body).toMatchObject({
      requestId: requestIdOf(request('plain')),
      state: 'queued',
      attempt: 1,
    });
    expect(plain.headers.get('location')).toBe(`/api/v1/builds/${plain.body.requestId}`);
    const again = await api.call('POST', '/builds', { body: request('plain') });
    expect([again.status, again.body]).toEqual([
      200,
      { requestId: plain.body.requestId, state: 'duplicate' },
    ]);

    const structured = await api.call('POST', '/builds', {
      body: JSON.stringify({
        specversion: '1.0',
        id: 'evt-structured',
        source: 'urn:test:http',
        type: 'dev.kjl.build.requested',
        data: request('structured'),
      }),
      headers: { 'content-type': 'application/cloudevents+json' },
    });
    expect([structured.status, structured.body.state]).toEqual([202, 'queued']);

    const binary = HTTP.binary(
      new CloudEvent({
        id: 'evt-binary',
        source: 'urn:test:http',
        type: 'dev.kjl.build.requested',
        data: request('binary'),
      }),
    );
    const sent = await api.call('POST', '/builds', {
      body: String(binary.body),
      headers: binary.headers as Record<string, string>,
    });
    expect([sent.status, sent.body.state]).toEqual([202, 'queued']);

    for (const parserId of ['plain', 'structured', 'binary']) {
      const status = await until(api, requestIdOf(request(parserId)), 'succeeded');
      expect(status.summary).toBe('succeeded');
    }
    const events = await api.setup.waitForEvents(
      'three successes',
      (all) => all.filter((event) => event.type === 'dev.kjl.build.succeeded').length === 3,
    );
    expect(events.filter((event) => event.type === 'dev.kjl.build.queued')).toHaveLength(3);
  });

  it('refuses bad input with the code, field and reason the DLQ gives the same message', async () => {
    const api = await launchApi();
    const event = (overrides: object) =>
      JSON.stringify({
        specversion: '1.0',
        id: 'e',
        source: 'urn:x',
        type: 'dev.kjl.build.requested',
        data: request('bad'),
        ...overrides,
      });
    const bodies: Record<string, string> = {
      KJL_MALFORMED_JSON: '{"thirdPartyId": ',
      KJL_INVALID_CLOUDEVENT: event({ source: '' }),
      KJL_UNSUPPORTED_SPECVERSION: event({ specversion: '0.3' }),
      KJL_UNEXPECTED_EVENT_TYPE: event({ type: 'com.example.other' }),
      KJL_INVALID_REQUEST: JSON.stringify({ ...request('bad'), color: 'blue' }),
      KJL_UNSAFE_VALUE: JSON.stringify(request('bad;rm -rf')),
      KJL_OVERSIZED: JSON.stringify({ ...request('bad'), buildContext: `s3://b/${'x'.repeat(1100)}` }),
    };
    const answers: Record<string, { code: string; field: string; message: string }> = {};
    for (const [code, body] of Object.entries(bodies)) {
      const answer = await api.call('POST', '/builds', {
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.status, code).toBe(400);
      expect(answer.body.code).toBe(code);
      expect(answer.body.message.startsWith(`${answer.body.field}: `)).toBe(true);
      answers[code] = answer.body;
    }
    expect(answers.KJL_INVALID_REQUEST).toEqual({
      code: 'KJL_INVALID_REQUEST',
      field: 'data',
      message: 'data: unknown field(s) color',
    });
    // the same bodies through SQS: the DLQ says the same
    for (const body of Object.values(bodies)) {
      await stack.infra.client.send(
        new SendMessageCommand({ QueueUrl: api.setup.queueUrl, MessageBody: body }),
      );
    }
    const letters = await waitFor('every message dead-lettered', async () => {
      const { body } = await api.call('GET', '/dlq');
      return body.length === Object.keys(bodies).length
        ? (body as { code: string; reason: string }[])
        : undefined;
    });
    for (const [code, answer] of Object.entries(answers)) {
      expect(letters.find((letter) => letter.code === code)?.reason).toBe(answer.message);
    }
  });

  it('answers 413 past the body limit and 429 past the rate limit', async () => {
    const api = await launchApi({ KJL_API_BODY_LIMIT_BYTES: '1024', KJL_API_RATE_LIMIT: '4' });
    const large = await api.call('POST', '/builds', {
      body: { ...request('large'), env: { NOTE: 'x'.repeat(2000) } },
    });
    expect([large.status, large.body.code]).toEqual([413, 'KJL_OVERSIZED']);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await api.call('GET', '/limit')).status);
    // the 413 counted too: four requests in all
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await api.call('GET', '/fleet');
    expect([limited.status, limited.body.code]).toEqual([429, 'KJL_RATE_LIMITED']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('GET /builds', () => {
  it('lists the queue and the history by state, target and time, page by page', async () => {
    const api = await launchApi();
    const ok = ['ok-1', 'ok-2', 'ok-3'].map((parserId) => request(parserId));
    const failing = request('invalid-list');
    const long = request('long-list');
    for (const build of [...ok, failing, long]) {
      expect((await api.call('POST', '/builds', { body: build })).status).toBe(202);
    }
    const ids = (builds: object[]) => builds.map((build) => requestIdOf(build as ReturnType<typeof request>));
    for (const id of ids(ok)) await until(api, id, 'succeeded');
    await until(api, requestIdOf(failing), 'failed');
    const runningStatus = await until(api, requestIdOf(long), 'running');
    expect(runningStatus.summary).toMatch(/^(running|pending) as Job build-http-long-list-/);

    const list = async (query: string) => {
      const answer = await api.call('GET', `/builds?${query}`);
      expect(answer.status, query).toBe(200);
      return answer.body as { builds: { requestId: string; state: string }[]; next?: string };
    };
    const idsOf = (page: { builds: { requestId: string }[] }) => page.builds.map((build) => build.requestId);
    expect(new Set(idsOf(await list('state=succeeded')))).toEqual(new Set(ids(ok)));
    expect(new Set(idsOf(await list('state=failed,running')))).toEqual(new Set(ids([failing, long])));
    expect(idsOf(await list('target=http/invalid-list'))).toEqual(ids([failing]));
    expect((await list('state=failed')).builds[0]).toMatchObject({
      state: 'failed',
      reason: 'Error',
      message: 'container kaniko exited with code 1',
    });
    expect(new Set(idsOf(await list('since=10m')))).toEqual(new Set(ids([...ok, failing, long])));
    expect(await list(`since=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual({ builds: [] });

    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page: { builds: { requestId: string }[]; next?: string } = await list(
        `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      pages.push(idsOf(page));
      cursor = page.next;
    } while (cursor && pages.length < 10);
    expect(pages[0]).toHaveLength(2);
    expect(pages.flat().sort()).toEqual(ids([...ok, failing, long]).sort());

    const bad = await api.call('GET', '/builds?since=yesterday');
    expect(bad.body).toEqual({
      code: 'KJL_USAGE',
      field: 'since',
      message: 'since: must be a time ago (30m, 2h, 7d) or an ISO date (got "yesterday")',
    });
    expect((await api.call('GET', '/builds?cursor=not-a-cursor')).body.field).toBe('cursor');
    expect((await api.call('GET', '/builds/r0000000000000000000')).body).toEqual({
      code: 'KJL_UNKNOWN_REQUEST',
      message: 'no request r0000000000000000000 in the queue',
    });
  });
});

describe('DELETE /builds/{id}', () => {
  it('cancels a queued build and a running one, whose Job is deleted in the cluster', async () => {
    const api = await launchApi();
    expect(await api.call('PUT', '/limit', { body: { limit: 1 } })).toMatchObject({
      status: 200,
      body: { limit: 1 },
    });
    expect((await api.call('GET', '/fleet')).body.limit).toBe(1);
    const first = requestIdOf(request('long-cancel-1'));
    const second = requestIdOf(request('long-cancel-2'));
    await api.call('POST', '/builds', { body: request('long-cancel-1') });
    const running = await waitFor('its Job created', async () => {
      const { body } = await api.call('GET', `/builds/${first}`);
      return body.state === 'running' && body.jobName ? body : undefined;
    });
    expect((await api.call('POST', '/builds', { body: request('long-cancel-2') })).body).toEqual({
      requestId: second,
      state: 'queued',
      position: 1,
      attempt: 1,
    });
    const queued = await until(api, second, 'queued');
    expect(queued.summary).toMatch(/^queued at position 1; the concurrent job limit \(1\/1\) is reached/);

    expect(await api.call('DELETE', `/builds/${second}`)).toMatchObject({
      status: 202,
      body: { requestId: second, outcome: 'queued' },
    });
    await until(api, second, 'cancelled');
    const noLog = await api.call('GET', `/builds/${second}/logs`);
    expect([noLog.status, noLog.body.code]).toEqual([404, 'KJL_NO_LOG']);

    const jobName = running.jobName as string;
    expect(stored(stack.infra, api.setup, 'jobs').map((job) => job.metadata.name)).toContain(jobName);
    const cancelled = await api.call('DELETE', `/builds/${first}`);
    expect(cancelled).toMatchObject({
      status: 202,
      body: { requestId: first, outcome: 'running', jobs: [jobName] },
    });
    await waitFor('the Job deleted', () =>
      stored(stack.infra, api.setup, 'jobs').every((job) => job.metadata.name !== jobName),
    );
    // "cancelled; its Job is being deleted" until its worker has recorded it
    await waitFor('the cancellation recorded', async () => {
      const { body } = await api.call('GET', `/builds/${first}`);
      return body.summary === 'cancelled';
    });
    const finished = await api.call('DELETE', `/builds/${first}`);
    expect(finished).toMatchObject({
      status: 200,
      body: { requestId: first, outcome: 'finished', status: { state: 'cancelled' } },
    });
    expect((await api.call('DELETE', '/builds/r0000000000000000000')).status).toBe(404);
  });
});

describe('replay and logs', () => {
  it("replays a failed build, refuses one that is pending, and serves a failed build's kept log tail", async () => {
    const api = await launchApi();
    const id = requestIdOf(request('invalid-replay'));
    await api.call('POST', '/builds', { body: request('invalid-replay') });
    await until(api, id, 'failed');
    const log = await api.call('GET', `/builds/${id}/logs`);
    expect(log.status).toBe(200);
    expect(log.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(log.body).toBe('INFO[0000] RUN npm ci\nnpm ERR! code EJSONPARSE\n');

    const replayed = await api.call('POST', `/builds/${id}/replay`);
    expect(replayed).toMatchObject({ status: 202, body: { requestId: id, state: 'requeued', attempt: 2 } });
    const pending = await api.call('POST', `/builds/${id}/replay`);
    expect([pending.status, pending.body.code]).toEqual([409, 'KJL_NOT_FINISHED']);
    expect(pending.body.message).toMatch(
      new RegExp(`^${id} is (queued|waiting|running): only a finished build`),
    );
    await waitFor('the second run to fail', async () => {
      const { body } = await api.call('GET', `/builds/${id}`);
      return body.state === 'failed' && body.outcome?.run === 2;
    });
    expect((await api.call('POST', '/builds/r0000000000000000000/replay')).status).toBe(404);
    expect((await api.call('GET', '/builds/r0000000000000000000/logs')).status).toBe(404);
  });

  it("follows a running build's log as the kubelet writes it, and ends when the build does", async () => {
    const api = await launchApi();
    const id = requestIdOf(request('tail-follow'));
    await api.call('POST', '/builds', { body: request('tail-follow') });
    await waitFor(
      'its pod running',
      async () => (await api.call('GET', `/builds/${id}`)).body.run?.phase === 'running',
    );
    const follow = (signal?: AbortSignal) =>
      fetch(api.url(`/builds/${id}/logs?follow=true`), {
        headers: { authorization: `Bearer ${TOKEN}` },
        ...(signal ? { signal } : {}),
      });
    // a follower that goes away early: its stream is dropped, and the launcher goes on
    const early = new AbortController();
    const first = await follow(early.signal);
    await first.body!.getReader().read();
    early.abort();
    const response = await follow();
    expect(response.status).toBe(200);
    const arrivals: { line: string; at: number }[] = [];
    const decoder = new TextDecoder();
    let rest = '';
    for await (const chunk of response.body!) {
      rest += decoder.decode(chunk, { stream: true });
      const lines = rest.split('\n');
      rest = lines.pop()!;
      for (const line of lines) arrivals.push({ line, at: Date.now() });
    }
    const ended = Date.now();
    expect(arrivals.map((arrival) => arrival.line)).toEqual([
      'step 1: unpacking',
      'step 2: building',
      'step 3: pushing',
    ]);
    // streamed as written (1.2 s apart), not all at the end
    expect(arrivals[2]!.at - arrivals[0]!.at).toBeGreaterThan(1500);
    const status = (await api.call('GET', `/builds/${id}`)).body;
    expect(['running', 'succeeded']).toContain(status.state);
    await until(api, id, 'succeeded');
    expect(ended - arrivals[2]!.at).toBeLessThan(2000);
  });
});

describe('the SQS dead-letter queue', () => {
  it('lists its messages, by code, and moves them back (by copy: the embedded SQS has no move task)', async () => {
    const api = await launchApi();
    await stack.infra.client.send(
      new SendMessageCommand({ QueueUrl: api.setup.queueUrl, MessageBody: '{"thirdPartyId": ' }),
    );
    const [letter] = await waitFor('the message dead-lettered', async () => {
      const { body } = await api.call('GET', '/dlq');
      return body.length === 1 ? body : undefined;
    });
    expect(letter).toMatchObject({
      code: 'KJL_MALFORMED_JSON',
      reason: expect.stringMatching(/^body: is not valid JSON/),
      sourceQueue: api.setup.queueUrl,
      body: '{"thirdPartyId": ',
    });
    expect((await api.call('GET', '/dlq?code=KJL_OVERSIZED')).body).toEqual([]);
    expect((await api.call('GET', '/dlq?max=0')).body.field).toBe('max');
    const replay = await api.call('POST', '/dlq/replay', { body: { code: 'KJL_MALFORMED_JSON' } });
    expect(replay).toMatchObject({ status: 200, body: { moved: 1, method: 'copy' } });
    // still invalid: the intake dead-letters it again, as a new message
    const [back] = await waitFor('the message back in the DLQ', async () => {
      const { body } = await api.call('GET', '/dlq');
      return body.length === 1 && body[0].messageId !== letter.messageId ? body : undefined;
    });
    expect(back.code).toBe('KJL_MALFORMED_JSON');
    const all = await api.call('POST', '/dlq/replay');
    expect(all).toMatchObject({ status: 200, body: { moved: 1, method: 'copy' } });
    const filter = await api.call('POST', '/dlq/replay', { body: { max: 1, colour: 'red' } });
    expect([filter.status, filter.body.field]).toEqual([400, 'colour']);
  });
});

describe('authentication', () => {
  it('answers 401 without the token or with a wrong one; the document needs none', async () => {
    const api = await launchApi();
    for (const token of [null, 'wrong-token-0123456789abcdef']) {
      const refused = await api.call('GET', '/fleet', { token });
      expect([refused.status, refused.body.code]).toEqual([401, 'KJL_UNAUTHORIZED']);
      expect((await api.call('POST', '/builds', { token, body: request('nope') })).status).toBe(401);
    }
    expect((await api.call('GET', '/fleet')).status).toBe(200);
    expect((await api.call('GET', '/openapi.json', { token: null })).body.openapi).toBe('3.0.3');
  });
});
