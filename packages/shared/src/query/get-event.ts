// One event by id, within one tenant. Another tenant's id is indistinguishable from an unknown one.
import type { Database } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { readEventsByIds } from "./read-events-by-ids.ts";
import type { TenantScope } from "./tenant-scope.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function getEvent(db: Database, scope: TenantScope, id: string): Promise<StoredEvent | null> {
  if (!UUID.test(id)) return null;
  const [event] = await readEventsByIds(db, scope, [id]);
  return event ?? null;
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
