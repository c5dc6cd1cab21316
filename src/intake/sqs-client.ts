import { SQSClient } from '@aws-sdk/client-sqs';

export interface SqsClientOptions {
  region: string;
  /** SQS-compatible endpoint (LocalStack, fauxqs); those accept any credentials */
  endpoint?: string;
}

/** The SQS client: AWS's default credential chain, or placeholder credentials for a local endpoint. */
export function createSqsClient(options: SqsClientOptions): SQSClient {
  return new SQSClient({
    region: options.region,
    ...(options.endpoint
      ? {
          endpoint: options.endpoint,
          credentials: { accessKeyId: 'kjl-local', secretAccessKey: 'kjl-local' },
        }
      : {}),
  });
}
