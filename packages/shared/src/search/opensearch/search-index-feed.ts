// Keeps the OpenSearch index following PostgreSQL: the worker's after-commit hook.
//
// It never blocks or fails the commit path: the hook only starts the work and returns; at most
// `maxInFlightBatches` batches are indexed at a time, and a batch arriving while that many are
// still in flight is skipped rather than queued (memory stays bounded when OpenSearch is slow or
// down). Every event that does not reach the index is counted in
// vigil_search_index_failures_total{reason} and logged with its tenant and seq range, and
// `vigil opensearch reindex --tenant X [--from --to]` rebuilds it from PostgreSQL. Each batch that
// reaches the index records its seq ranges (index-watermark.ts); what never does is found and
// re-indexed by the worker's repair loop (index-repair.ts) without a command.
//
// Each batch is read back from PostgreSQL by id — redelivered duplicates included — so the index
// holds exactly the stored rows (seq, hash, server timestamps), and a message redelivered after a
// crash between commit and indexing repairs the index on its way through.
import type { Database } from "../../db/database.ts";
import type { NormalizedEvent, StoredEvent } from "../../events/event-schema.ts";
import type { StoreSummary } from "../../ingest/store-events.ts";
import type { Logger } from "../../logging/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { readEventsByIds } from "../../query/read-events-by-ids.ts";
import { tenantScope } from "../../query/tenant-scope.ts";
import { type EventIndexTarget, ensureEventIndex } from "./event-index.ts";
import { type FailedDocument, type IndexOptions, indexStoredEvents } from "./index-events.ts";
import { recordIndexedRanges, seqRuns } from "./index-watermark.ts";

export interface SearchIndexFeedOptions extends IndexOptions {
  maxInFlightBatches?: number;
}

type FeedMetrics = Pick<Metrics, "searchIndexed" | "searchIndexFailures">;

export class SearchIndexFeed {
  private readonly inFlight = new Set<Promise<void>>();
  private ready: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly target: EventIndexTarget,
    private readonly logger: Logger,
    private readonly metrics: FeedMetrics,
    private readonly options: SearchIndexFeedOptions = {},
  ) {}

  /** Template and current index; retried on the next batch when the cluster was unreachable. */
  ensureReady(): Promise<void> {
    this.ready ??= ensureEventIndex(this.target).catch((error) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  /** The QueueDrainer `afterCommit` hook: starts indexing the batch and returns at once. */
  readonly afterCommit = async (events: NormalizedEvent[], _summary: StoreSummary): Promise<void> => {
    if (events.length === 0) return;
    if (this.inFlight.size >= (this.options.maxInFlightBatches ?? 8)) {
      this.countFailures("backlog", events.length);
      this.logger.warn(
        { ...describeBatch(events), reason: "backlog" },
        "search index is behind; batch not indexed (reconcile with `vigil opensearch reindex`)",
      );
      return;
    }
    const work = this.indexBatch(events).finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
  };

  /** Waits for the batches in flight (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async indexBatch(events: NormalizedEvent[]): Promise<void> {
    const started = performance.now();
    try {
      await this.ensureReady();
    } catch (error) {
      this.countFailures("unavailable", events.length);
      this.logger.error(
        { ...describeBatch(events), err: errorSummary(error) },
        "search index unavailable; batch not indexed",
      );
      return;
    }
    let stored: StoredEvent[];
    try {
      stored = await this.readBack(events);
    } catch (error) {
      this.countFailures("read_failed", events.length);
      this.logger.error(
        { ...describeBatch(events), err: errorSummary(error) },
        "could not read the batch back for indexing",
      );
      return;
    }
    const outcome = await indexStoredEvents(this.target, stored, this.options);
    this.metrics.searchIndexed.inc(outcome.indexed);
    await this.recordIndexed(stored, outcome.failed);
    if (outcome.failed.length > 0) {
      for (const failure of outcome.failed)
        this.metrics.searchIndexFailures.inc({ reason: failureReason(failure) });
      this.logger.error(
        {
          failed: outcome.failed.length,
          indexed: outcome.indexed,
          retries: outcome.retries,
          tenants: seqRanges(outcome.failed),
          first_error: outcome.failed[0]?.reason,
        },
        "events not indexed in OpenSearch (reconcile with `vigil opensearch reindex`)",
      );
    } else {
      this.logger.debug(
        {
          indexed: outcome.indexed,
          retries: outcome.retries,
          duration_ms: Math.round(performance.now() - started),
        },
        "batch indexed",
      );
    }
  }

  /**
   * Records the seq ranges now in the index, moving each tenant's watermark (index-watermark.ts).
   * A failure here only delays the watermark: the repair loop re-indexes and records the gap.
   */
  private async recordIndexed(stored: StoredEvent[], failed: FailedDocument[]): Promise<void> {
    const failedIds = new Set(failed.map((item) => `${item.tenant_id}:${item.id}`));
    const seqsByTenant = new Map<string, number[]>();
    for (const event of stored) {
      if (failedIds.has(`${event.tenant_id}:${event.id}`)) continue;
      const seqs = seqsByTenant.get(event.tenant_id) ?? [];
      seqs.push(event.seq);
      seqsByTenant.set(event.tenant_id, seqs);
    }
    for (const [tenantId, seqs] of seqsByTenant) {
      try {
        await recordIndexedRanges(this.db, tenantId, seqRuns(seqs));
      } catch (error) {
        this.logger.warn(
          { tenant_id: tenantId, err: errorSummary(error) },
          "indexed range not recorded; the repair loop will cover it",
        );
      }
    }
  }

  private async readBack(events: NormalizedEvent[]): Promise<StoredEvent[]> {
    const idsByTenant = new Map<string, string[]>();
    for (const event of events) {
      const ids = idsByTenant.get(event.tenant_id) ?? [];
      ids.push(event.id);
      idsByTenant.set(event.tenant_id, ids);
    }
    const stored: StoredEvent[] = [];
    for (const [tenantId, ids] of idsByTenant)
      stored.push(...(await readEventsByIds(this.db, tenantScope(tenantId), [...new Set(ids)])));
    return stored;
  }

  private countFailures(reason: string, count: number): void {
    this.metrics.searchIndexFailures.inc({ reason }, count);
  }
}

function failureReason(failure: FailedDocument): string {
  if (failure.status === 0 || failure.status === 503) return "unavailable";
  if (failure.status === 429) return "throttled";
  return "rejected";
}

/** Tenants and their seq ranges: what an operator needs to reindex, without any event content. */
function seqRanges(
  failed: FailedDocument[],
): Record<string, { from_seq: number; to_seq: number; count: number }> {
  const ranges: Record<string, { from_seq: number; to_seq: number; count: number }> = {};
  for (const item of failed) {
    const range = ranges[item.tenant_id];
    if (range) {
      range.from_seq = Math.min(range.from_seq, item.seq);
      range.to_seq = Math.max(range.to_seq, item.seq);
      range.count++;
    } else {
      ranges[item.tenant_id] = { from_seq: item.seq, to_seq: item.seq, count: 1 };
    }
  }
  return ranges;
}

function describeBatch(events: NormalizedEvent[]) {
  const times = events.map((event) => event.occurred_at).sort();
  return {
    events: events.length,
    tenants: [...new Set(events.map((event) => event.tenant_id))],
    from: times[0],
    to: times.at(-1),
  };
}

function errorSummary(error: unknown) {
  return error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) };
}
