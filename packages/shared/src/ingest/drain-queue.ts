// The worker's loop: receive → decode → store in one transaction → delete after commit.
//
// Failure handling: a database outage backs off and leaves every message on the queue; a batch
// that fails for another reason is retried one message at a time, so a single poison message
// fails alone and reaches the dead-letter queue through the redrive policy while its neighbours
// are stored. Visibility is extended while a slow batch is being stored.
import type { Message } from "@aws-sdk/client-sqs";
import { type Database, isDatabaseUnavailable } from "../db/database.ts";
import type { NormalizedEvent } from "../events/event-schema.ts";
import type { Logger } from "../logging/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { decodeEventMessage, MessageDecodeError } from "../queue/event-message.ts";
import type { EventQueue } from "../queue/event-queue.ts";
import { type StoreSummary, storeEvents } from "./store-events.ts";

export interface DrainOptions {
  pollers: number;
  visibilityTimeoutSeconds: number;
  waitTimeSeconds: number;
  /** Fault injection (tests only): SIGKILL this process after every Nth commit, before the delete. */
  killAfterCommitEvery?: number;
  /** Called after each committed batch (the OpenSearch indexer hooks in here). */
  afterCommit?: (events: NormalizedEvent[], summary: StoreSummary) => Promise<void>;
}

interface Decoded {
  message: Message;
  tenantId: string;
  events: NormalizedEvent[];
}

export class QueueDrainer {
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];
  private backoffMs = 0;
  private commits = 0;

  constructor(
    private readonly db: Database,
    private readonly queue: EventQueue,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: DrainOptions,
  ) {}

  start(): void {
    for (let index = 0; index < this.options.pollers; index++) this.running.push(this.poll(index));
  }

  /** Stops receiving; resolves when every batch in hand is stored (or left on the queue). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.running);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async poll(poller: number): Promise<void> {
    while (!this.stopped) {
      if (this.backoffMs > 0) await sleep(this.backoffMs, this.abort.signal);
      let messages: Message[];
      try {
        messages = await this.queue.receive(
          10,
          this.options.waitTimeSeconds,
          this.options.visibilityTimeoutSeconds,
          this.abort.signal,
        );
      } catch (error) {
        if (this.stopped) break;
        this.logger.warn({ poller, err: error }, "receive failed; retrying");
        await sleep(1000, this.abort.signal);
        continue;
      }
      if (messages.length === 0) continue;
      // From here the batch is finished even if a stop was requested meanwhile.
      await this.handleBatch(messages);
    }
  }

  private async handleBatch(messages: Message[]): Promise<void> {
    const decoded: Decoded[] = [];
    for (const message of messages) {
      try {
        const body = decodeEventMessage(message.Body ?? "");
        decoded.push({ message, tenantId: body.tenant_id, events: body.events });
      } catch (error) {
        if (!(error instanceof MessageDecodeError)) throw error;
        this.logger.error(
          {
            message_id: message.MessageId,
            receive_count: message.Attributes?.ApproximateReceiveCount,
            reason: error.message,
          },
          "undecodable message; left for the dead-letter queue",
        );
        // Make it visible again soon so the redrive count is reached without waiting a full timeout.
        await this.queue.extendVisibility(message.ReceiptHandle ?? "", 1).catch(() => undefined);
      }
    }
    if (decoded.length === 0) return;
    const oldestSent = Math.min(
      ...messages.map((message) => Number(message.Attributes?.SentTimestamp ?? Date.now())),
    );
    this.metrics.queueAge.set((Date.now() - oldestSent) / 1000);

    // One transaction per tenant: a transaction holds its tenants' sequence locks until commit, so
    // a receive spanning every tenant stored in one transaction would serialize all the pollers.
    const byTenant = new Map<string, Decoded[]>();
    for (const item of decoded) byTenant.set(item.tenantId, [...(byTenant.get(item.tenantId) ?? []), item]);
    for (const group of byTenant.values()) {
      const ok = await this.storeAndDelete(group);
      if (!ok && group.length > 1 && this.backoffMs === 0) {
        for (const single of group) await this.storeAndDelete([single]);
      }
    }
  }

  /** Stores the events of `batch` in one transaction, then deletes its messages. */
  private async storeAndDelete(batch: Decoded[]): Promise<boolean> {
    const events = batch.flatMap((item) => item.events);
    const started = performance.now();
    const keepAlive = setInterval(
      () => {
        for (const item of batch) {
          void this.queue
            .extendVisibility(item.message.ReceiptHandle ?? "", this.options.visibilityTimeoutSeconds)
            .catch(() => undefined);
        }
      },
      (this.options.visibilityTimeoutSeconds * 1000) / 2,
    );
    let summary: StoreSummary;
    try {
      summary = await storeEvents(this.db, events);
    } catch (error) {
      this.metrics.batchFailures.inc();
      if (isDatabaseUnavailable(error)) {
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 250), 5_000);
        this.logger.warn(
          { err: error, backoff_ms: this.backoffMs, messages: batch.length },
          "database unavailable; messages stay on the queue",
        );
      } else {
        this.logger.error(
          { err: error, messages: batch.map((item) => item.message.MessageId) },
          "batch failed; messages stay on the queue",
        );
      }
      return false;
    } finally {
      clearInterval(keepAlive);
    }
    this.backoffMs = 0;
    this.commits++;
    if (this.options.killAfterCommitEvery && this.commits % this.options.killAfterCommitEvery === 0) {
      this.logger.warn(
        { commits: this.commits },
        "fault injection: killing the worker between commit and delete",
      );
      process.kill(process.pid, "SIGKILL");
    }
    try {
      await this.queue.deleteMessages(batch.map((item) => item.message.ReceiptHandle ?? ""));
    } catch (error) {
      // Stored but not deleted: the messages come back and are recognised as duplicates.
      this.logger.warn({ err: error }, "delete after commit failed; redelivery will be deduplicated");
    }
    const now = Date.now();
    for (const event of events) this.metrics.ingestLag.observe((now - Date.parse(event.received_at)) / 1000);
    this.metrics.eventsStored.inc(summary.stored);
    this.metrics.eventsDuplicate.inc(summary.duplicates);
    this.metrics.batchSize.observe(events.length);
    this.logger.info(
      {
        messages: batch.length,
        events: events.length,
        stored: summary.stored,
        duplicates: summary.duplicates,
        conflicts: summary.conflicts,
        duration_ms: Math.round(performance.now() - started),
      },
      "batch stored",
    );
    if (this.options.afterCommit) {
      await this.options
        .afterCommit(events, summary)
        .catch((error) => this.logger.error({ err: error }, "after-commit hook failed"));
    }
    return true;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
