// Two indexes so a read's cost follows its answer, not the tenant's event count: a resource's
// history in seq order (keyset page = an ordered index range per partition, no sort of the whole
// history), and the user + action type + severity filters together (the index condition holds
// all three, so no row of the user's other events is read; with skip scan the same index also
// serves user + severity alone). Declared on the partitioned parent, so every partition, present
// and future, gets them.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX events_tenant_resource_seq ON events (tenant_id, resource_type, resource_id, seq)`.execute(
    db,
  );
  await sql`CREATE INDEX events_tenant_user_kind ON events (tenant_id, user_id, action_type, severity, occurred_at) WHERE user_id IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX events_tenant_user_kind`.execute(db);
  await sql`DROP INDEX events_tenant_resource_seq`.execute(db);
}
