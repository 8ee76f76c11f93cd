// Full-text search that costs what it finds. The old GIN index on search_vector alone could never
// serve the service role: under row-level security a non-leakproof operator such as `@@` may not
// become an index condition, so every `q` search walked the tenant's window row by row. It is
// replaced (same name) by a tenant-leading GIN index (btree_gin), and one narrow SECURITY DEFINER
// function probes it: at most `p_limit` keys of the CALLER'S tenant (read from the same
// vigil.tenant_id setting the RLS policies read, never from an argument) whose vector matches, in
// the window, in no order. It returns keys only; search-events.ts reads the rows back under RLS.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS btree_gin`.execute(db);
  await sql`DROP INDEX events_search`.execute(db);
  await sql`CREATE INDEX events_search ON events USING gin (tenant_id, search_vector)`.execute(db);
  // Planned per call with the real values (EXECUTE): the partitions the window covers, and the
  // bitmap of the tenant's matching vectors; an ordered index walk is what this probe replaces.
  await sql`
    CREATE FUNCTION vigil_search_match_keys(p_query tsquery, p_from timestamptz, p_to timestamptz,
      p_until timestamptz, p_limit integer)
    RETURNS TABLE (seq bigint, occurred_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
      SET enable_indexscan = off SET enable_seqscan = off AS $$
    BEGIN
      RETURN QUERY EXECUTE
        'SELECT e.seq, e.occurred_at FROM events e
          WHERE e.tenant_id = $1 AND e.search_vector @@ $2 AND e.occurred_at >= $3
            AND ($4::timestamptz IS NULL OR e.occurred_at < $4)
            AND ($5::timestamptz IS NULL OR e.occurred_at <= $5)
          LIMIT $6'
        USING nullif(current_setting('vigil.tenant_id', true), '')::uuid, p_query, p_from, p_to, p_until,
          least(greatest(p_limit, 0), 100000);
    END $$`.execute(db);
  await sql`REVOKE ALL ON FUNCTION vigil_search_match_keys(tsquery, timestamptz, timestamptz, timestamptz, integer) FROM PUBLIC`.execute(
    db,
  );
  await sql`GRANT EXECUTE ON FUNCTION vigil_search_match_keys(tsquery, timestamptz, timestamptz, timestamptz, integer) TO vigil_app`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION vigil_search_match_keys(tsquery, timestamptz, timestamptz, timestamptz, integer)`.execute(
    db,
  );
  await sql`DROP INDEX events_search`.execute(db);
  await sql`CREATE INDEX events_search ON events USING gin (search_vector)`.execute(db);
}
