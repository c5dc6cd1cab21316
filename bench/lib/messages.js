import { buildRequestMessage, MESSAGE_FORMATS } from '../../dist/intake/publisher.js';
import { requestIdOf } from '../../dist/build-request.js';

const ATTRIBUTES = { type: 'dev.kjl.build.requested', source: 'urn:kjl:bench' };

/** A valid build request, unique per (scope, i); parser ids start with `bench-` (the kubelet rule). */
export function benchRequest(scope, i) {
  return {
    thirdPartyId: `t${i % 37}`,
    parserId: `bench-${scope}-${i}`,
    contentHash: (0x10000000 + i * 7919).toString(16),
  };
}

/** One SQS message for `request`, in the format `i` picks (structured, binary, plain in turn). */
export function validMessage(request, i, eventId = `${request.parserId}-${i}`) {
  return buildRequestMessage(request, MESSAGE_FORMATS[i % MESSAGE_FORMATS.length], ATTRIBUTES, eventId);
}

export const requestId = (request) => requestIdOf(request);

const base = { thirdPartyId: 'bad', parserId: 'p', contentHash: 'abcdef0123' };
const structured = (data, type = ATTRIBUTES.type) =>
  JSON.stringify({ specversion: '1.0', id: `bad-${data.parserId ?? 'x'}`, source: 'urn:x', type, data });

/** Messages the intake must dead-letter, one kind after another: the code each must get. */
const INVALID = [
  { code: 'KJL_MALFORMED_JSON', make: (i) => ({ MessageBody: `{"thirdPartyId": "x${i}", ` }) },
  {
    code: 'KJL_UNEXPECTED_EVENT_TYPE',
    make: (i) => ({ MessageBody: structured({ ...base, parserId: `p${i}` }, 'com.example.other') }),
  },
  {
    code: 'KJL_INVALID_REQUEST',
    make: (i) => ({ MessageBody: JSON.stringify({ thirdPartyId: `x${i}`, parserId: 'p' }) }),
  },
  {
    code: 'KJL_UNSAFE_VALUE',
    make: (i) => ({ MessageBody: JSON.stringify({ ...base, parserId: `../../etc/passwd${i}` }) }),
  },
  {
    code: 'KJL_OVERSIZED',
    make: (i) => ({
      MessageBody: structured({ ...base, parserId: `p${i}`, env: { BIG: 'x'.repeat(5000) } }),
    }),
  },
];

/** The i-th invalid message and the dead-letter code it must carry. */
export function invalidMessage(i) {
  const kind = INVALID[i % INVALID.length];
  return { code: kind.code, message: kind.make(i) };
}
