// Reads a tenant's events by position: `seq > after` in seq order, through the (tenant_id, seq)
// index, one bounded batch per call. Used for a subscriber's backfill (with its filter and an upper
// bound) and for the per-tenant live feed (no filter, no bound).
import { type Database, queryBuilder, run } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "../query/event-rows.ts";
import { applyEventFilter } from "../query/search-events.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import type { StreamFilter } from "./event-filter-match.ts";

export interface PositionedRead {
  after: number;
  /** Inclusive upper bound; rows above it are left for the live feed. */
  upTo?: number;
  filter?: StreamFilter;
  limit: number;
}

/** A stored event plus when it was committed (epoch ms), for the store-to-send lag metric. */
export interface FeedEvent {
  event: StoredEvent;
  storedAt: number;
}

export function readEventsAfterQuery(scope: TenantScope, read: PositionedRead) {
  let query = applyEventFilter(queryBuilder.selectFrom("events"), scope, read.filter ?? {})
    .select([...EVENT_COLUMNS, "erased", "stored_at"])
    .where("seq", ">", read.after);
  if (read.upTo !== undefined) query = query.where("seq", "<=", read.upTo);
  return query.orderBy("seq", "asc").limit(read.limit);
}

export async function readEventsAfter(
  db: Database,
  scope: TenantScope,
  read: PositionedRead,
): Promise<FeedEvent[]> {
  const rows = (await db.withTenant(scope.tenantId, (tx) =>
    run(tx, readEventsAfterQuery(scope, read)),
  )) as unknown as Array<EventRow & { stored_at: Date }>;
  return rows.map((row) => ({ event: toStoredEvent(row), storedAt: row.stored_at.getTime() }));
}

/** The tenant's last committed seq (0 before its first event). */
export async function latestSeq(db: Database, scope: TenantScope): Promise<number> {
  const rows = await db.withTenant(
    scope.tenantId,
    (tx) =>
      tx<{ last_seq: number }[]>`select last_seq from tenant_sequences where tenant_id = ${scope.tenantId}`,
  );
  return rows[0]?.last_seq ?? 0;
}
