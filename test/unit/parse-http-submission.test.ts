import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { InvalidMessageError } from '../../src/errors.js';
import {
  parseHttpSubmission,
  parseMessage,
  type HttpSubmission,
  type IncomingMessage,
  type ParseOptions,
} from '../../src/intake/parse-message.js';
import { thrown } from '../support/thrown.js';

const NOW = 1_700_000_000_000;
const options: ParseOptions = {
  eventType: 'dev.kjl.build.requested',
  wrapSource: 'kjl/http',
  limits: {
    templates: ['kaniko', 'generic'],
    defaultTemplate: 'kaniko',
    maxEnvEntries: 2,
    maxCpu: '4',
    maxMemory: '8Gi',
  },
  now: () => NOW,
};
const request = { thirdPartyId: 'acme', parserId: 'invoice', contentHash: '0123ABCD' };
const event = (overrides: Record<string, unknown> = {}, data: unknown = request) => ({
  specversion: '1.0',
  id: 'evt-1',
  source: 'urn:test',
  type: 'dev.kjl.build.requested',
  data,
  ...overrides,
});
const json = (body: unknown, contentType = 'application/json'): HttpSubmission => ({
  headers: { 'Content-Type': contentType },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
/** The binary mode of the CloudEvents HTTP binding, as the SDK writes it. */
const binary = (attributes: Record<string, unknown>, data: unknown = request): HttpSubmission => {
  const message = HTTP.binary(new CloudEvent({ ...attributes, data }, false));
  return { headers: message.headers as Record<string, string>, body: String(message.body) };
};
const failure = (submission: HttpSubmission) =>
  thrown(InvalidMessageError, () => parseHttpSubmission(submission, options));
const dlqFailure = (message: IncomingMessage) =>
  thrown(InvalidMessageError, () => parseMessage(message, options));

describe('parseHttpSubmission: the three forms', () => {
  it('wraps a plain build request into a CloudEvent of its own, sent when received', () => {
    const build = parseHttpSubmission(json(request), options);
    expect(build.requestId).toBe(requestIdOf(request));
    expect(build.request).toEqual({ ...request, contentHash: '0123abcd', template: 'kaniko' });
    expect(build.origin).toMatchObject({
      eventSource: 'kjl/http',
      eventType: 'dev.kjl.build.requested',
      eventTime: new Date(NOW).toISOString(),
      sentAt: NOW,
      receivedAt: NOW,
    });
    expect(build.origin.eventId).toMatch(/^http-[0-9a-f-]{36}$/);
    expect(build.origin.messageId).toBeUndefined();
    expect(parseHttpSubmission(json(request), options).origin.eventId).not.toBe(build.origin.eventId);
  });

  it('reads a structured-mode event, by its media type or by specversion in JSON', () => {
    for (const contentType of ['application/cloudevents+json', 'application/json']) {
      const build = parseHttpSubmission(json(event(), contentType), options);
      expect(build.origin).toMatchObject({ eventId: 'evt-1', eventSource: 'urn:test', sentAt: NOW });
      expect(build.requestId).toBe(requestIdOf(request));
    }
  });

  it('reads a binary-mode event from its ce-* headers', () => {
    const build = parseHttpSubmission(
      binary({ id: 'evt-2', source: 'urn:binary', type: 'dev.kjl.build.requested', subject: 'acme/invoice' }),
      options,
    );
    expect(build.origin).toMatchObject({ eventId: 'evt-2', eventSource: 'urn:binary', sentAt: NOW });
    expect(build.request.parserId).toBe('invoice');
  });
});

describe('parseHttpSubmission: refusals, with the dead-letter codes', () => {
  it('names the same code, field and reason as the DLQ for the same body', () => {
    const bodies = [
      '{"thirdPartyId": ',
      '[1, 2]',
      JSON.stringify({ ...request, color: 'blue' }),
      JSON.stringify({ ...request, parserId: 'in;valid' }),
      JSON.stringify({ ...request, buildContext: `s3://b/${'x'.repeat(1100)}` }),
      JSON.stringify(event({ specversion: '0.3' })),
      JSON.stringify(event({ type: 'com.example.other' })),
      JSON.stringify(event({ source: undefined })),
      JSON.stringify(event({}, 'not an object')),
      JSON.stringify(event({ data_base64: 'AAAA' })),
      'x'.repeat(70 * 1024),
    ];
    for (const body of bodies) {
      const http = failure({ headers: { 'content-type': 'application/json' }, body });
      const dlq = dlqFailure({ MessageId: 'm', Body: body });
      expect({ code: http.code, field: http.field, message: http.message }).toEqual({
        code: dlq.code,
        field: dlq.field,
        message: dlq.message,
      });
    }
  });

  it('refuses a binary-mode event missing an attribute as the DLQ refuses one', () => {
    const attr = (value: string) => ({ DataType: 'String', StringValue: value });
    const body = JSON.stringify(request);
    const http = failure({
      headers: { 'ce-specversion': '1.0', 'ce-source': 'urn:x', 'ce-type': 'dev.kjl.build.requested' },
      body,
    });
    const dlq = dlqFailure({
      Body: body,
      MessageAttributes: {
        'ce-specversion': attr('1.0'),
        'ce-source': attr('urn:x'),
        'ce-type': attr('dev.kjl.build.requested'),
      },
    });
    expect(http.code).toBe('KJL_INVALID_CLOUDEVENT');
    expect([http.field, http.message]).toEqual([dlq.field, dlq.message]);
    expect(http.message).toBe('id: required CloudEvent attribute is missing or empty');
  });

  it('refuses binary-mode events by their attributes and their data', () => {
    expect(failure(binary({ id: 'e', source: 'urn:x', type: 'other.type' })).code).toBe(
      'KJL_UNEXPECTED_EVENT_TYPE',
    );
    const text = failure({
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'e',
        'ce-source': 'urn:x',
        'ce-type': 'dev.kjl.build.requested',
        'content-type': 'text/plain',
      },
      body: JSON.stringify(request),
    });
    expect([text.code, text.field]).toEqual(['KJL_INVALID_CLOUDEVENT', 'datacontenttype']);
    const malformed = failure({ headers: { 'ce-specversion': '1.0', 'ce-id': 'e' }, body: '{' });
    expect([malformed.code, malformed.field]).toEqual(['KJL_MALFORMED_JSON', 'body']);
    const unknown = failure(
      binary({ id: 'e', source: 'urn:x', type: 'dev.kjl.build.requested' }, { ...request, x: 1 }),
    );
    expect(unknown.message).toBe('data: unknown field(s) x');
  });

  it('refuses a batch, and a structured-mode media type without an event', () => {
    expect(failure(json([event()], 'application/cloudevents-batch+json')).field).toBe('content-type');
    const bare = failure(json(request, 'application/cloudevents+json'));
    expect([bare.code, bare.message]).toEqual([
      'KJL_INVALID_CLOUDEVENT',
      'specversion: required CloudEvent attribute is missing or empty',
    ]);
  });
});
