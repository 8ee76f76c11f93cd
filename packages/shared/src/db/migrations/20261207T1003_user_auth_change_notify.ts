// Changes to people's credentials are announced too: a user disabled, deleted, or moved to another
// role or tenant sends NOTIFY vigil_auth_changes (payload `users`) at commit, so every streamer can
// close the open streams that user no longer may hold (stream/credential-watch.ts). Reuses the
// trigger function of 20261122T0059; the api's key cache ignores the `users` payload.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TRIGGER users_auth_change_update AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.role IS DISTINCT FROM NEW.role
      OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION vigil_notify_auth_change()`.execute(db);
  await sql`
    CREATE TRIGGER users_auth_change_delete AFTER DELETE ON users FOR EACH STATEMENT
    EXECUTE FUNCTION vigil_notify_auth_change()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS users_auth_change_delete ON users`.execute(db);
  await sql`DROP TRIGGER IF EXISTS users_auth_change_update ON users`.execute(db);
}
