// Thin wrapper over @aws-sdk/client-sqs for the event queue: publish (api), receive/delete/extend
// (worker), DLQ replay (cli). The same code talks to AWS, LocalStack and the fauxqs emulator.
import { randomUUID } from "node:crypto";
import {
  ChangeMessageVisibilityCommand,
  PurgeQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { VigilError } from "../errors/vigil-error.ts";
import type { NormalizedEvent } from "../events/event-schema.ts";
import { encodeEventMessages } from "./event-message.ts";

/** SQS's own limits: 10 entries per batch call, 1 MiB per message and per batch call. */
export const SQS_MAX_BATCH_ENTRIES = 10;
export const SQS_MAX_PAYLOAD_BYTES = 1024 * 1024;

export interface EventQueueOptions {
  queueUrl: string;
  dlqUrl?: string;
  region: string;
  endpoint?: string;
  maxMessageBytes?: number;
  /** Per-request timeout; a queue that does not answer must turn into a 503, not a hung client. */
  requestTimeoutMs?: number;
}

export class EventQueue {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly dlqUrl: string | undefined;
  private readonly maxMessageBytes: number;

  constructor(options: EventQueueOptions) {
    this.queueUrl = options.queueUrl;
    this.dlqUrl = options.dlqUrl;
    this.maxMessageBytes = options.maxMessageBytes ?? SQS_MAX_PAYLOAD_BYTES - 1024;
    this.client = new SQSClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      // Emulators accept any credentials; on AWS the default provider chain supplies real ones.
      ...(options.endpoint ? { credentials: { accessKeyId: "test", secretAccessKey: "test" } } : {}),
      maxAttempts: 2,
      requestHandler: { requestTimeout: options.requestTimeoutMs ?? 5000, connectionTimeout: 2000 },
    });
  }

  /**
   * Puts the events on the queue. Resolves only when every entry was accepted: SendMessageBatch can
   * answer HTTP 200 with per-entry failures, which are retried once and otherwise fail the request.
   */
  async publishEvents(events: NormalizedEvent[]): Promise<{ messages: number }> {
    const byTenant = new Map<string, NormalizedEvent[]>();
    for (const event of events) {
      const list = byTenant.get(event.tenant_id) ?? [];
      list.push(event);
      byTenant.set(event.tenant_id, list);
    }
    const bodies = [...byTenant].flatMap(([tenantId, list]) => encodeEventMessages(tenantId, list, this.maxMessageBytes));
    await this.sendBodies(bodies, this.queueUrl);
    return { messages: bodies.length };
  }

  async sendBodies(bodies: string[], queueUrl: string): Promise<void> {
    const calls: string[][] = [];
    let current: string[] = [];
    let currentBytes = 0;
    for (const body of bodies) {
      const bytes = Buffer.byteLength(body);
      if (current.length === SQS_MAX_BATCH_ENTRIES || (current.length > 0 && currentBytes + bytes > SQS_MAX_PAYLOAD_BYTES)) {
        calls.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(body);
      currentBytes += bytes;
    }
    if (current.length > 0) calls.push(current);
    await Promise.all(calls.map((call) => this.sendBatch(call, queueUrl)));
  }

  private async sendBatch(bodies: string[], queueUrl: string): Promise<void> {
    let entries = bodies.map((body) => ({ Id: randomUUID(), MessageBody: body }));
    for (let attempt = 1; entries.length > 0; attempt++) {
      let failedIds: Set<string>;
      try {
        const result = await this.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
        failedIds = new Set((result.Failed ?? []).map((failure) => failure.Id ?? ""));
        if (failedIds.size > 0 && (result.Failed ?? []).some((failure) => failure.SenderFault)) {
          throw new VigilError("QUEUE_UNAVAILABLE", "the queue rejected a message");
        }
      } catch (error) {
        if (error instanceof VigilError) throw error;
        throw new VigilError("QUEUE_UNAVAILABLE", "the event queue is unavailable; nothing was accepted, retry later", undefined, {
          "Retry-After": "5",
        });
      }
      entries = entries.filter((entry) => failedIds.has(entry.Id));
      if (entries.length > 0 && attempt >= 3) {
        throw new VigilError("QUEUE_UNAVAILABLE", "the event queue did not accept every message; retry later", undefined, {
          "Retry-After": "5",
        });
      }
    }
  }

  async receive(maxMessages: number, waitTimeSeconds: number, visibilityTimeout: number, abortSignal?: AbortSignal): Promise<Message[]> {
    const result = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(maxMessages, SQS_MAX_BATCH_ENTRIES),
        WaitTimeSeconds: waitTimeSeconds,
        VisibilityTimeout: visibilityTimeout,
        MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
      }),
      { abortSignal },
    );
    return result.Messages ?? [];
  }

  async deleteMessages(receiptHandles: string[], queueUrl = this.queueUrl): Promise<void> {
    for (let start = 0; start < receiptHandles.length; start += SQS_MAX_BATCH_ENTRIES) {
      const slice = receiptHandles.slice(start, start + SQS_MAX_BATCH_ENTRIES);
      const result = await this.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: slice.map((handle, index) => ({ Id: String(index), ReceiptHandle: handle })),
        }),
      );
      if (result.Failed?.length) throw new Error(`DeleteMessageBatch failed for ${result.Failed.length} entries`);
    }
  }

  async extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }),
    );
  }

  /** Approximate depth and age, for readiness and metrics. Throws when the queue is unreachable. */
  async depth(queueUrl = this.queueUrl): Promise<{ visible: number; inFlight: number }> {
    const result = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return {
      visible: Number(result.Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(result.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }

  /**
   * Moves every message of the dead-letter queue back to the main queue (after the cause was fixed).
   * Each message is re-sent before it is deleted from the DLQ, so a crash mid-way only duplicates,
   * and the worker's idempotency stores a duplicate once.
   */
  async replayDeadLetters(limit = Number.POSITIVE_INFINITY): Promise<number> {
    if (!this.dlqUrl) throw new Error("no dead-letter queue configured (SQS_DLQ_URL)");
    let moved = 0;
    while (moved < limit) {
      const result = await this.client.send(
        new ReceiveMessageCommand({ QueueUrl: this.dlqUrl, MaxNumberOfMessages: SQS_MAX_BATCH_ENTRIES, WaitTimeSeconds: 1, VisibilityTimeout: 30 }),
      );
      const messages = result.Messages ?? [];
      if (messages.length === 0) break;
      await this.sendBodies(messages.map((message) => message.Body ?? ""), this.queueUrl);
      await this.deleteMessages(messages.map((message) => message.ReceiptHandle ?? ""), this.dlqUrl);
      moved += messages.length;
    }
    return moved;
  }

  /** Drops every message of the queue (benchmarks reset between phases; never used on the ingest path). */
  async purge(queueUrl = this.queueUrl): Promise<void> {
    await this.client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
  }

  close(): void {
    this.client.destroy();
  }
}
