// The salt an event's hash commits to (spec §13), for in-browser verification by a reader already
// allowed to see the event. Read as `to_jsonb(row)->>'salt'`, so events stored before salts (and
// databases not yet migrated to them) simply have none. Looked up by the primary key (tenant,
// occurred_at, seq) of the event just read, so it touches one partition's index.
import { type Database, setTenant } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import type { TenantScope } from "../query/tenant-scope.ts";

export async function readEventSalt(
  db: Database,
  scope: TenantScope,
  event: Pick<StoredEvent, "id" | "seq" | "occurred_at">,
): Promise<string | null> {
  return (await db.sql.begin(async (tx) => {
    await setTenant(tx, scope.tenantId);
    const rows = await tx<{ salt: string | null }[]>`
      select to_jsonb(e) ->> 'salt' as salt from events e
      where e.tenant_id = ${scope.tenantId} and e.occurred_at = ${event.occurred_at} and e.seq = ${event.seq}
        and e.id = ${event.id}`;
    return rows[0]?.salt ?? null;
  })) as string | null;
}
