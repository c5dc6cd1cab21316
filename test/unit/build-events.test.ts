import { HTTP, ValidationError, type CloudEvent } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import {
  BUILD_EVENT_TYPES,
  buildEvent,
  buildEventId,
  defaultEventSource,
  filterAttributes,
  phaseOf,
  toStructuredJson,
} from '../../src/events/build-events.js';
import type { BuildIdentity, BuildNotice, BuildPhase } from '../../src/build-notice.js';

const NOW = Date.parse('2025-03-04T05:06:07.890Z');
const clock = { now: () => NOW };
const options = { source: defaultEventSource('builds'), clock };
const target = { thirdPartyId: 'acme', parserId: 'invoice-parser', contentHash: 'deadbeefcafe0001' };
const build: BuildIdentity = { ...target, requestId: requestIdOf(target), attempt: 1 };
const IMAGE = 'registry.local:5000/parsers:acme-invoice-parser-deadbeef';

const inputs: Record<BuildPhase, BuildNotice> = {
  queued: { ...build, phase: 'queued', queuePosition: 3 },
  started: {
    ...build,
    phase: 'started',
    jobName: 'build-acme-invoice-parser-deadbeef',
    image: IMAGE,
    adopted: false,
    sentAt: NOW - 1_000,
    createdAt: NOW - 990,
  },
  succeeded: {
    ...build,
    phase: 'succeeded',
    jobName: 'build-acme-invoice-parser-deadbeef',
    image: IMAGE,
    startedAt: NOW - 95_000,
  },
  failed: {
    ...build,
    phase: 'failed',
    jobName: 'build-acme-invoice-parser-deadbeef',
    image: IMAGE,
    startedAt: new Date(NOW - 42_000),
    finishedAt: new Date(NOW - 2_000),
    reason: 'OOMKilled',
    message: 'container executor was killed: out of memory (limit 2Gi)',
    exitCode: 137,
    retryable: false,
    willRetry: false,
  },
  cancelled: { ...build, phase: 'cancelled', reason: 'Cancelled', message: 'cancelled by admin' },
};

/** What a consumer reads: the structured JSON parsed back. */
function received(event: CloudEvent<unknown>): Record<string, unknown> {
  return JSON.parse(toStructuredJson(event as never)) as Record<string, unknown>;
}

describe('buildEvent', () => {
  it.each(Object.keys(inputs) as BuildPhase[])('%s: a CloudEvent 1.0 with the common attributes', (phase) => {
    const json = received(buildEvent(inputs[phase], options));
    expect(json).toMatchObject({
      specversion: '1.0',
      type: `dev.kjl.build.${phase}`,
      source: 'kjl/builds',
      subject: 'acme/invoice-parser',
      id: `${build.requestId}-1-${phase}`,
      time: '2025-03-04T05:06:07.890Z',
      datacontenttype: 'application/json',
    });
    expect(json.data).toMatchObject({
      requestId: build.requestId,
      thirdPartyId: 'acme',
      parserId: 'invoice-parser',
      contentHash: 'deadbeefcafe0001',
      attempt: 1,
    });
  });

  it('queued: carries the queue position and nothing about a Job', () => {
    expect(received(buildEvent(inputs.queued, options)).data).toEqual({
      requestId: build.requestId,
      thirdPartyId: 'acme',
      parserId: 'invoice-parser',
      contentHash: 'deadbeefcafe0001',
      attempt: 1,
      queuePosition: 3,
    });
  });

  it('started: carries the Job name and the image reference', () => {
    const data = buildEvent(inputs.started, options).data!;
    expect(data.jobName).toBe('build-acme-invoice-parser-deadbeef');
    expect(data.image).toBe(IMAGE);
    expect(data).not.toHaveProperty('durationMs');
    // the dispatch bookkeeping is for the metrics, not for consumers
    for (const field of ['adopted', 'sentAt', 'createdAt']) expect(data).not.toHaveProperty(field);
  });

  it('succeeded: duration from the start to the clock when no end is given', () => {
    const data = received(buildEvent(inputs.succeeded, options)).data as Record<string, unknown>;
    expect(data).toMatchObject({
      jobName: 'build-acme-invoice-parser-deadbeef',
      image: IMAGE,
      durationMs: 95_000,
    });
    expect(data).not.toHaveProperty('reason');
  });

  it('failed: reason, message, exit code, retry decision and duration from start to end', () => {
    expect(received(buildEvent(inputs.failed, options)).data).toEqual({
      requestId: build.requestId,
      thirdPartyId: 'acme',
      parserId: 'invoice-parser',
      contentHash: 'deadbeefcafe0001',
      attempt: 1,
      jobName: 'build-acme-invoice-parser-deadbeef',
      image: IMAGE,
      reason: 'OOMKilled',
      message: 'container executor was killed: out of memory (limit 2Gi)',
      exitCode: 137,
      retryable: false,
      willRetry: false,
      durationMs: 40_000,
    });
  });

  it('failed and retried: willRetry says so and the next attempt has its own ids', () => {
    const evicted: BuildNotice = {
      ...build,
      phase: 'failed',
      reason: 'Evicted',
      message: 'The node was low on resource: memory.',
      retryable: true,
      willRetry: true,
    };
    const data = buildEvent(evicted, options).data!;
    expect(data).toMatchObject({ reason: 'Evicted', retryable: true, willRetry: true });
    expect(buildEvent({ ...inputs.queued, attempt: 2 }, options).id).toBe(`${build.requestId}-2-queued`);
  });

  it('cancelled: reason and message, no Job needed', () => {
    const data = buildEvent(inputs.cancelled, options).data!;
    expect(data).toMatchObject({ reason: 'Cancelled', message: 'cancelled by admin' });
    expect(data).not.toHaveProperty('jobName');
  });

  it('takes a configured source and the clock for time', () => {
    const event = buildEvent(inputs.queued, {
      source: 'https://kjl.example.com/prod',
      clock: { now: () => 0 },
    });
    expect(event.source).toBe('https://kjl.example.com/prod');
    expect(event.time).toBe('1970-01-01T00:00:00.000Z');
  });

  it('never reports a negative duration (clock skew between the node and kjl)', () => {
    const event = buildEvent({ ...build, phase: 'succeeded', jobName: 'j', startedAt: NOW + 5_000 }, options);
    expect(event.data!.durationMs).toBe(0);
  });
});

describe('event ids', () => {
  it('are the same for the same request, attempt and type, whenever they are built', () => {
    const first = buildEvent(inputs.failed, options);
    const again = buildEvent(inputs.failed, { ...options, clock: { now: () => NOW + 60_000 } });
    expect(again.id).toBe(first.id);
    expect(again.time).not.toBe(first.time);
    expect(buildEventId(build.requestId, 1, 'failed')).toBe(first.id);
  });

  it('differ across attempts, types and requests', () => {
    const ids = new Set<string>();
    for (const phase of Object.keys(inputs) as BuildPhase[]) {
      for (const attempt of [1, 2, 3]) ids.add(buildEvent({ ...inputs[phase], attempt }, options).id);
    }
    expect(ids.size).toBe(15);
    const other = { ...target, contentHash: 'deadbeefcafe0002' };
    const otherEvent = buildEvent({ ...inputs.queued, ...other, requestId: requestIdOf(other) }, options);
    expect(ids.has(otherEvent.id)).toBe(false);
  });
});

describe('validation', () => {
  it('the CloudEvents SDK accepts every event, and an HTTP receiver reads it back unchanged', () => {
    for (const phase of Object.keys(inputs) as BuildPhase[]) {
      const event = buildEvent(inputs[phase], options);
      expect(event.validate()).toBe(true);
      const back = HTTP.toEvent(HTTP.structured(event)) as CloudEvent<unknown>;
      expect(back.id).toBe(event.id);
      expect(back.type).toBe(BUILD_EVENT_TYPES[phase]);
      expect(back.data).toEqual(event.data);
    }
  });

  it('rejects an empty source through the SDK', () => {
    expect(() => buildEvent(inputs.queued, { ...options, source: '' })).toThrow(ValidationError);
  });

  it('rejects an attempt that is not a positive integer', () => {
    expect(() => buildEvent({ ...inputs.queued, attempt: 0 }, options)).toThrow(
      /attempt must be a positive integer/,
    );
  });
});

describe('helpers', () => {
  it('filterAttributes: the ce-* attributes consumers filter on', () => {
    const event = buildEvent(inputs.started, options);
    expect(filterAttributes(event)).toEqual({
      'ce-type': 'dev.kjl.build.started',
      'ce-id': `${build.requestId}-1-started`,
      'ce-source': 'kjl/builds',
      'ce-subject': 'acme/invoice-parser',
    });
  });

  it('phaseOf maps a type back to its phase', () => {
    expect(phaseOf('dev.kjl.build.cancelled')).toBe('cancelled');
    expect(phaseOf('dev.kjl.build.requested')).toBeUndefined();
  });
});
