// The salt an event's hash commits to (spec §13), for in-browser verification by a reader already
// allowed to see the event. Looked up by the primary key (tenant, occurred_at, seq) of the event
// just read, so it touches one partition's index; events stored before salts have none (null).
import type { Database } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import type { TenantScope } from "../query/tenant-scope.ts";

export async function readEventSalt(
  db: Database,
  scope: TenantScope,
  event: Pick<StoredEvent, "id" | "seq" | "occurred_at">,
): Promise<string | null> {
  const rows = await db.withTenant(
    scope.tenantId,
    (tx) => tx<{ salt: string | null }[]>`
      select e.salt from events e
      where e.tenant_id = ${scope.tenantId} and e.occurred_at = ${event.occurred_at} and e.seq = ${event.seq}
        and e.id = ${event.id}`,
  );
  return rows[0]?.salt ?? null;
}
