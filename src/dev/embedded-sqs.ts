import { startFauxqs, type FauxqsServer } from 'fauxqs';

/** The queues `kjl dev` and the tests work with. */
export interface DevQueues {
  builds: string;
  buildsDlq: string;
  buildEvents: string;
}

export interface EmbeddedSqs {
  endpoint: string;
  queues: DevQueues;
  server: FauxqsServer;
  stop(): Promise<void>;
}

export const DEV_REGION = 'us-east-1';
/** The redrive policy's maxReceiveCount of the `builds` queue. */
export const MAX_RECEIVE_COUNT = 5;

/**
 * An in-process SQS-compatible server (fauxqs) with the queues `builds`, `builds-dlq` (as the redrive
 * target of `builds`, maxReceiveCount 5) and `build-events`. Queue names get `prefix` in tests.
 */
export async function startEmbeddedSqs(
  options: { port?: number; prefix?: string } = {},
): Promise<EmbeddedSqs> {
  const server = await startFauxqs({
    port: options.port ?? 0,
    logger: false,
    defaultRegion: DEV_REGION,
  });
  const name = (base: string) => `${options.prefix ?? ''}${base}`;
  const dlq = server.createQueue(name('builds-dlq'));
  const builds = server.createQueue(name('builds'), {
    attributes: {
      VisibilityTimeout: '60',
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlq.queueArn,
        maxReceiveCount: MAX_RECEIVE_COUNT,
      }),
    },
  });
  const events = server.createQueue(name('build-events'));
  return {
    endpoint: server.address,
    queues: { builds: builds.queueUrl, buildsDlq: dlq.queueUrl, buildEvents: events.queueUrl },
    server,
    stop: () => server.stop(),
  };
}
