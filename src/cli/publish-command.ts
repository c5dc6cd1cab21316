import type { SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { buildRequestSchema, requestIdOf } from '../build-request.js';
import { loadConfigFromEnvironment } from '../config/config.js';
import { InvalidMessageError, UsageError } from '../errors.js';
import { parseMessage } from '../intake/parse-message.js';
import {
  buildRequestMessage,
  MESSAGE_FORMATS,
  sendMessages,
  type MessageFormat,
} from '../intake/publisher.js';
import { createSqsClient } from '../intake/sqs-client.js';
import { readDevState } from './dev-state.js';
import { requestLimits } from './runtime.js';

interface PublishOptions {
  thirdPartyId?: string;
  parserId?: string;
  contentHash?: string;
  template?: string;
  file?: string;
  format: MessageFormat;
  queueUrl?: string;
  endpoint?: string;
  region?: string;
  count: string;
  source: string;
}

const FLAG_OF_FIELD: Record<string, string> = {
  thirdPartyId: '--third-party-id',
  parserId: '--parser-id',
  contentHash: '--content-hash',
  template: '--template',
};

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new UsageError(`${flag}: must be a whole number from 1 to 100000 (got "${value}")`);
  return n;
}

/** The build requests the flags describe: one, or `--count` with generated parser ids and hashes. */
function requestsFromFlags(options: PublishOptions, count: number): Record<string, string>[] {
  if (count === 1) {
    const missing = (['thirdPartyId', 'parserId', 'contentHash'] as const).filter((key) => !options[key]);
    if (missing.length) {
      throw new UsageError(
        `missing ${missing.map((key) => FLAG_OF_FIELD[key]).join(', ')} (or give --file event.json)`,
      );
    }
  }
  return Array.from({ length: count }, (_, i) => ({
    thirdPartyId: options.thirdPartyId ?? 'load',
    parserId: count === 1 ? options.parserId! : `${options.parserId ?? 'parser'}-${i + 1}`,
    contentHash:
      count === 1 || !options.contentHash
        ? (options.contentHash ?? randomBytes(8).toString('hex'))
        : `${options.contentHash}${i.toString(16)}`,
    ...(options.template ? { template: options.template } : {}),
  }));
}

/** `kjl publish`: sends build requests to the SQS queue, checked first as the intake will check them. */
export function publishCommand(): Command {
  return new Command('publish')
    .description('send a build request to the SQS queue')
    .option('--third-party-id <id>', 'the tenant the build is for')
    .option('--parser-id <id>', 'the parser (image) to build')
    .option('--content-hash <hex>', 'hash of the build context (8+ hex characters)')
    .option('--template <name>', 'Job template from the allowlist (default kaniko)')
    .option('--file <event.json>', 'send this file (a CloudEvent or a plain build request) as it is')
    .addOption(
      new Option('--format <format>', 'message format').choices(MESSAGE_FORMATS).default('structured'),
    )
    .option('--queue-url <url>', 'SQS queue (default KJL_SQS_QUEUE_URL, else the running `kjl dev`)')
    .option(
      '--endpoint <url>',
      'SQS-compatible endpoint (default KJL_SQS_ENDPOINT, else the running `kjl dev`)',
    )
    .option('--region <region>', 'AWS region (default AWS_REGION)')
    .option('--count <n>', 'send n requests with generated parser ids and hashes (load)', '1')
    .option('--source <uri>', 'CloudEvent source', 'kjl/cli')
    .action(async (options: PublishOptions) => {
      const config = loadConfigFromEnvironment();
      const dev = await readDevState();
      const queueUrl = options.queueUrl ?? config.sqs.queueUrl ?? dev?.queueUrl;
      if (!queueUrl)
        throw new UsageError(
          '--queue-url: no queue given (nor KJL_SQS_QUEUE_URL, nor a running `kjl dev` here)',
        );
      const endpoint =
        options.endpoint ?? config.sqs.endpoint ?? (queueUrl === dev?.queueUrl ? dev.sqsEndpoint : undefined);
      const count = positiveInt(options.count, '--count');
      const attributes = { type: config.intake.eventType, source: options.source };
      const limits = requestLimits(config);
      let entries: { message: Omit<SendMessageBatchRequestEntry, 'Id'>; requestId?: string }[];
      if (options.file) {
        const body = await readFile(options.file, 'utf8').catch((error: Error) => {
          throw new UsageError(`--file: cannot read ${options.file}: ${error.message}`);
        });
        try {
          parseMessage({ Body: body }, { eventType: attributes.type, wrapSource: attributes.source, limits });
        } catch (error) {
          if (error instanceof InvalidMessageError)
            throw new UsageError(`--file ${options.file}: ${error.message} [${error.code}]`);
          throw error;
        }
        entries = Array.from({ length: count }, () => ({ message: { MessageBody: body } }));
      } else {
        const schema = buildRequestSchema(limits);
        entries = requestsFromFlags(options, count).map((request) => {
          const checked = schema.safeParse(request);
          if (!checked.success) {
            const field = String(checked.error.issues[0]!.path[0]);
            throw new UsageError(
              `${FLAG_OF_FIELD[field] ?? field}: ${checked.error.issues[0]!.message} (got ${JSON.stringify(request[field])})`,
            );
          }
          return {
            message: buildRequestMessage(request, options.format, attributes),
            requestId: requestIdOf(checked.data),
          };
        });
      }
      const sqs = createSqsClient({ region: options.region ?? config.sqs.region, endpoint });
      const ids = await sendMessages(
        sqs,
        queueUrl,
        entries.map((entry) => entry.message),
      );
      if (count === 1) {
        const { requestId } = entries[0]!;
        console.log(`sent message ${ids[0]}${requestId ? ` (request ${requestId})` : ''} to ${queueUrl}`);
      } else {
        console.log(`sent ${ids.length} messages to ${queueUrl}`);
      }
      sqs.destroy();
    });
}
