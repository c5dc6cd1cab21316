#!/usr/bin/env bash
# Creates what kjl needs in LocalStack (docker-compose.yml): LocalStack runs every script in
# /etc/localstack/init/ready.d once SQS, SNS and S3 are up, with `awslocal` at hand.
#
#   builds         the queue build requests arrive on (KJL_SQS_QUEUE_URL); its redrive policy moves
#                  a message received MAX_RECEIVE_COUNT (5) times without being deleted to builds-dlq:
#                  kjl deletes every message it takes into Redis and dead-letters the invalid ones
#                  itself, so only a message kjl could never handle (Redis away for longer than
#                  5 visibility timeouts, a DLQ that refused it) ends up there that way
#   builds-dlq     the dead-letter queue (KJL_SQS_DLQ_URL), kept 14 days
#   build-events   an SNS topic (KJL_EVENTS_SINK) and a queue subscribed to it (raw delivery), to
#                  read the build events from
#   kjl-build-contexts  the S3 bucket of the build contexts (KJL_BUILD_CONTEXT_BUCKET)
#
# Anywhere else (another SQS/SNS/S3-compatible server, the tests): AWS_ENDPOINT_URL=http://host:port,
# with the aws CLI and any credentials. Running it again changes nothing.
set -euo pipefail

REGION="${AWS_DEFAULT_REGION:-us-east-1}"
MAX_RECEIVE_COUNT=5
BUCKET="${KJL_BUILD_CONTEXT_BUCKET:-kjl-build-contexts}"

aws_local() {
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    aws --endpoint-url "$AWS_ENDPOINT_URL" --region "$REGION" --output text "$@"
  else
    awslocal --region "$REGION" --output text "$@"
  fi
}

queue_arn() {
  aws_local sqs get-queue-attributes --queue-url "$1" --attribute-names QueueArn --query Attributes.QueueArn
}

dlq_url="$(aws_local sqs create-queue --queue-name builds-dlq \
  --attributes MessageRetentionPeriod=1209600 --query QueueUrl)"
dlq_arn="$(queue_arn "$dlq_url")"
redrive_policy="{\\\"deadLetterTargetArn\\\":\\\"${dlq_arn}\\\",\\\"maxReceiveCount\\\":\\\"${MAX_RECEIVE_COUNT}\\\"}"
builds_url="$(aws_local sqs create-queue --queue-name builds \
  --attributes "{\"VisibilityTimeout\":\"60\",\"RedrivePolicy\":\"${redrive_policy}\"}" --query QueueUrl)"

events_url="$(aws_local sqs create-queue --queue-name build-events --query QueueUrl)"
topic_arn="$(aws_local sns create-topic --name build-events --query TopicArn)"
aws_local sns subscribe --topic-arn "$topic_arn" --protocol sqs \
  --notification-endpoint "$(queue_arn "$events_url")" \
  --attributes RawMessageDelivery=true --query SubscriptionArn >/dev/null

if ! aws_local s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  aws_local s3api create-bucket --bucket "$BUCKET" >/dev/null
fi

echo "kjl: queues ${builds_url} (redrive to builds-dlq after ${MAX_RECEIVE_COUNT} receives), ${dlq_url}, ${events_url}; topic ${topic_arn}; bucket ${BUCKET}"
