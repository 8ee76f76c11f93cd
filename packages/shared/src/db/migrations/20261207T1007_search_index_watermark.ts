// The search index watermark (spec §12): per tenant, the highest contiguous seq known to be in the
// OpenSearch index, and the seq ranges indexed above it that are not yet contiguous with it. The
// worker's feed records each range after its bulk succeeds; the repair loop folds contiguous ranges
// into the watermark and re-indexes the gaps from PostgreSQL. The loop lists tenants through one
// SECURITY DEFINER function (it holds no tenant while listing, so RLS would hide every row).
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE search_index_state (
      tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
      indexed_seq bigint NOT NULL DEFAULT 0,
      -- Below indexed_seq the index was last checked against PostgreSQL up to this seq (reconciliation).
      checked_seq bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`
    CREATE TABLE search_indexed_ranges (
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      from_seq bigint NOT NULL,
      to_seq bigint NOT NULL CHECK (to_seq >= from_seq),
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, from_seq, to_seq)
    )`.execute(db);
  for (const table of ["search_index_state", "search_indexed_ranges"]) {
    await sql`ALTER TABLE ${sql.raw(table)} ENABLE ROW LEVEL SECURITY`.execute(db);
    await sql`
      CREATE POLICY tenant_isolation ON ${sql.raw(table)}
      USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
      WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`.execute(db);
    await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ${sql.raw(table)} TO vigil_app`.execute(db);
  }

  // Tenants with events and their watermark, most behind first: the repair loop's work list
  // (ids and numbers only, no tenant data).
  await sql`
    CREATE FUNCTION vigil_search_index_tenants(p_limit integer)
    RETURNS TABLE (tenant_id uuid, indexed_seq bigint, head_seq bigint)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
      SELECT t.tenant_id, coalesce(s.indexed_seq, 0), t.last_seq
      FROM tenant_sequences t LEFT JOIN search_index_state s ON s.tenant_id = t.tenant_id
      WHERE t.last_seq > 0
      ORDER BY t.last_seq - coalesce(s.indexed_seq, 0) DESC, coalesce(s.updated_at, '-infinity') ASC
      LIMIT least(p_limit, 10000)
    $$`.execute(db);
  await sql`REVOKE ALL ON FUNCTION vigil_search_index_tenants(integer) FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_search_index_tenants(integer) TO vigil_app`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION vigil_search_index_tenants(integer)`.execute(db);
  await sql`DROP TABLE search_indexed_ranges`.execute(db);
  await sql`DROP TABLE search_index_state`.execute(db);
}
