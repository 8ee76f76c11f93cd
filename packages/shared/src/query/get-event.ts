// One event by id, within one tenant. Another tenant's id is indistinguishable from an unknown one.
import { type Database, run, queryBuilder } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import type { TenantScope } from "./tenant-scope.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function getEventQuery(scope: TenantScope, id: string) {
  // event_ids gives the partition key, so the lookup touches one partition.
  return queryBuilder
    .selectFrom("event_ids as i")
    .innerJoin("events as e", (join) =>
      join
        .onRef("e.tenant_id", "=", "i.tenant_id")
        .onRef("e.occurred_at", "=", "i.occurred_at")
        .onRef("e.seq", "=", "i.seq"),
    )
    .select(EVENT_COLUMNS.map((column) => `e.${column}` as const))
    .where("i.tenant_id", "=", scope.tenantId)
    .where("i.id", "=", id.toLowerCase());
}

export async function getEvent(db: Database, scope: TenantScope, id: string): Promise<StoredEvent | null> {
  if (!UUID.test(id)) return null;
  const rows = await db.withTenant(scope.tenantId, (tx) => run(tx, getEventQuery(scope, id)));
  return rows[0] ? toStoredEvent(rows[0] as unknown as EventRow) : null;
}

/** Stored payload hashes of the given ids, for the API's idempotency check before enqueueing. */
export async function findStoredPayloadHashes(
  db: Database,
  scope: TenantScope,
  ids: string[],
): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.withTenant(
    scope.tenantId,
    (tx) =>
      tx<{ id: string; payload_hash: string }[]>`
      select id, payload_hash from event_ids where tenant_id = ${scope.tenantId} and id = any(${ids}::uuid[])`,
  );
  return new Map(rows.map((row) => [row.id, row.payload_hash]));
}
