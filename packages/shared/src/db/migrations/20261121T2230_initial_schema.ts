// Initial schema: tenants, ingest keys, the time-partitioned events table with its idempotency
// and sequence tables, hourly rollups, the application role and row-level security.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // The services log in as a member of vigil_app, which does not own the tables and so cannot
  // bypass row-level security.
  await sql`DO $$ BEGIN CREATE ROLE vigil_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`.execute(
    db,
  );

  const timescale = await sql<{ available: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available`.execute(
    db,
  );
  const useTimescale = timescale.rows[0]?.available === true;
  if (useTimescale) await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);

  await sql`
    CREATE TABLE tenants (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'inactive')),
      retention_days integer NOT NULL DEFAULT 365 CHECK (retention_days BETWEEN 1 AND 36500),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // One row per tenant, locked by the worker for the length of a batch transaction: that lock is
  // what makes per-tenant commit order equal seq order, with no gaps.
  await sql`
    CREATE TABLE tenant_sequences (
      tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
      last_seq bigint NOT NULL DEFAULT 0,
      last_chain_hash text NOT NULL DEFAULT repeat('0', 64)
    )`.execute(db);

  await sql`
    CREATE TABLE api_keys (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      name text NOT NULL,
      prefix text NOT NULL,
      key_hash text NOT NULL UNIQUE,
      scopes text[] NOT NULL CHECK (scopes <@ ARRAY['ingest', 'read']::text[] AND cardinality(scopes) > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text,
      last_used_at timestamptz,
      revoked_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at)`.execute(db);

  const eventColumns = sql`
      tenant_id uuid NOT NULL,
      seq bigint NOT NULL,
      id uuid NOT NULL,
      occurred_at timestamptz NOT NULL,
      received_at timestamptz NOT NULL,
      stored_at timestamptz NOT NULL DEFAULT now(),
      action_type text NOT NULL,
      action text NOT NULL,
      resource_type text NOT NULL,
      resource_id text NOT NULL,
      user_id text,
      session_id text,
      ip_address text,
      user_agent text,
      severity text NOT NULL,
      outcome text NOT NULL,
      before_state jsonb,
      after_state jsonb,
      metadata jsonb,
      redacted text[] NOT NULL DEFAULT '{}',
      hash text NOT NULL,
      chain_hash text NOT NULL,
      search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', action || ' ' || resource_type || ' ' || resource_id || ' ' || coalesce(user_id, ''))
        || jsonb_to_tsvector('simple', coalesce(metadata, '{}'::jsonb), '["string", "numeric", "boolean"]')
        || jsonb_to_tsvector('simple', coalesce(before_state, '{}'::jsonb), '["string", "numeric", "boolean"]')
        || jsonb_to_tsvector('simple', coalesce(after_state, '{}'::jsonb), '["string", "numeric", "boolean"]')
      ) STORED,
      PRIMARY KEY (tenant_id, occurred_at, seq)`;

  if (useTimescale) {
    await sql`CREATE TABLE events (${eventColumns})`.execute(db);
    await sql`SELECT create_hypertable('events', 'occurred_at', chunk_time_interval => interval '7 days')`.execute(
      db,
    );
  } else {
    await sql`CREATE TABLE events (${eventColumns}) PARTITION BY RANGE (occurred_at)`.execute(db);
  }
  // Indexes serving the filters and sorts of GET /api/v1/logs; the primary key serves the default
  // newest-first order and keyset cursor (occurred_at, seq).
  await sql`CREATE INDEX events_tenant_seq ON events (tenant_id, seq)`.execute(db);
  await sql`CREATE INDEX events_tenant_received ON events (tenant_id, received_at, seq)`.execute(db);
  await sql`CREATE INDEX events_tenant_user ON events (tenant_id, user_id, occurred_at) WHERE user_id IS NOT NULL`.execute(
    db,
  );
  await sql`CREATE INDEX events_tenant_resource ON events (tenant_id, resource_type, resource_id, occurred_at)`.execute(
    db,
  );
  await sql`CREATE INDEX events_tenant_action ON events (tenant_id, action, occurred_at)`.execute(db);
  await sql`CREATE INDEX events_tenant_session ON events (tenant_id, session_id, occurred_at) WHERE session_id IS NOT NULL`.execute(
    db,
  );
  await sql`CREATE INDEX events_search ON events USING gin (search_vector)`.execute(db);

  // Idempotency: a partitioned table cannot carry UNIQUE (tenant_id, id), so ids live here too.
  // A duplicate is detected before a seq is claimed, so it never consumes one.
  await sql`
    CREATE TABLE event_ids (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL,
      seq bigint NOT NULL,
      occurred_at timestamptz NOT NULL,
      payload_hash text NOT NULL,
      PRIMARY KEY (tenant_id, id)
    )`.execute(db);

  // Same id, different payload, when the first copy was not yet stored at ingest: the first wins
  // and the conflict is recorded here for the tenant to inspect.
  await sql`
    CREATE TABLE event_conflicts (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL,
      payload_hash text NOT NULL,
      received_at timestamptz NOT NULL,
      detected_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id, payload_hash)
    )`.execute(db);

  // Hourly counts maintained by the worker in the same transaction as the events, so stats cost
  // does not grow with the number of events.
  await sql`
    CREATE TABLE event_rollups_hourly (
      tenant_id uuid NOT NULL,
      bucket timestamptz NOT NULL,
      action_type text NOT NULL,
      severity text NOT NULL,
      outcome text NOT NULL,
      resource_type text NOT NULL,
      event_count bigint NOT NULL,
      PRIMARY KEY (tenant_id, bucket, action_type, severity, outcome, resource_type)
    )`.execute(db);

  // Partition upkeep runs with the owner's rights so the service role needs no DDL privilege.
  await sql`
    CREATE FUNCTION vigil_ensure_event_partitions(from_time timestamptz, to_time timestamptz)
    RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      month_start timestamptz := date_trunc('month', from_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
      partition_name text;
      created integer := 0;
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid WHERE c.relname = 'events') THEN
        RETURN 0; -- a TimescaleDB hypertable manages its own chunks
      END IF;
      WHILE month_start <= to_time LOOP
        partition_name := 'events_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(partition_name) IS NULL THEN
          BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
              partition_name, month_start, month_start + interval '1 month');
            created := created + 1;
          EXCEPTION WHEN duplicate_table THEN NULL; -- another worker created it first
          END;
        END IF;
        month_start := month_start + interval '1 month';
      END LOOP;
      RETURN created;
    END $$`.execute(db);
  await sql`SELECT vigil_ensure_event_partitions(now() - interval '13 months', now() + interval '2 months')`.execute(
    db,
  );

  // Row-level security on every table that holds tenant data.
  for (const table of [
    "events",
    "event_ids",
    "event_conflicts",
    "event_rollups_hourly",
    "tenant_sequences",
  ]) {
    await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(db);
    await sql
      .raw(
        `CREATE POLICY tenant_isolation ON ${table}
         USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
         WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`,
      )
      .execute(db);
  }

  await sql`GRANT USAGE ON SCHEMA public TO vigil_app`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys TO vigil_app`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE ON tenant_sequences TO vigil_app`.execute(db);
  await sql`GRANT SELECT, INSERT, DELETE ON events, event_ids, event_conflicts TO vigil_app`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON event_rollups_hourly TO vigil_app`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_ensure_event_partitions(timestamptz, timestamptz) TO vigil_app`.execute(
    db,
  );
  // No grants on the partitions themselves: the service role reaches rows only through the parent,
  // where the policies apply.
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    "event_rollups_hourly",
    "event_conflicts",
    "event_ids",
    "events",
    "api_keys",
    "tenant_sequences",
    "tenants",
  ]) {
    await sql.raw(`DROP TABLE IF EXISTS ${table} CASCADE`).execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS vigil_ensure_event_partitions(timestamptz, timestamptz)`.execute(db);
}
