import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { InvalidMessageError } from '../../src/errors.js';
import { parseMessage, type IncomingMessage, type ParseOptions } from '../../src/intake/parse-message.js';
import { thrown } from '../support/thrown.js';

const options: ParseOptions = {
  eventType: 'dev.kjl.build.requested',
  wrapSource: 'kjl/sqs/builds',
  limits: {
    templates: ['kaniko', 'generic'],
    defaultTemplate: 'kaniko',
    maxEnvEntries: 2,
    maxCpu: '4',
    maxMemory: '8Gi',
  },
  now: () => 1_700_000_000_000,
};
const request = { thirdPartyId: 'acme', parserId: 'invoice-v2', contentHash: 'ABCDEF0123456789' };
const structured = (overrides: Record<string, unknown> = {}, data: unknown = request) => ({
  MessageId: 'm-1',
  Body: JSON.stringify({
    specversion: '1.0',
    id: 'evt-1',
    source: 'urn:test',
    type: 'dev.kjl.build.requested',
    data,
    ...overrides,
  }),
});

const failure = (message: IncomingMessage) =>
  thrown(InvalidMessageError, () => parseMessage(message, options));

describe('parseMessage: the three accepted formats', () => {
  it('reads a structured-mode CloudEvent', () => {
    const build = parseMessage(structured(), options);
    expect(build.request).toEqual({ ...request, contentHash: 'abcdef0123456789', template: 'kaniko' });
    expect(build.requestId).toBe(requestIdOf(request));
    expect(build.origin).toMatchObject({ eventId: 'evt-1', eventSource: 'urn:test', messageId: 'm-1' });
  });

  it('reads a binary-mode CloudEvent from ce-* message attributes', () => {
    const attr = (value: string) => ({ DataType: 'String', StringValue: value });
    const build = parseMessage(
      {
        MessageId: 'm-2',
        Body: JSON.stringify({ ...request, template: 'generic' }),
        MessageAttributes: {
          'ce-specversion': attr('1.0'),
          'ce-id': attr('evt-2'),
          'ce-source': attr('urn:binary'),
          'ce-type': attr('dev.kjl.build.requested'),
          'ce-traceparent': attr('00-abc-def-01'),
        },
      },
      options,
    );
    expect(build.request.template).toBe('generic');
    expect(build.origin.eventId).toBe('evt-2');
    expect(build.origin.eventSource).toBe('urn:binary');
  });

  it('wraps a plain JSON build request into a CloudEvent', () => {
    const build = parseMessage(
      { MessageId: 'm-3', Body: JSON.stringify(request), Attributes: { SentTimestamp: '1699999999000' } },
      options,
    );
    expect(build.origin).toMatchObject({
      eventId: 'm-3',
      eventSource: 'kjl/sqs/builds',
      sentAt: 1699999999000,
    });
    expect(build.origin.eventType).toBe('dev.kjl.build.requested');
  });

  it('derives the same request id for the same target and content, whatever the format', () => {
    const a = parseMessage(structured(), options);
    const b = parseMessage({ MessageId: 'x', Body: JSON.stringify(request) }, options);
    expect(a.requestId).toBe(b.requestId);
    expect(
      parseMessage(structured({}, { ...request, contentHash: '0123456789abcdef' }), options).requestId,
    ).not.toBe(a.requestId);
  });
});

describe('parseMessage: bad input is rejected with a code and the field', () => {
  it.each([
    ['malformed JSON', { Body: '{"thirdPartyId": ' }, 'KJL_MALFORMED_JSON', 'body'],
    ['a JSON array', { Body: '[1,2]' }, 'KJL_INVALID_REQUEST', 'body'],
    ['a missing id', structured({ id: undefined }), 'KJL_INVALID_CLOUDEVENT', 'id'],
    ['a missing source', structured({ source: '' }), 'KJL_INVALID_CLOUDEVENT', 'source'],
    ['specversion 0.3', structured({ specversion: '0.3' }), 'KJL_UNSUPPORTED_SPECVERSION', 'specversion'],
    ['the wrong type', structured({ type: 'com.example.other' }), 'KJL_UNEXPECTED_EVENT_TYPE', 'type'],
    ['no data', structured({}, null), 'KJL_INVALID_REQUEST', 'data'],
    [
      'a missing parserId',
      structured({}, { thirdPartyId: 'a', contentHash: 'abcdef01' }),
      'KJL_INVALID_REQUEST',
      'data.parserId',
    ],
    [
      'a short hash',
      structured({}, { ...request, contentHash: 'abc' }),
      'KJL_INVALID_REQUEST',
      'data.contentHash',
    ],
    ['an unknown field', structured({}, { ...request, extra: 1 }), 'KJL_INVALID_REQUEST', 'data'],
    [
      'a template not allowed',
      structured({}, { ...request, template: 'docker' }),
      'KJL_INVALID_REQUEST',
      'data.template',
    ],
    [
      'an id of 64 characters',
      structured({}, { ...request, parserId: 'p'.repeat(64) }),
      'KJL_INVALID_REQUEST',
      'data.parserId',
    ],
    [
      'an oversized env value',
      structured({}, { ...request, env: { A: 'x'.repeat(5000) } }),
      'KJL_OVERSIZED',
      'data.env.A',
    ],
    [
      'too many env entries',
      structured({}, { ...request, env: { A: '1', B: '2', C: '3' } }),
      'KJL_INVALID_REQUEST',
      'data.env',
    ],
    [
      'an unsafe env key',
      structured({}, { ...request, env: { 'A;rm': '1' } }),
      'KJL_UNSAFE_VALUE',
      'data.env.A;rm',
    ],
    [
      'a control character',
      structured({}, { ...request, parserId: 'a\u0007b' }),
      'KJL_UNSAFE_VALUE',
      'data.parserId',
    ],
    ['a quote', structured({}, { ...request, thirdPartyId: 'a"b' }), 'KJL_UNSAFE_VALUE', 'data.thirdPartyId'],
    ['a path', structured({}, { ...request, parserId: '../etc' }), 'KJL_UNSAFE_VALUE', 'data.parserId'],
    [
      'shell metacharacters',
      structured({}, { ...request, env: { A: '$(reboot)' } }),
      'KJL_UNSAFE_VALUE',
      'data.env.A',
    ],
    [
      'cpu above the cap',
      structured({}, { ...request, resources: { cpu: '16' } }),
      'KJL_INVALID_REQUEST',
      'data.resources.cpu',
    ],
    ['an oversized event id', structured({ id: 'i'.repeat(300) }), 'KJL_OVERSIZED', 'id'],
    [
      'an id of one dot',
      structured({}, { ...request, parserId: '.' }),
      'KJL_INVALID_REQUEST',
      'data.parserId',
    ],
    [
      'an id of two dots',
      structured({}, { ...request, thirdPartyId: '..' }),
      'KJL_INVALID_REQUEST',
      'data.thirdPartyId',
    ],
    [
      'a C1 control character',
      structured({}, { ...request, env: { A: 'a\u0085b' } }),
      'KJL_UNSAFE_VALUE',
      'data.env.A',
    ],
    [
      'a percent-encoded .. in the build context',
      structured({}, { ...request, buildContext: 's3://bucket/ctx/%2e%2e/other/context.tar.gz' }),
      'KJL_INVALID_REQUEST',
      'data.buildContext',
    ],
    [
      'a twice-encoded .. in the build context',
      structured({}, { ...request, buildContext: 's3://bucket/ctx/%252e%252e/context.tar.gz' }),
      'KJL_INVALID_REQUEST',
      'data.buildContext',
    ],
  ])('%s', (_name, message, code, field) => {
    const error = failure(message as IncomingMessage);
    expect(error.code).toBe(code);
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });

  it('says why, in words a publisher can act on', () => {
    expect(failure(structured({}, { ...request, contentHash: 'xyz' })).message).toBe(
      'data.contentHash: must be 8–128 hexadecimal characters (got "xyz")',
    );
    expect(failure(structured({ type: 'x' })).message).toBe(
      'type: must be "dev.kjl.build.requested" (got "x")',
    );
  });

  it('rejects a binary-mode event whose body is not JSON', () => {
    const error = failure({
      Body: 'not json',
      MessageAttributes: { 'ce-specversion': { DataType: 'String', StringValue: '1.0' } },
    });
    expect(error.code).toBe('KJL_MALFORMED_JSON');
  });
});
