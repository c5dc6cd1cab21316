import { SQSClient } from '@aws-sdk/client-sqs';
import { awsClientSettings, type AwsEndpoint } from '../aws.js';

/** The SQS client of an endpoint: AWS, or a compatible one (LocalStack, fauxqs). */
export function createSqsClient(endpoint: AwsEndpoint): SQSClient {
  return new SQSClient(awsClientSettings(endpoint));
}
