// Thin wrapper over @aws-sdk/client-sqs for the event queue: publish (api), receive/delete/extend
// (worker), DLQ replay (cli). The same code talks to AWS, LocalStack and the fauxqs emulator.
import { randomUUID } from "node:crypto";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { VigilError } from "../errors/vigil-error.ts";
import type { NormalizedEvent } from "../events/event-schema.ts";
import { packEventMessages } from "./event-message.ts";

/** SQS's own limits: 10 entries per batch call, 1 MiB per message and per batch call. */
export const SQS_MAX_BATCH_ENTRIES = 10;
export const SQS_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Sends under way at once per process; publishes arriving meanwhile are coalesced into the next. */
const MAX_PUBLISHES_IN_FLIGHT = 4;

/** Waiting events that end a linger early: enough to fill SendMessageBatch calls (a bulk leaves at once). */
const LINGER_FLUSH_EVENTS = 200;

interface PendingPublish {
  events: NormalizedEvent[];
  resolve: (result: { messages: number }) => void;
  reject: (error: unknown) => void;
}

/** Splits bodies into SendMessageBatch calls within SQS's entry and payload limits. */
function groupIntoCalls<T>(items: T[], bodyOf: (item: T) => string): T[][] {
  const calls: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of items) {
    const bytes = Buffer.byteLength(bodyOf(item));
    if (
      current.length === SQS_MAX_BATCH_ENTRIES ||
      (current.length > 0 && currentBytes + bytes > SQS_MAX_PAYLOAD_BYTES)
    ) {
      calls.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += bytes;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

export interface EventQueueOptions {
  queueUrl: string;
  dlqUrl?: string;
  region: string;
  endpoint?: string;
  maxMessageBytes?: number;
  /** Per-request timeout; a queue that does not answer must turn into a 503, not a hung client. */
  requestTimeoutMs?: number;
  /**
   * How long a publish may wait for others to share its SendMessageBatch while a send is under way
   * (as Kafka's `linger.ms`); 0: on the next turn of the event loop. Ends early at LINGER_FLUSH_EVENTS.
   */
  lingerMs?: number;
}

export class EventQueue {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly dlqUrl: string | undefined;
  private readonly maxMessageBytes: number;
  private readonly lingerMs: number;

  constructor(options: EventQueueOptions) {
    this.queueUrl = options.queueUrl;
    this.lingerMs = options.lingerMs ?? 0;
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
   * answer HTTP 200 with per-entry failures, which are retried and otherwise fail the request.
   *
   * Concurrent publishes are coalesced: while MAX_PUBLISHES_IN_FLIGHT sends are under way, new
   * publishes wait and leave together, one tenant's events packed into shared messages. Under load
   * this turns hundreds of one-event SQS calls per second into a few full ones (cheaper for the api,
   * the queue and the worker's batches); when idle, a publish leaves on the next turn of the loop.
   * A publisher is acknowledged only when every message holding its events was accepted.
   *
   * With `lingerMs`, a publish made while another send is under way also waits up to that long for
   * others (single-event requests under load then share one call instead of one call each); a full
   * batch's worth leaves at once, and a publish to an idle queue is not delayed.
   */
  publishEvents(events: NormalizedEvent[]): Promise<{ messages: number }> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) this.firstWaitingAt = performance.now();
      this.waiting.push({ events, resolve, reject });
      this.waitingEvents += events.length;
      this.scheduleFlush();
    });
  }

  private readonly waiting: PendingPublish[] = [];
  private waitingEvents = 0;
  private firstWaitingAt = 0;
  private publishesInFlight = 0;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | undefined;

  private scheduleFlush(): void {
    if (this.flushScheduled || this.publishesInFlight >= MAX_PUBLISHES_IN_FLIGHT || this.waiting.length === 0)
      return;
    // Only while a send is under way (traffic from others): an idle api sends at once.
    const lingered = performance.now() - this.firstWaitingAt;
    if (
      this.lingerMs > 0 &&
      this.publishesInFlight > 0 &&
      this.waitingEvents < LINGER_FLUSH_EVENTS &&
      lingered < this.lingerMs
    ) {
      this.lingerTimer ??= setTimeout(() => {
        this.lingerTimer = undefined;
        this.flushNow();
      }, this.lingerMs - lingered);
      return;
    }
    this.flushNow();
  }

  private flushNow(): void {
    if (this.flushScheduled || this.publishesInFlight >= MAX_PUBLISHES_IN_FLIGHT || this.waiting.length === 0)
      return;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushPublishes();
    });
  }

  private async flushPublishes(): Promise<void> {
    const publishes = this.waiting.splice(0);
    this.waitingEvents = 0;
    if (publishes.length === 0) return;
    this.publishesInFlight++;
    try {
      const byTenant = new Map<string, Array<{ events: NormalizedEvent[]; owner: PendingPublish }>>();
      for (const publish of publishes) {
        for (const event of publish.events) {
          const parts = byTenant.get(event.tenant_id) ?? [];
          if (parts.at(-1)?.owner !== publish) parts.push({ events: [], owner: publish });
          parts.at(-1)!.events.push(event);
          byTenant.set(event.tenant_id, parts);
        }
      }
      let messages: Array<{ body: string; owners: Set<PendingPublish> }>;
      try {
        const packed = await Promise.all(
          [...byTenant].map(([tenantId, parts]) => packEventMessages(tenantId, parts, this.maxMessageBytes)),
        );
        messages = packed.flat();
      } catch (error) {
        for (const publish of publishes) publish.reject(error);
        return;
      }
      const calls = groupIntoCalls(messages, (message) => message.body);
      const outcomes = await Promise.allSettled(
        calls.map((call) =>
          this.sendBatch(
            call.map((message) => message.body),
            this.queueUrl,
          ),
        ),
      );
      const failures = new Map<PendingPublish, unknown>();
      const counts = new Map<PendingPublish, number>();
      calls.forEach((call, index) => {
        const outcome = outcomes[index]!;
        for (const message of call) {
          for (const owner of message.owners) {
            counts.set(owner, (counts.get(owner) ?? 0) + 1);
            if (outcome.status === "rejected" && !failures.has(owner)) failures.set(owner, outcome.reason);
          }
        }
      });
      for (const publish of publishes) {
        if (failures.has(publish)) publish.reject(failures.get(publish));
        else publish.resolve({ messages: counts.get(publish) ?? 0 });
      }
    } finally {
      this.publishesInFlight--;
      this.scheduleFlush();
    }
  }

  async sendBodies(bodies: string[], queueUrl: string): Promise<void> {
    await Promise.all(groupIntoCalls(bodies, (body) => body).map((call) => this.sendBatch(call, queueUrl)));
  }

  private async sendBatch(bodies: string[], queueUrl: string): Promise<void> {
    let entries = bodies.map((body) => ({ Id: randomUUID(), MessageBody: body }));
    for (let attempt = 1; entries.length > 0; attempt++) {
      let failedIds: Set<string>;
      try {
        const result = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
        );
        failedIds = new Set((result.Failed ?? []).map((failure) => failure.Id ?? ""));
        if (failedIds.size > 0 && (result.Failed ?? []).some((failure) => failure.SenderFault)) {
          throw new VigilError("QUEUE_UNAVAILABLE", "the queue rejected a message");
        }
      } catch (error) {
        if (error instanceof VigilError) throw error;
        throw new VigilError(
          "QUEUE_UNAVAILABLE",
          "the event queue is unavailable; nothing was accepted, retry later",
          undefined,
          {
            "Retry-After": "5",
          },
        );
      }
      entries = entries.filter((entry) => failedIds.has(entry.Id));
      if (entries.length > 0 && attempt >= 3) {
        throw new VigilError(
          "QUEUE_UNAVAILABLE",
          "the event queue did not accept every message; retry later",
          undefined,
          {
            "Retry-After": "5",
          },
        );
      }
    }
  }

  async receive(
    maxMessages: number,
    waitTimeSeconds: number,
    visibilityTimeout: number,
    abortSignal?: AbortSignal,
  ): Promise<Message[]> {
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
      if (result.Failed?.length)
        throw new Error(`DeleteMessageBatch failed for ${result.Failed.length} entries`);
    }
  }

  async extendVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
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
        new ReceiveMessageCommand({
          QueueUrl: this.dlqUrl,
          MaxNumberOfMessages: SQS_MAX_BATCH_ENTRIES,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 30,
        }),
      );
      const messages = result.Messages ?? [];
      if (messages.length === 0) break;
      await this.sendBodies(
        messages.map((message) => message.Body ?? ""),
        this.queueUrl,
      );
      await this.deleteMessages(
        messages.map((message) => message.ReceiptHandle ?? ""),
        this.dlqUrl,
      );
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
