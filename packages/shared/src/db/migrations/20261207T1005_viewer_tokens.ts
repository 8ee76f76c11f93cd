// Embeddable viewer (spec §11): API keys may carry the `viewer` scope (they can only issue viewer
// tokens), and each tenant lists the origins allowed to frame its viewer page (`viewer_origins`,
// the page's CSP frame-ancestors). Frozen in time: never edit after it lands.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_scopes_check`.execute(db);
  await sql`
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ ARRAY['ingest', 'read', 'viewer']::text[] AND cardinality(scopes) > 0)`.execute(db);
  await sql`ALTER TABLE tenants ADD COLUMN viewer_origins text[] NOT NULL DEFAULT '{}'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE tenants DROP COLUMN viewer_origins`.execute(db);
  await sql`UPDATE api_keys SET scopes = array_remove(scopes, 'viewer') WHERE 'viewer' = ANY(scopes)`.execute(
    db,
  );
  await sql`DELETE FROM api_keys WHERE cardinality(scopes) = 0`.execute(db);
  await sql`ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check`.execute(db);
  await sql`
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ ARRAY['ingest', 'read']::text[] AND cardinality(scopes) > 0)`.execute(db);
}
