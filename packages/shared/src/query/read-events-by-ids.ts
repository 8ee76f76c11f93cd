// Stored events of one tenant by id, in seq order (event_ids gives the partition key). GET /logs/{id}
// uses it for one id; the worker's search indexer reads a committed batch back with it (new events
// and redelivered duplicates alike), so what gets indexed is exactly what PostgreSQL returns.
// Unknown ids are simply absent.
import { type Database, queryBuilder, run } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import type { TenantScope } from "./tenant-scope.ts";

export function readEventsByIdsQuery(scope: TenantScope, ids: readonly string[]) {
  // event_ids carries the partition key, so each lookup touches one partition.
  return queryBuilder
    .selectFrom("event_ids as i")
    .innerJoin("events as e", (join) =>
      join
        .onRef("e.tenant_id", "=", "i.tenant_id")
        .onRef("e.occurred_at", "=", "i.occurred_at")
        .onRef("e.seq", "=", "i.seq"),
    )
    .select([...EVENT_COLUMNS.map((column) => `e.${column}` as const), "e.erased"])
    .where("i.tenant_id", "=", scope.tenantId)
    .where(
      "i.id",
      "in",
      ids.map((id) => id.toLowerCase()),
    )
    .orderBy("e.seq", "asc");
}

export async function readEventsByIds(
  db: Database,
  scope: TenantScope,
  ids: readonly string[],
): Promise<StoredEvent[]> {
  if (ids.length === 0) return [];
  const rows = await db.withTenant(scope.tenantId, (tx) => run(tx, readEventsByIdsQuery(scope, ids)));
  return (rows as unknown as EventRow[]).map(toStoredEvent);
}
