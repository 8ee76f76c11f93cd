// Credential changes are announced: any change to an API key other than its last-use time, and any
// change to a tenant, sends NOTIFY vigil_auth_changes at commit, so every api replica can drop what
// it cached about keys and tenants (auth/api-key-cache.ts) the moment the change is visible.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION vigil_notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('vigil_auth_changes', TG_TABLE_NAME);
      RETURN NULL;
    END $$`.execute(db);
  // Recording last use (at most once a minute per key) must not empty every replica's cache.
  await sql`
    CREATE TRIGGER api_keys_auth_change_update AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION vigil_notify_auth_change()`.execute(db);
  await sql`
    CREATE TRIGGER api_keys_auth_change_delete AFTER DELETE ON api_keys FOR EACH STATEMENT
    EXECUTE FUNCTION vigil_notify_auth_change()`.execute(db);
  await sql`
    CREATE TRIGGER tenants_auth_change AFTER UPDATE OR DELETE ON tenants FOR EACH STATEMENT
    EXECUTE FUNCTION vigil_notify_auth_change()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS tenants_auth_change ON tenants`.execute(db);
  await sql`DROP TRIGGER IF EXISTS api_keys_auth_change_delete ON api_keys`.execute(db);
  await sql`DROP TRIGGER IF EXISTS api_keys_auth_change_update ON api_keys`.execute(db);
  await sql`DROP FUNCTION IF EXISTS vigil_notify_auth_change()`.execute(db);
}
