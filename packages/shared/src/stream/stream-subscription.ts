// One subscriber: backfill from the database after `since`, then `ready`, then live events handed
// over by its tenant's feed. `position` is the last seq this subscriber has been given or has had
// filtered out; every event at or below it is skipped, which is what makes the backfill→live seam
// and every reconnect free of duplicates, while the feed's contiguous reads make it free of gaps.

import type { Database } from "../db/database.ts";
import type { Logger } from "../logging/logger.ts";
import type { CompiledStreamFilter } from "./event-filter-match.ts";
import { readEventsAfter } from "./read-events-after.ts";
import {
  encodeErrorMessage,
  encodeEventMessage,
  encodeReadyMessage,
  STREAM_CLOSE_CODES,
  type StreamErrorCode,
} from "./stream-protocol.ts";
import type { StreamGrant } from "./stream-request.ts";
import type { FeedBatch, FeedSelection, TenantFeed } from "./tenant-feed.ts";
import { encodeTextFrames } from "./websocket-frames.ts";

/** The transport under a subscription (a WebSocket in services/streamer). */
export interface StreamSink {
  /** Writes already-encoded WebSocket frames (websocket-frames.ts), in order, as one write. */
  sendFrames(frames: Buffer): void;
  /** Bytes handed to `sendFrames` that the peer has not taken yet (transport queue + socket buffer). */
  bufferedBytes(): number;
  close(code: number, reason: string): void;
}

export interface SubscriptionEnvironment {
  db: Database;
  logger: Logger;
  maxBufferedBytes: number;
  backfillBatchSize: number;
  onSent(count: number): void;
  onSlowConsumer(): void;
  onClosed(subscription: StreamSubscription): void;
}

type SubscriptionState = "backfill" | "live" | "closed";

const DRAIN_POLL_MS = 20;

export class StreamSubscription {
  private state: SubscriptionState = "backfill";
  private position = 0;

  constructor(
    readonly grant: StreamGrant,
    private readonly filter: CompiledStreamFilter,
    private readonly sink: StreamSink,
    private readonly env: SubscriptionEnvironment,
  ) {}

  get tenantId(): string {
    return this.grant.scope.tenantId;
  }

  /** A getter, not a field comparison: the state changes across every await. */
  private get closed(): boolean {
    return this.state === "closed";
  }

  get isLive(): boolean {
    return this.state === "live";
  }

  /**
   * Sends everything after `since` from the database, in batches, until this subscriber has caught
   * up with the feed; then joins it in the same synchronous step in which it compares positions,
   * so no feed batch can slip between the last backfill read and the first live delivery.
   */
  async run(feed: TenantFeed): Promise<void> {
    try {
      await feed.ready;
      this.position = this.grant.since ?? feed.deliveredSeq;
      for (;;) {
        if (this.closed) return;
        const upTo = feed.deliveredSeq;
        if (this.position >= upTo) {
          this.state = "live";
          this.send([encodeReadyMessage(this.position)]);
          return;
        }
        const rows = await readEventsAfter(this.env.db, this.grant.scope, {
          after: this.position,
          upTo,
          filter: this.filter.filter,
          limit: this.env.backfillBatchSize,
        });
        if (this.closed) return;
        // Backfill waits for a slow reader instead of dropping it: the data is in the database.
        if (this.sink.bufferedBytes() > this.env.maxBufferedBytes / 2) await this.drained();
        if (this.closed) return;
        if (rows.length > 0) {
          this.send(rows.map(({ event }) => encodeEventMessage(event)));
          this.env.onSent(rows.length);
        }
        // Fewer rows than asked means nothing else matched up to `upTo`.
        this.position = rows.length < this.env.backfillBatchSize ? upTo : rows.at(-1)!.event.seq;
      }
    } catch (error) {
      if (this.closed) return;
      this.env.logger.error({ err: error, tenant_id: this.tenantId }, "stream backfill failed");
      this.close(
        STREAM_CLOSE_CODES.internalError,
        "STREAM_UNAVAILABLE",
        "the event store is unavailable; reconnect with `since` later",
      );
    }
  }

  /**
   * Live delivery of one feed batch (contiguous seqs), as one write. Returns the number of events
   * sent. A client still holding more than the buffer limit is closed instead: its memory is
   * bounded by the limit plus one batch, whose frames every subscriber with the same filter shares.
   */
  deliver(batch: FeedBatch): number {
    if (this.state !== "live") return 0;
    // The usual case: the whole batch is ahead of this subscriber, so what it takes depends on its
    // filter alone, evaluated and framed once for every subscriber with an equal filter. Only a
    // subscriber whose `since` lies inside the batch takes its own slice.
    const selection = batch.firstSeq > this.position ? batch.selectionFor(this.filter) : this.sliceOf(batch);
    if (selection.count > 0 && this.sink.bufferedBytes() > this.env.maxBufferedBytes) {
      this.env.onSlowConsumer();
      this.close(
        STREAM_CLOSE_CODES.slowConsumer,
        "SLOW_CONSUMER",
        "the stream outpaced this client; reconnect with `since` set to the last seq received",
      );
      return 0;
    }
    if (selection.count > 0) this.sink.sendFrames(selection.frames());
    this.position = Math.max(this.position, batch.lastSeq);
    return selection.count;
  }

  /** The events of `batch` after this subscriber's position that its filter matches. */
  private sliceOf(batch: FeedBatch): FeedSelection {
    const wanted = batch.events.filter(
      (item) => item.event.seq > this.position && this.filter.matches(item.event),
    );
    return { count: wanted.length, frames: () => encodeTextFrames(wanted.map((item) => item.message())) };
  }

  /** Server-initiated close: an error message, then the close frame. Idempotent. */
  close(code: number, errorCode: StreamErrorCode, message: string): void {
    if (this.closed) return;
    this.state = "closed";
    try {
      this.send([encodeErrorMessage(errorCode, message)]);
      this.sink.close(code, errorCode.toLowerCase().replaceAll("_", " "));
    } finally {
      this.env.onClosed(this);
    }
  }

  /** The peer went away (or was terminated): forget it without writing anything. */
  detach(): void {
    if (this.closed) return;
    this.state = "closed";
    this.env.onClosed(this);
  }

  /** Encoded messages as text frames, in one write. */
  private send(messages: readonly Buffer[]): void {
    this.sink.sendFrames(encodeTextFrames(messages));
  }

  private async drained(): Promise<void> {
    while (!this.closed && this.sink.bufferedBytes() > this.env.maxBufferedBytes / 4) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }
}
