// One tenant's live feed inside one streamer process: whatever its number of subscribers, new rows
// are read ONCE (seq > deliveredSeq, in seq order) and handed to every live subscriber. Because a
// tenant's seqs commit in order and without gaps, each read returns a contiguous run, and
// `deliveredSeq` is exactly "everything up to here has been offered to every live subscriber".
import type { Database } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import type { Logger } from "../logging/logger.ts";
import { tenantScope } from "../query/tenant-scope.ts";
import type { CompiledStreamFilter } from "./event-filter-match.ts";
import { type FeedEvent, latestSeq, readEventsAfter } from "./read-events-after.ts";
import { encodeEventMessage } from "./stream-protocol.ts";
import type { StreamSubscription } from "./stream-subscription.ts";
import { encodeTextFrames } from "./websocket-frames.ts";

export interface FeedBatchItem {
  event: StoredEvent;
  storedAt: number;
  /** The encoded message, built on first use and shared by all subscribers. */
  message(): Buffer;
}

/** What one filter takes from a batch: computed once per distinct filter, shared by its subscribers. */
export interface FeedSelection {
  count: number;
  /** The selected events as WebSocket frames, built on first use (one buffer for every subscriber). */
  frames(): Buffer;
}

export interface FeedBatch {
  events: FeedBatchItem[];
  firstSeq: number;
  lastSeq: number;
  /** Every event of the batch as WebSocket frames, built on first use and shared by every subscriber that takes them all. */
  allFrames(): Buffer;
  /** The events `filter` matches, evaluated and framed once per distinct filter (by its key). */
  selectionFor(filter: CompiledStreamFilter): FeedSelection;
}

export interface FeedEnvironment {
  db: Database;
  logger: Logger;
  batchSize: number;
  onDelivered(batch: FeedBatch, sent: number): void;
}

const RETRY_DELAY_MS = 1000;

function toBatchItem({ event, storedAt }: FeedEvent): FeedBatchItem {
  let encoded: Buffer | undefined;
  const message = () => {
    encoded ??= encodeEventMessage(event);
    return encoded;
  };
  return { event, storedAt, message };
}

/** The frames of `items`, built on first call and then reused. */
function lazyFrames(items: readonly FeedBatchItem[]): () => Buffer {
  let frames: Buffer | undefined;
  return () => {
    frames ??= encodeTextFrames(items.map((item) => item.message()));
    return frames;
  };
}

/** One read of the feed as a batch: each message encoded once, frames built once per distinct filter. */
export function toFeedBatch(rows: FeedEvent[]): FeedBatch {
  const events = rows.map(toBatchItem);
  const allFrames = lazyFrames(events);
  const everything: FeedSelection = { count: events.length, frames: allFrames };
  const selections = new Map<string, FeedSelection>();
  const selectionFor = (filter: CompiledStreamFilter): FeedSelection => {
    if (filter.matchesEverything) return everything;
    let selection = selections.get(filter.key);
    if (!selection) {
      const matched = events.filter((item) => filter.matches(item.event));
      selection =
        matched.length === events.length
          ? everything
          : { count: matched.length, frames: lazyFrames(matched) };
      selections.set(filter.key, selection);
    }
    return selection;
  };
  return {
    events,
    firstSeq: events[0]!.event.seq,
    lastSeq: events.at(-1)!.event.seq,
    allFrames,
    selectionFor,
  };
}

export class TenantFeed {
  /** Highest seq read and offered to every live subscriber; valid once `ready` resolved. */
  deliveredSeq = 0;
  readonly members = new Set<StreamSubscription>();
  readonly ready: Promise<void>;
  private initialized = false;
  private reading = false;
  private readAgain = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly tenantId: string,
    private readonly env: FeedEnvironment,
  ) {
    // Starts at the last committed seq: anything committed later is announced by a NOTIFY that the
    // process-wide LISTEN (established before any feed exists) will deliver.
    this.ready = latestSeq(env.db, tenantScope(tenantId)).then((seq) => {
      this.deliveredSeq = seq;
      this.initialized = true;
      this.catchUp();
    });
  }

  /** New rows may exist (a NOTIFY, a LISTEN reconnect, the safety poll): read until caught up. */
  catchUp(): void {
    if (this.stopped || !this.initialized) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    void this.readUntilCaughtUp().finally(() => {
      this.reading = false;
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  private async readUntilCaughtUp(): Promise<void> {
    const scope = tenantScope(this.tenantId);
    try {
      do {
        this.readAgain = false;
        for (;;) {
          const rows = await readEventsAfter(this.env.db, scope, {
            after: this.deliveredSeq,
            limit: this.env.batchSize,
          });
          if (this.stopped || rows.length === 0) break;
          this.fanOut(toFeedBatch(rows));
          if (rows.length < this.env.batchSize) break;
        }
      } while (this.readAgain && !this.stopped);
    } catch (error) {
      // Keep the position and try again: subscribers see a delay, never a gap.
      this.env.logger.warn({ err: error, tenant_id: this.tenantId }, "stream feed read failed; retrying");
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.catchUp(), RETRY_DELAY_MS);
    }
  }

  /** Synchronous on purpose: advancing `deliveredSeq` and delivering happen in one step. */
  private fanOut(batch: FeedBatch): void {
    let sent = 0;
    for (const subscription of this.members) sent += subscription.deliver(batch);
    this.deliveredSeq = batch.lastSeq;
    this.env.onDelivered(batch, sent);
  }
}
