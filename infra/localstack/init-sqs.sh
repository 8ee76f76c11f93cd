#!/usr/bin/env bash
# LocalStack "ready" hook (mounted into /etc/localstack/init/ready.d): creates the Vigil ingest
# queue and its dead-letter queue, mirroring production (infra/aws/README.md).
#   vigil-events-dlq  retention 14 days
#   vigil-events      standard, VisibilityTimeout 60, RedrivePolicy -> DLQ after maxReceiveCount 5
set -euo pipefail

QUEUE_NAME=vigil-events
DLQ_NAME=vigil-events-dlq
MAX_RECEIVE_COUNT=5

awslocal sqs create-queue --queue-name "$DLQ_NAME" \
  --attributes MessageRetentionPeriod=1209600 >/dev/null

dlq_url=$(awslocal sqs get-queue-url --queue-name "$DLQ_NAME" --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" \
  --attribute-names QueueArn --query Attributes.QueueArn --output text)

# RedrivePolicy is a JSON document carried as a string attribute, hence the escaped quotes.
attributes=$(mktemp)
trap 'rm -f "$attributes"' EXIT
cat >"$attributes" <<JSON
{
  "VisibilityTimeout": "60",
  "RedrivePolicy": "{\"deadLetterTargetArn\":\"${dlq_arn}\",\"maxReceiveCount\":\"${MAX_RECEIVE_COUNT}\"}"
}
JSON
awslocal sqs create-queue --queue-name "$QUEUE_NAME" --attributes "file://$attributes" >/dev/null

echo "vigil: created SQS queue $QUEUE_NAME with dead-letter queue $DLQ_NAME ($dlq_arn)"

# The deployment's default archive bucket (ARCHIVE_S3_BUCKET).
awslocal s3 mb s3://vigil-archive >/dev/null 2>&1 || true
echo "vigil: archive bucket vigil-archive ready"
