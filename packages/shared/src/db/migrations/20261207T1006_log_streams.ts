// Log streams (spec §12): per-tenant destinations with their delivery cursor. Workers claim due
// streams through one SECURITY DEFINER function (they hold no tenant while claiming, so RLS would
// hide every row), with a lease so several replicas never deliver one stream at once.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE log_streams (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      name text NOT NULL,
      destination text NOT NULL CHECK (destination IN ('webhook', 's3', 'splunk_hec', 'datadog')),
      target jsonb NOT NULL,
      -- Credentials (webhook signing secrets, HEC token, Datadog key), each sealed (crypto/sealed-text.ts).
      secrets jsonb NOT NULL DEFAULT '{}',
      filters jsonb NOT NULL DEFAULT '{}',
      state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'failing', 'dead')),
      committed_seq bigint NOT NULL DEFAULT 0,
      delivered_events bigint NOT NULL DEFAULT 0,
      last_delivered_at timestamptz,
      last_error text,
      last_error_at timestamptz,
      failing_since timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      lease_owner text,
      lease_until timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX log_streams_tenant ON log_streams (tenant_id, created_at)`.execute(db);
  await sql`CREATE INDEX log_streams_due ON log_streams (next_attempt_at) WHERE state IN ('active', 'failing')`.execute(
    db,
  );
  await sql`ALTER TABLE log_streams ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`
    CREATE POLICY tenant_isolation ON log_streams
    USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON log_streams TO vigil_app`.execute(db);

  // Claims up to p_limit streams that are due and behind their tenant's head, for p_lease_seconds.
  await sql`
    CREATE FUNCTION vigil_claim_log_streams(p_owner text, p_lease_seconds integer, p_limit integer)
    RETURNS TABLE (id uuid, tenant_id uuid)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
      UPDATE log_streams s
      SET lease_owner = p_owner, lease_until = now() + make_interval(secs => p_lease_seconds)
      WHERE s.id IN (
        SELECT l.id FROM log_streams l
        JOIN tenant_sequences t ON t.tenant_id = l.tenant_id
        WHERE l.state IN ('active', 'failing') AND l.next_attempt_at <= now()
          AND (l.lease_until IS NULL OR l.lease_until < now())
          AND t.last_seq > l.committed_seq
        ORDER BY l.next_attempt_at
        LIMIT least(p_limit, 100)
        FOR UPDATE OF l SKIP LOCKED)
      RETURNING s.id, s.tenant_id
    $$`.execute(db);
  await sql`REVOKE ALL ON FUNCTION vigil_claim_log_streams(text, integer, integer) FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_claim_log_streams(text, integer, integer) TO vigil_app`.execute(
    db,
  );

  // Streams by state across tenants, for the worker's metrics (counts only, no tenant data).
  await sql`
    CREATE FUNCTION vigil_log_stream_states() RETURNS TABLE (state text, streams bigint)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
      SELECT state, count(*) FROM log_streams GROUP BY state
    $$`.execute(db);
  await sql`REVOKE ALL ON FUNCTION vigil_log_stream_states() FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_log_stream_states() TO vigil_app`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION vigil_log_stream_states()`.execute(db);
  await sql`DROP FUNCTION vigil_claim_log_streams(text, integer, integer)`.execute(db);
  await sql`DROP TABLE log_streams`.execute(db);
}
