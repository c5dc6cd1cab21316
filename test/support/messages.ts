import type { SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { requestIdOf } from '../../src/build-request.js';
import { buildRequestMessage, type MessageFormat } from '../../src/intake/publisher.js';

export interface ValidRequest {
  thirdPartyId: string;
  parserId: string;
  contentHash: string;
}

export function validRequest(i: number, prefix = 'tp'): ValidRequest {
  return {
    thirdPartyId: `${prefix}-${i % 37}`,
    parserId: `parser-${i}`,
    contentHash: (i * 7919).toString(16).padStart(12, 'a'),
  };
}

export const idOf = (request: ValidRequest) => requestIdOf(request);

/** One SQS message carrying `request` in the given format, as `kjl publish` would send it. */
export function message(
  request: object,
  format: MessageFormat,
  id: string,
): Omit<SendMessageBatchRequestEntry, 'Id'> {
  return buildRequestMessage(
    request,
    format,
    { type: 'dev.kjl.build.requested', source: 'urn:kjl:test' },
    `evt-${id}`,
  );
}

const base = { thirdPartyId: 'bad', parserId: 'p', contentHash: 'abcdef0123' };

/** One invalid message of each kind the intake must dead-letter, with the code it must carry. */
export const INVALID_KINDS: {
  kind: string;
  code: string;
  make: (i: number) => Omit<SendMessageBatchRequestEntry, 'Id'>;
}[] = [
  {
    kind: 'malformed JSON',
    code: 'KJL_MALFORMED_JSON',
    make: (i) => ({ MessageBody: `{"thirdPartyId": "x${i}", ` }),
  },
  {
    kind: 'missing CloudEvent attribute',
    code: 'KJL_INVALID_CLOUDEVENT',
    make: (i) => ({
      MessageBody: JSON.stringify({
        specversion: '1.0',
        id: `e${i}`,
        type: 'dev.kjl.build.requested',
        data: base,
      }),
    }),
  },
  {
    kind: 'wrong specversion',
    code: 'KJL_UNSUPPORTED_SPECVERSION',
    make: (i) => ({
      MessageBody: message(base, 'structured', `v${i}`).MessageBody!.replace(
        '"specversion":"1.0"',
        '"specversion":"0.3"',
      ),
    }),
  },
  {
    kind: 'wrong type',
    code: 'KJL_UNEXPECTED_EVENT_TYPE',
    make: (i) => ({
      MessageBody: message(base, 'structured', `t${i}`).MessageBody!.replace(
        'dev.kjl.build.requested',
        'com.example.other',
      ),
    }),
  },
  {
    kind: 'schema violation',
    code: 'KJL_INVALID_REQUEST',
    make: (i) => message({ thirdPartyId: `x${i}`, parserId: 'p' }, 'plain', `s${i}`),
  },
  {
    kind: 'unknown field',
    code: 'KJL_INVALID_REQUEST',
    make: (i) => message({ ...base, parserId: `p${i}`, image: 'evil' }, 'binary', `u${i}`),
  },
  {
    kind: 'oversized field',
    code: 'KJL_OVERSIZED',
    make: (i) =>
      message({ ...base, parserId: `p${i}`, env: { BIG: 'x'.repeat(5000) } }, 'structured', `o${i}`),
  },
  {
    kind: 'control character',
    code: 'KJL_UNSAFE_VALUE',
    make: (i) => message({ ...base, parserId: `p${i}\u0001` }, 'plain', `c${i}`),
  },
  {
    kind: 'quote',
    code: 'KJL_UNSAFE_VALUE',
    make: (i) => message({ ...base, thirdPartyId: `a'${i}` }, 'structured', `q${i}`),
  },
  {
    kind: 'shell metacharacters',
    code: 'KJL_UNSAFE_VALUE',
    make: (i) => message({ ...base, parserId: `p${i}`, env: { X: '`rm -rf /`' } }, 'binary', `m${i}`),
  },
  {
    kind: 'path',
    code: 'KJL_UNSAFE_VALUE',
    make: (i) => message({ ...base, parserId: `../../etc/passwd${i}` }, 'plain', `d${i}`),
  },
];
