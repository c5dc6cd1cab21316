import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CliResult } from './cli.js';

/** Debian's awscli (the awscli package; scripts/env.sh installs it). */
export const AWS_CLI = '/usr/bin/aws';
/** The SQS API model it carries. */
const SQS_MODEL = '/usr/lib/python3/dist-packages/awscli/botocore/data/sqs/2012-11-05/service-2.json';

/** Drops what only the query protocol's wire format uses from an API model (names of flattened XML lists). */
function withoutQueryNames(node: unknown): void {
  if (Array.isArray(node)) node.forEach(withoutQueryNames);
  else if (node && typeof node === 'object') {
    const fields = node as Record<string, unknown>;
    for (const key of ['locationName', 'flattened', 'xmlNamespace', 'resultWrapper']) delete fields[key];
    Object.values(fields).forEach(withoutQueryNames);
  }
}

/**
 * The environment for running Debian's `aws` against an SQS/SNS/S3-compatible `endpoint` (fauxqs):
 * any credentials, the region, `AWS_ENDPOINT_URL` (which localstack/init/ready.d/ reads).
 *
 * Debian's awscli (2.9) sends SQS requests in the query protocol (form-encoded `Action=CreateQueue`);
 * AWS has since moved SQS to the JSON protocol (awscli 2.13 and later send `X-Amz-Target:
 * AmazonSQS.CreateQueue`), and fauxqs serves SQS in JSON only (a form-encoded request goes to its
 * SNS). When the CLI's own SQS model is the query one, it gets the same model in the JSON protocol
 * through AWS_DATA_PATH (written under `dir`): the same operations and shapes, the wire format AWS
 * uses today. SNS (query) and S3 (REST) are sent as the CLI sends them.
 */
export async function awsCliEnv(endpoint: string, dir: string): Promise<Record<string, string>> {
  await access(AWS_CLI).catch(() => {
    throw new Error(`${AWS_CLI} is missing: install the Debian package awscli (./scripts/test.sh does)`);
  });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
    AWS_PAGER: '',
  };
  const model = JSON.parse(await readFile(SQS_MODEL, 'utf8')) as {
    metadata: Record<string, unknown>;
    operations: unknown;
    shapes: unknown;
  };
  if (model.metadata.protocol !== 'query') return env;
  withoutQueryNames(model.operations);
  withoutQueryNames(model.shapes);
  delete model.metadata.xmlNamespace;
  Object.assign(model.metadata, { protocol: 'json', jsonVersion: '1.0', targetPrefix: 'AmazonSQS' });
  const models = join(dir, 'aws-models');
  await mkdir(join(models, 'sqs', '2012-11-05'), { recursive: true });
  await writeFile(join(models, 'sqs', '2012-11-05', 'service-2.json'), JSON.stringify(model));
  return { ...env, AWS_DATA_PATH: models };
}

/** Runs Debian's `aws` with `env` (from awsCliEnv) against its endpoint. */
export function aws(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCommand(AWS_CLI, ['--endpoint-url', env.AWS_ENDPOINT_URL!, '--output', 'json', ...args], { env });
}
