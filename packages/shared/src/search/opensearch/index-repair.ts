// The repair loop that keeps the OpenSearch index provably in step with PostgreSQL (spec §12).
// One worker process at a time (a session-level advisory lock held for the round), every
// SEARCH_REPAIR_INTERVAL_SECONDS, bounded work per round:
//
// 1. Gaps. For each tenant behind its head, recorded ranges are folded into the watermark; the gap
//    just above it (up to the next recorded range or the head) is read from PostgreSQL and
//    re-indexed once its events are older than the grace period (the feed may still be on its way
//    with them). Seqs with no row (removed by retention or cleanup) are covered by the range too.
// 2. Reconciliation (after one index refresh, so what step 1 and the feed just indexed is counted).
//    Below the watermark, OpenSearch `_count` for the tenant and a seq range is
//    compared with PostgreSQL's count; a shortfall is bisected to ranges of at most `leafSize`
//    seqs, which are re-indexed. Documents deleted behind Vigil's back come back without a command.
//    Each round checks one window (`reconcileWindow` seqs) per tenant; passes wrap around.
import type { Client } from "@opensearch-project/opensearch";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Database } from "../../db/database.ts";
import type { Logger } from "../../logging/logger.ts";
import { tenantScope } from "../../query/tenant-scope.ts";
import { readEventsAfter } from "../../stream/read-events-after.ts";
import { type EventIndexTarget, ensureEventIndex, eventIndexPattern } from "./event-index.ts";
import { type IndexOptions, indexStoredEvents } from "./index-events.ts";
import {
  foldIndexedRanges,
  readSearchIndexStatus,
  recordCheckedSeq,
  recordIndexedRanges,
  type SeqRange,
  type Watermark,
} from "./index-watermark.ts";

/** Key of the advisory lock that makes one process at a time the index repairer. */
const REPAIR_LOCK = 0x76_69_67_6c_73_72_63_68n; // "viglsrch"

export interface IndexRepairOptions extends IndexOptions {
  /** Gap events stored more recently than this are left to the feed. */
  graceMs?: number;
  /** Events read and indexed per page. */
  pageSize?: number;
  /** Upper bound of events re-indexed per round, over all tenants. */
  maxEventsPerRound?: number;
  /** Tenants looked at per round (most behind first). */
  maxTenantsPerRound?: number;
  /** Reconciliation: bisect down to ranges of this many seqs, then re-index them. */
  leafSize?: number;
  /** Reconciliation: `_count` requests per round, over all tenants. */
  maxCountsPerRound?: number;
  /** Reconciliation: seqs compared per tenant per round (one window of a wrapping pass). */
  reconcileWindow?: number;
}

export interface RepairRoundResult {
  ran: boolean;
  tenants: number;
  /** Events re-indexed to fill gaps above the watermark. */
  gap_events: number;
  /** Events re-indexed because the index held fewer than PostgreSQL below the watermark. */
  reconciled_events: number;
  /** Largest seq lag and its age over the tenants looked at. */
  max_lag_seq: number;
  /** Age of the oldest event not yet covered by a watermark, over the tenants looked at. */
  max_lag_seconds: number;
  failed: number;
}

/** What one round may still spend: events to index and count comparisons; each step draws it down. */
interface RepairBudget {
  events: number;
  counts: number;
}

interface TenantRow {
  tenant_id: string;
  indexed_seq: string | number;
  head_seq: string | number;
}

export class SearchIndexRepairer {
  private ready = false;

  constructor(
    private readonly db: Database,
    private readonly target: EventIndexTarget,
    private readonly logger: Logger,
    private readonly options: IndexRepairOptions = {},
  ) {}

  /** One round, if this process gets the lock; never throws for OpenSearch problems. */
  async runRound(): Promise<RepairRoundResult> {
    const result: RepairRoundResult = {
      ran: false,
      tenants: 0,
      gap_events: 0,
      reconciled_events: 0,
      max_lag_seq: 0,
      max_lag_seconds: 0,
      failed: 0,
    };
    const lock = await this.db.sql.reserve();
    try {
      const [{ locked } = { locked: false }] = await lock<{ locked: boolean }[]>`
        select pg_try_advisory_lock(${REPAIR_LOCK.toString()}::bigint) as locked`;
      if (!locked) return result;
      try {
        result.ran = true;
        if (!this.ready) {
          await ensureEventIndex(this.target);
          this.ready = true;
        }
        const tenants = await lock<TenantRow[]>`
          select tenant_id, indexed_seq, head_seq
          from vigil_search_index_tenants(${this.options.maxTenantsPerRound ?? 100})`;
        const budget: RepairBudget = {
          events: this.options.maxEventsPerRound ?? 5000,
          counts: this.options.maxCountsPerRound ?? 200,
        };
        const failedFor = (tenantId: string, error: unknown) => {
          result.failed++;
          this.logger.warn(
            { tenant_id: tenantId, err: errorSummary(error) },
            "search index repair failed for a tenant; retrying next round",
          );
        };
        const filled: Watermark[] = [];
        for (const tenant of tenants) {
          result.tenants++;
          try {
            filled.push(await this.fillGap(tenant.tenant_id, budget, result));
          } catch (error) {
            failedFor(tenant.tenant_id, error);
          }
        }
        // A cluster shows new documents to _count only after a refresh (every second by default):
        // without one, what the gaps and the feed indexed just now would look missing, and be
        // indexed a second time and counted as reconciled. One refresh per round, before counting.
        if (filled.some((state) => state.indexed_seq > 0) && budget.counts > 0)
          await (this.target.client as Client).indices
            .refresh({
              index: eventIndexPattern(this.target.indexPrefix),
              ignore_unavailable: true,
              allow_no_indices: true,
            })
            .catch((error) =>
              this.logger.debug({ err: errorSummary(error) }, "index refresh before reconciliation failed"),
            );
        for (const state of filled)
          try {
            await this.reconcileWindow(state, budget, result);
          } catch (error) {
            failedFor(state.tenant_id, error);
          }
      } finally {
        await lock`select pg_advisory_unlock(${REPAIR_LOCK.toString()}::bigint)`;
      }
    } catch (error) {
      result.failed++;
      this.logger.warn({ err: errorSummary(error) }, "search index repair round failed");
    } finally {
      lock.release();
    }
    if (result.gap_events + result.reconciled_events > 0) this.logger.info(result, "search index repaired");
    return result;
  }

  /** Indexes the gap above the tenant's watermark (bounded by the budget); returns the state after. */
  private async fillGap(
    tenantId: string,
    budget: RepairBudget,
    result: RepairRoundResult,
  ): Promise<Watermark> {
    const pageSize = this.options.pageSize ?? 500;
    const graceMs = this.options.graceMs ?? 30_000;
    let state = await foldIndexedRanges(this.db, tenantId);
    if (state.head_seq === 0) return state;
    while (state.indexed_seq < state.head_seq && budget.events > 0) {
      const gapEnd = Math.min(
        state.next_range_from !== null ? state.next_range_from - 1 : state.head_seq,
        state.indexed_seq + Math.min(pageSize, budget.events),
      );
      const page = await readEventsAfter(this.db, tenantScope(tenantId), {
        after: state.indexed_seq,
        upTo: gapEnd,
        limit: pageSize,
      });
      const settled = page.filter((item) => item.storedAt <= Date.now() - graceMs);
      if (settled.length < page.length && settled.length === 0) break;
      const events = settled.map((item) => item.event);
      if (events.length > 0) {
        const outcome = await indexStoredEvents(this.target, events, this.options);
        if (outcome.failed.length > 0) {
          result.failed += outcome.failed.length;
          break;
        }
        budget.events -= events.length;
        result.gap_events += events.length;
      }
      // Covered: every seq up to the last indexed event, or up to gapEnd when the page held all.
      const coveredTo =
        settled.length === page.length && page.length < pageSize ? gapEnd : events.at(-1)!.seq;
      state = await recordIndexedRanges(this.db, tenantId, [
        { from_seq: state.indexed_seq + 1, to_seq: coveredTo },
      ]);
      if (settled.length < page.length) break;
    }
    result.max_lag_seq = Math.max(result.max_lag_seq, state.head_seq - state.indexed_seq);
    if (state.indexed_seq < state.head_seq)
      result.max_lag_seconds = Math.max(
        result.max_lag_seconds,
        (await readSearchIndexStatus(this.db, tenantId)).lag_seconds,
      );
    return state;
  }

  /** Compares one window below the watermark with PostgreSQL and re-indexes what is missing. */
  private async reconcileWindow(
    state: Watermark,
    budget: RepairBudget,
    result: RepairRoundResult,
  ): Promise<void> {
    const tenantId = state.tenant_id;
    if (state.indexed_seq === 0 || budget.counts <= 0) return;
    // One window of the seqs below the watermark per round, a pass wrapping around to seq 1, so the
    // counting cost per round stays bounded however many events the tenant has.
    const from = state.checked_seq >= state.indexed_seq ? 1 : state.checked_seq + 1;
    const to = Math.min(state.indexed_seq, from + (this.options.reconcileWindow ?? 100_000) - 1);
    const countsBefore = budget.counts;
    result.reconciled_events += await this.reconcile(tenantId, { from_seq: from, to_seq: to }, budget);
    // A window cut short by the budget is checked again next round.
    if (budget.events > 0 && (budget.counts > 0 || countsBefore - budget.counts === 1))
      await recordCheckedSeq(this.db, tenantId, to >= state.indexed_seq ? 0 : to);
  }

  /** Re-indexes the parts of `range` where the index holds fewer documents than PostgreSQL. */
  private async reconcile(tenantId: string, range: SeqRange, budget: RepairBudget): Promise<number> {
    if (budget.counts <= 0 || budget.events <= 0) return 0;
    budget.counts--;
    const [indexed, stored] = await Promise.all([
      countIndexed(this.target, tenantId, range),
      countStored(this.db, tenantId, range),
    ]);
    if (indexed >= stored) return 0;
    const leafSize = this.options.leafSize ?? 500;
    if (range.to_seq - range.from_seq + 1 <= leafSize) {
      const page = await readEventsAfter(this.db, tenantScope(tenantId), {
        after: range.from_seq - 1,
        upTo: range.to_seq,
        limit: leafSize,
      });
      const events = page.map((item) => item.event);
      const outcome = await indexStoredEvents(this.target, events, this.options);
      budget.events -= events.length;
      this.logger.warn(
        { tenant_id: tenantId, ...range, indexed, stored, reindexed: outcome.indexed },
        "search index was missing documents below the watermark; re-indexed them",
      );
      return outcome.indexed;
    }
    const middle = Math.floor((range.from_seq + range.to_seq) / 2);
    const low = await this.reconcile(tenantId, { from_seq: range.from_seq, to_seq: middle }, budget);
    const high = await this.reconcile(tenantId, { from_seq: middle + 1, to_seq: range.to_seq }, budget);
    return low + high;
  }
}

/** The `_count` request for one tenant's seq range (tenant filter first, routed to its shard). */
export function countRequest(indexPrefix: string, tenantId: string, range: SeqRange) {
  return {
    index: eventIndexPattern(indexPrefix),
    routing: tenantId,
    ignore_unavailable: true,
    allow_no_indices: true,
    body: {
      query: {
        bool: {
          filter: [
            { term: { tenant_id: tenantId } },
            { range: { seq: { gte: range.from_seq, lte: range.to_seq } } },
          ],
        },
      },
    },
  };
}

async function countIndexed(target: EventIndexTarget, tenantId: string, range: SeqRange): Promise<number> {
  const response = await (target.client as Client).count(countRequest(target.indexPrefix, tenantId, range));
  return Number((response.body as { count?: number }).count ?? 0);
}

async function countStored(db: Database, tenantId: string, range: SeqRange): Promise<number> {
  const [row] = await db.withTenant(
    tenantId,
    (tx) => tx<{ count: string }[]>`
      select count(*) as count from events
      where tenant_id = ${tenantId} and seq between ${range.from_seq} and ${range.to_seq}`,
  );
  return Number(row?.count ?? 0);
}

/** Runs rounds every `intervalSeconds` until stopped; the first round starts at once. */
export function startSearchIndexRepair(
  repairer: SearchIndexRepairer,
  intervalSeconds: number,
  onRound?: (result: RepairRoundResult) => void,
): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = repairer.runRound().then((result) => {
      onRound?.(result);
      if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
    });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

function errorSummary(error: unknown) {
  return error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) };
}

/** Gauges of the last round (worst tenant looked at), registered on the worker's registry. */
export function searchRepairGauges(registry: Registry) {
  const lagSeq = new Gauge({
    name: "vigil_search_index_lag_seq",
    help: "Largest distance between a tenant's head seq and its search index watermark (last repair round)",
    registers: [registry],
  });
  const lagSeconds = new Gauge({
    name: "vigil_search_index_lag_seconds",
    help: "Age of the oldest event not yet covered by a tenant's search index watermark (last repair round)",
    registers: [registry],
  });
  const repaired = new Counter({
    name: "vigil_search_index_repaired_total",
    help: "Events re-indexed by the repair loop",
    labelNames: ["cause"],
    registers: [registry],
  });
  return (result: RepairRoundResult) => {
    if (!result.ran) return;
    lagSeq.set(result.max_lag_seq);
    lagSeconds.set(result.max_lag_seconds);
    repaired.inc({ cause: "gap" }, result.gap_events);
    repaired.inc({ cause: "reconcile" }, result.reconciled_events);
  };
}
