import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { HTTP, type CloudEvent } from 'cloudevents';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { ConfigError, EventSinkError } from '../../src/errors.js';
import { buildEvent, type BuildEventData } from '../../src/events/build-events.js';
import { createEventSink, type EventSink, type EventSinkDeps } from '../../src/events/event-sink.js';
import { parseSinkTarget } from '../../src/config/sink-target.js';
import { createLogger } from '../../src/logger.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const region = 'us-east-1';
const logger = createLogger({ level: 'silent' });

const target = { thirdPartyId: 'acme', parserId: 'invoice-parser', contentHash: 'deadbeefcafe0001' };
const requestId = requestIdOf(target);

function failedEvent(attempt = 1): CloudEvent<BuildEventData> {
  return buildEvent(
    {
      ...target,
      requestId,
      attempt,
      phase: 'failed',
      jobName: 'build-acme-invoice-parser-deadbeef',
      reason: 'OOMKilled',
      message: 'OOMKilled (exit 137) in container kaniko',
      exitCode: 137,
      retryable: false,
      willRetry: false,
      startedAt: Date.now() - 30_000,
    },
    { source: 'kjl/builds' },
  );
}

/** Records the waits instead of sleeping them. */
function recordingDelay(): { delays: number[]; delay: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return { delays, delay: async (ms) => void delays.push(ms) };
}

const sinks: EventSink[] = [];
function sinkFor(sinkTarget: string | undefined, deps: Partial<EventSinkDeps> = {}): EventSink {
  const sink = createEventSink(parseSinkTarget(sinkTarget, deps.endpoint), {
    region,
    logger,
    credentials,
    ...deps,
  });
  sinks.push(sink);
  return sink;
}
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((sink) => sink.close()));
});

function structured(message: Message): Record<string, unknown> {
  return JSON.parse(message.Body!) as Record<string, unknown>;
}

describe('SQS and SNS sinks against an SQS/SNS-compatible server', () => {
  let server: FauxqsServer;
  let sqs: SQSClient;

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false });
    sqs = new SQSClient({ region, endpoint: server.address, credentials });
  });
  afterAll(async () => {
    sqs?.destroy();
    await server?.stop();
  });

  async function receiveOne(queueUrl: string): Promise<Message> {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
        MessageAttributeNames: ['All'],
      }),
    );
    expect(Messages).toHaveLength(1);
    return Messages![0]!;
  }

  function attributesOf(message: Message): Record<string, string | undefined> {
    return Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue]),
    );
  }

  it('SQS: the queue receives the structured CloudEvent and ce-* attributes to filter on', async () => {
    const { queueUrl } = server.createQueue(`build-events-${randomUUID()}`);
    const sink = sinkFor(queueUrl, { endpoint: server.address });
    expect(sink.description).toBe(`sqs ${queueUrl}`);
    const event = failedEvent();

    await sink.send(event);

    const message = await receiveOne(queueUrl);
    expect(structured(message)).toEqual({
      specversion: '1.0',
      id: `${requestId}-1-failed`,
      type: 'dev.kjl.build.failed',
      source: 'kjl/builds',
      subject: 'acme/invoice-parser',
      time: event.time,
      datacontenttype: 'application/json',
      data: {
        requestId,
        thirdPartyId: 'acme',
        parserId: 'invoice-parser',
        contentHash: 'deadbeefcafe0001',
        attempt: 1,
        message: 'OOMKilled (exit 137) in container kaniko',
        jobName: 'build-acme-invoice-parser-deadbeef',
        reason: 'OOMKilled',
        exitCode: 137,
        retryable: false,
        willRetry: false,
        durationMs: event.data!.durationMs,
      },
    });
    expect(event.data!.durationMs).toBeGreaterThanOrEqual(30_000);
    expect(attributesOf(message)).toEqual({
      'ce-type': 'dev.kjl.build.failed',
      'ce-id': `${requestId}-1-failed`,
      'ce-source': 'kjl/builds',
      'ce-subject': 'acme/invoice-parser',
    });
  });

  it('SQS: a queue URL on the configured endpoint (LocalStack, fauxqs form) is an SQS sink', async () => {
    const name = `build-events-${randomUUID()}`;
    server.createQueue(name);
    const queueUrl = `${server.address}/000000000000/${name}`;
    const sink = sinkFor(queueUrl, { endpoint: server.address });
    expect(sink.description).toBe(`sqs ${queueUrl}`);

    await sink.send(failedEvent(2));

    const message = await receiveOne(queueUrl);
    expect(structured(message)).toMatchObject({ id: `${requestId}-2-failed`, data: { attempt: 2 } });
  });

  it('SQS: a queue that does not exist fails at once, naming the sink and the event', async () => {
    const queueUrl = `${server.address}/000000000000/no-such-queue-${randomUUID()}`;
    const { delays, delay } = recordingDelay();
    const sink = sinkFor(queueUrl, { endpoint: server.address, delay });

    const error = await sink.send(failedEvent()).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(EventSinkError);
    expect((error as EventSinkError).code).toBe('KJL_EVENT_SINK_FAILED');
    expect((error as Error).message).toContain(`sqs ${queueUrl}`);
    expect((error as Error).message).toContain(`${requestId}-1-failed`);
    expect((error as Error).message).toContain('after 1 attempt (not retryable)');
    expect(delays).toEqual([]);
  });

  it('SNS with raw delivery: the subscribed queue receives the CloudEvent itself, with its attributes', async () => {
    const queueName = `build-events-${randomUUID()}`;
    const { queueUrl } = server.createQueue(queueName);
    const { topicArn } = server.createTopic(`builds-${randomUUID()}`);
    server.subscribe({
      topic: topicArn.split(':').at(-1)!,
      queue: queueName,
      attributes: { RawMessageDelivery: 'true' },
    });
    const sink = sinkFor(topicArn, { endpoint: server.address });
    expect(sink.description).toBe(`sns ${topicArn}`);
    const event = failedEvent();

    await sink.send(event);

    const message = await receiveOne(queueUrl);
    expect(structured(message)).toEqual(JSON.parse(JSON.stringify(event)));
    expect(attributesOf(message)).toMatchObject({
      'ce-type': 'dev.kjl.build.failed',
      'ce-id': event.id,
      'ce-source': 'kjl/builds',
      'ce-subject': 'acme/invoice-parser',
    });
  });

  it('SNS without raw delivery: the CloudEvent is the Message of the notification envelope', async () => {
    const queueName = `build-events-${randomUUID()}`;
    const { queueUrl } = server.createQueue(queueName);
    const topicName = `builds-${randomUUID()}`;
    const { topicArn } = server.createTopic(topicName);
    server.subscribe({ topic: topicName, queue: queueName });
    const event = failedEvent(3);

    await sinkFor(topicArn, { endpoint: server.address }).send(event);

    const envelope = structured(await receiveOne(queueUrl)) as {
      Type: string;
      TopicArn: string;
      Message: string;
      MessageAttributes: Record<string, { Type: string; Value: string }>;
    };
    expect(envelope.Type).toBe('Notification');
    expect(envelope.TopicArn).toBe(topicArn);
    expect(JSON.parse(envelope.Message)).toMatchObject({
      specversion: '1.0',
      id: `${requestId}-3-failed`,
      type: 'dev.kjl.build.failed',
      data: { attempt: 3, reason: 'OOMKilled' },
    });
    expect(envelope.MessageAttributes['ce-type']).toEqual({ Type: 'String', Value: 'dev.kjl.build.failed' });
    expect(envelope.MessageAttributes['ce-id']).toEqual({ Type: 'String', Value: event.id });
  });
});

describe('SQS sink with the endpoint down', () => {
  it('retries with exponential backoff, then fails naming the sink and the event', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const queueUrl = `${endpoint}/000000000000/build-events`;
    const { delays, delay } = recordingDelay();
    const sink = sinkFor(queueUrl, { endpoint, delay });

    const error = await sink.send(failedEvent()).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(EventSinkError);
    expect((error as Error).message).toMatch(
      new RegExp(`^sqs ${queueUrl}: could not deliver event ${requestId}-1-failed .* after 4 attempts`),
    );
    expect(delays).toEqual([200, 400, 800]);
  });
});

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('HTTP sink against a local CloudEvents receiver', () => {
  let server: Server;
  let url: string;
  let received: Received[];
  /** statuses to answer with, in order; then 202. `hang` never answers. */
  let script: (number | 'hang')[];

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const next = script.shift() ?? 202;
        if (next === 'hang') return;
        response.writeHead(next, { 'content-type': 'text/plain' });
        response.end(next >= 400 ? `broker says ${next}` : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/default/kjl-broker`;
  });
  afterEach(() => {
    received = [];
    script = [];
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });
  received = [];
  script = [];

  it('POSTs the event in structured mode; the receiver reads the same CloudEvent', async () => {
    const sink = sinkFor(url);
    expect(sink.description).toBe(`http ${url}`);
    const event = failedEvent();

    await sink.send(event);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/default/kjl-broker');
    expect(request!.headers['content-type']).toMatch(/^application\/cloudevents\+json/);
    const parsed = HTTP.toEvent({
      headers: request!.headers,
      body: request!.body,
    }) as CloudEvent<BuildEventData>;
    expect(parsed.id).toBe(`${requestId}-1-failed`);
    expect(parsed.type).toBe('dev.kjl.build.failed');
    expect(parsed.source).toBe('kjl/builds');
    expect(parsed.subject).toBe('acme/invoice-parser');
    expect(parsed.time).toBe(event.time);
    expect(parsed.data).toEqual(event.data);
  });

  it('retries on 503 with backoff and succeeds; every try carries the same event id', async () => {
    script = [503, 503];
    const { delays, delay } = recordingDelay();

    await sinkFor(url, { delay }).send(failedEvent());

    expect(received).toHaveLength(3);
    expect(new Set(received.map((request) => JSON.parse(request.body).id))).toEqual(
      new Set([`${requestId}-1-failed`]),
    );
    expect(delays).toEqual([200, 400]);
  });

  it('fails for good after its retries, naming the sink, the event and the status', async () => {
    script = [500, 500, 500, 500, 500];
    const { delays, delay } = recordingDelay();

    const error = await sinkFor(url, { delay })
      .send(failedEvent())
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(EventSinkError);
    expect((error as EventSinkError).message).toBe(
      `http ${url}: could not deliver event ${requestId}-1-failed (dev.kjl.build.failed) after 4 attempts: ` +
        'HTTP 500 Internal Server Error: broker says 500',
    );
    expect((error as EventSinkError).context).toMatchObject({
      sink: `http ${url}`,
      eventId: `${requestId}-1-failed`,
      attempts: 4,
      status: 500,
    });
    expect(received).toHaveLength(4);
    expect(delays).toEqual([200, 400, 800]);
  });

  it('does not retry a 400: the receiver rejected the event', async () => {
    script = [400];
    const { delays, delay } = recordingDelay();

    const error = await sinkFor(url, { delay })
      .send(failedEvent())
      .catch((caught: unknown) => caught);

    expect((error as EventSinkError).message).toContain(
      'after 1 attempt (not retryable): HTTP 400 Bad Request',
    );
    expect(received).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('gives up on a receiver that does not answer within the timeout, and tries again', async () => {
    script = ['hang', 'hang'];
    const { delay } = recordingDelay();

    const error = await sinkFor(url, { delay, timeoutMs: 200, retry: { attempts: 2 } })
      .send(failedEvent())
      .catch((caught: unknown) => caught);

    expect((error as EventSinkError).message).toContain('after 2 attempts: no response within 200 ms');
    expect(received).toHaveLength(2);
  });

  it('a closed sink refuses to send', async () => {
    const sink = sinkFor(url);
    await sink.close();
    await expect(sink.send(failedEvent())).rejects.toThrow(/closed/);
    expect(received).toHaveLength(0);
  });
});

describe('choosing the sink from KJL_EVENTS_SINK', () => {
  it('unset or blank: a no-op sink', async () => {
    for (const value of [undefined, '', '   ']) {
      const sink = sinkFor(value);
      expect(sink.description).toBe('none');
      await expect(sink.send(failedEvent())).resolves.toBeUndefined();
    }
  });

  it('recognises AWS queue URLs, SNS topic ARNs and other http(s) URLs', () => {
    expect(parseSinkTarget('https://sqs.eu-west-1.amazonaws.com/123456789012/build-events')).toEqual({
      kind: 'sqs',
      queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/build-events',
    });
    expect(parseSinkTarget('https://eu-west-1.queue.amazonaws.com/123456789012/build-events').kind).toBe(
      'sqs',
    );
    expect(parseSinkTarget('arn:aws:sns:eu-west-1:123456789012:build-events')).toEqual({
      kind: 'sns',
      topicArn: 'arn:aws:sns:eu-west-1:123456789012:build-events',
      region: 'eu-west-1',
    });
    expect(
      parseSinkTarget('http://broker-ingress.knative-eventing.svc.cluster.local/builds/default').kind,
    ).toBe('http');
    // the SQS endpoint's origin makes a URL an SQS one; another port on the same host does not
    expect(parseSinkTarget('http://127.0.0.1:4566/000000000000/q', 'http://127.0.0.1:4566').kind).toBe('sqs');
    expect(parseSinkTarget('http://127.0.0.1:8080/events', 'http://127.0.0.1:4566').kind).toBe('http');
  });

  it.each([
    ['build-events', /none of: an SQS queue URL, an SNS topic ARN/],
    ['ftp://example.com/events', /none of/],
    ['arn:aws:sqs:us-east-1:123456789012:build-events', /an ARN but not an SNS topic's/],
    ['arn:aws:sns:us-east-1:build-events', /not an SNS topic ARN/],
    ['https://sqs.us-east-1.amazonaws.com/', /not a queue URL/],
  ])('%s: a configuration error naming KJL_EVENTS_SINK', (value, reason) => {
    let error: unknown;
    try {
      parseSinkTarget(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toHaveLength(1);
    expect((error as ConfigError).issues[0]!.variable).toBe('KJL_EVENTS_SINK');
    expect((error as ConfigError).issues[0]!.message).toMatch(reason);
    expect((error as ConfigError).message).toContain('KJL_EVENTS_SINK: ');
  });
});
