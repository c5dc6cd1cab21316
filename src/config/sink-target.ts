import { ConfigError } from '../errors.js';

/** The sink named by `KJL_EVENTS_SINK`. */
export type SinkTarget =
  | { kind: 'none' }
  | { kind: 'sqs'; queueUrl: string }
  | { kind: 'sns'; topicArn: string; region: string }
  | { kind: 'http'; url: string };

const SNS_TOPIC_ARN = /^arn:aws(-[a-z]+)*:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

function invalidTarget(message: string): ConfigError {
  return new ConfigError([{ variable: 'KJL_EVENTS_SINK', message }]);
}

function isSqsUrl(url: URL, sqsEndpoint: string | undefined): boolean {
  if (/(^|\.)sqs\./.test(url.hostname) || /(^|\.)queue\.amazonaws\.com(\.cn)?$/.test(url.hostname))
    return true;
  return sqsEndpoint !== undefined && URL.canParse(sqsEndpoint) && new URL(sqsEndpoint).origin === url.origin;
}

/**
 * Reads `KJL_EVENTS_SINK`: unset or blank → none; `arn:aws:sns:<region>:<account>:<topic>` → SNS;
 * an http(s) URL whose host is an SQS one (`sqs.…`, `….queue.amazonaws.com`) or whose origin is the
 * configured SQS endpoint's (LocalStack, fauxqs: `http://127.0.0.1:4566/000000000000/build-events`)
 * → SQS; any other http(s) URL → HTTP. Anything else is a `ConfigError` naming `KJL_EVENTS_SINK`.
 */
export function parseSinkTarget(target: string | undefined, sqsEndpoint?: string): SinkTarget {
  const value = target?.trim();
  if (!value) return { kind: 'none' };
  if (value.startsWith('arn:')) {
    const match = SNS_TOPIC_ARN.exec(value);
    if (match) return { kind: 'sns', topicArn: value, region: match[2]! };
    if (/^arn:[^:]*:sns:/.test(value)) {
      throw invalidTarget(`"${value}" is not an SNS topic ARN (arn:aws:sns:<region>:<account-id>:<topic>)`);
    }
    throw invalidTarget(
      `"${value}" is an ARN but not an SNS topic's; an SQS queue is given by its URL, an SNS topic by its ARN`,
    );
  }
  if (URL.canParse(value)) {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      if (!isSqsUrl(url, sqsEndpoint)) return { kind: 'http', url: value };
      if (!/^\/[^/]+\/[^/]+\/?$/.test(url.pathname)) {
        throw invalidTarget(
          `"${value}" looks like an SQS URL but is not a queue URL (…/<account-id>/<queue-name>)`,
        );
      }
      return { kind: 'sqs', queueUrl: value };
    }
  }
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  throw invalidTarget(
    `"${shown}" is none of: an SQS queue URL, an SNS topic ARN (arn:aws:sns:…), an http(s) URL`,
  );
}
