// The fauxqs SQS emulator and queue creation for the embedded run mode and the tests. Queues are
// created through the real SQS API, with the same redrive policy as LocalStack and AWS.
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";

export interface QueuePair {
  queueUrl: string;
  dlqUrl: string;
}

/** Starts fauxqs bound to loopback only (its own `startFauxqs` listens on every interface). */
export async function startSqsEmulator(
  port: number,
): Promise<{ endpoint: string; port: number; stop: () => Promise<void> }> {
  const app = buildApp({ logger: false });
  const address = await app.listen({ port, host: "127.0.0.1" });
  const actualPort = Number(new URL(address).port);
  return { endpoint: `http://127.0.0.1:${actualPort}`, port: actualPort, stop: () => app.close() };
}

export async function createEventQueues(
  endpoint: string,
  name: string,
  options: { maxReceiveCount?: number; visibilityTimeoutSeconds?: number; region?: string } = {},
): Promise<QueuePair> {
  const client = new SQSClient({
    region: options.region ?? "us-east-1",
    endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    const dlq = await client.send(
      new CreateQueueCommand({
        QueueName: `${name}-dlq`,
        Attributes: { MessageRetentionPeriod: String(14 * 86_400) },
      }),
    );
    const dlqArn = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }),
    );
    const queue = await client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 60),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlqArn.Attributes?.QueueArn,
            maxReceiveCount: options.maxReceiveCount ?? 5,
          }),
        },
      }),
    );
    return { queueUrl: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
  } finally {
    client.destroy();
  }
}
