import { buildRequestMessage, MESSAGE_FORMATS } from '../../dist/intake/publisher.js';

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
