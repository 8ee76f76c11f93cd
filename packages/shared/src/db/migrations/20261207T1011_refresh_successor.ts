// A refresh token's successor, sealed with a key derived from the spent token itself: when two
// requests present the same refresh token at once (two tabs, two api replicas), the one that loses
// the race gets the same successor within a short grace window instead of tripping reuse detection.
// The database alone cannot open it: it stores only the spent token's hash, never the token.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE refresh_tokens ADD COLUMN successor_sealed bytea`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE refresh_tokens DROP COLUMN successor_sealed`.execute(db);
}
