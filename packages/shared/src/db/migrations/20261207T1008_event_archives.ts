// Archive before deletion (spec §12): per-tenant archive settings; event_archives, one row per S3
// object of archived events (written in the transaction that deletes them); the removal record
// names the object; restored_events, where restored events are read back without touching the
// events table (ADR 0008). The partition function no longer empties a partition holding rows of
// an archive-enabled tenant: those rows leave only through the archive path, after their objects
// and manifest are written.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

const tenantIsolation = (table: string) => sql`
  CREATE POLICY tenant_isolation ON ${sql.raw(table)}
  USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE tenants
      ADD COLUMN archive_enabled boolean NOT NULL DEFAULT false,
      ADD COLUMN archive_bucket text,
      ADD COLUMN archive_prefix text NOT NULL DEFAULT ''`.execute(db);
  await sql`ALTER TABLE event_removed_ranges ADD COLUMN archive_key text`.execute(db);

  await sql`
    CREATE TABLE event_archives (
      tenant_id uuid NOT NULL,
      from_seq bigint NOT NULL,
      to_seq bigint NOT NULL,
      event_count integer NOT NULL,
      min_occurred_at timestamptz NOT NULL,
      max_occurred_at timestamptz NOT NULL,
      bucket text NOT NULL,
      object_key text NOT NULL,
      manifest_key text NOT NULL,
      sha256 text NOT NULL,
      bytes bigint NOT NULL,
      events_sha256 text NOT NULL,
      last_chain_hash text NOT NULL,
      reason text NOT NULL CHECK (reason IN ('cleanup', 'retention')),
      archived_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, from_seq),
      CHECK (from_seq >= 1 AND to_seq >= from_seq AND event_count = to_seq - from_seq + 1)
    )`.execute(db);
  await sql`CREATE INDEX event_archives_time ON event_archives (tenant_id, min_occurred_at)`.execute(db);
  await sql`ALTER TABLE event_archives ENABLE ROW LEVEL SECURITY`.execute(db);
  await tenantIsolation("event_archives").execute(db);
  // Like removal records, archive records are only ever added.
  await sql`GRANT SELECT, INSERT ON event_archives TO vigil_app`.execute(db);

  await sql`
    CREATE TABLE restored_events (
      tenant_id uuid NOT NULL,
      seq bigint NOT NULL,
      id uuid NOT NULL,
      occurred_at timestamptz NOT NULL,
      received_at timestamptz NOT NULL,
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
      salt text,
      hash_version smallint NOT NULL,
      erased jsonb,
      archive_from_seq bigint NOT NULL,
      restored_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, seq)
    )`.execute(db);
  await sql`CREATE INDEX restored_events_time ON restored_events (tenant_id, occurred_at, seq)`.execute(db);
  await sql`ALTER TABLE restored_events ENABLE ROW LEVEL SECURITY`.execute(db);
  await tenantIsolation("restored_events").execute(db);
  await sql`GRANT SELECT, INSERT ON restored_events TO vigil_app`.execute(db);

  // As in 20261121T2340, plus: a partition holding any row of an archive-enabled tenant is blocked.
  await sql`
    CREATE OR REPLACE FUNCTION vigil_drop_expired_event_partitions()
    RETURNS TABLE (partition_name text, dropped boolean, tenant_id uuid, removed bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '3s' AS $$
    DECLARE
      at_time timestamptz := now(); -- never a parameter: a caller must not be able to move the clock
      longest_retention integer := (SELECT coalesce(max(retention_days), 0) FROM tenants);
      part record;
      month_start timestamptz;
      month_end timestamptz;
      blocked boolean;
      has_rows boolean;
      droppable boolean;
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid WHERE c.relname = 'events') THEN
        RETURN; -- a TimescaleDB hypertable: rows are removed in batches instead
      END IF;
      FOR part IN
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_p[0-9]{4}_[0-9]{2}$'
        ORDER BY c.relname
      LOOP
        month_start := to_timestamp(substr(part.name, 9), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC';
        month_end := month_start + interval '1 month';
        CONTINUE WHEN month_end > at_time - interval '1 day';
        droppable := month_end <= at_time - make_interval(days => longest_retention);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', part.name) INTO has_rows;
        CONTINUE WHEN NOT has_rows AND NOT droppable;
        EXECUTE format('LOCK TABLE %I IN EXCLUSIVE MODE', part.name);
        EXECUTE format(
          'SELECT EXISTS (SELECT 1 FROM tenants t WHERE ($1 > $2 - make_interval(days => t.retention_days) OR t.archive_enabled)
             AND EXISTS (SELECT 1 FROM %I e WHERE e.tenant_id = t.id))', part.name)
          INTO blocked USING month_end, at_time;
        CONTINUE WHEN blocked;
        RETURN QUERY
          SELECT part.name::text, droppable, r.tenant_id, sum(r.event_count)::bigint FROM event_rollups_hourly r
          WHERE r.bucket >= month_start AND r.bucket < month_end GROUP BY r.tenant_id;
        IF NOT FOUND THEN
          RETURN QUERY SELECT part.name::text, droppable, NULL::uuid, 0::bigint;
        END IF;
        EXECUTE format(
          'INSERT INTO event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason)
           SELECT tenant_id, min(seq), max(seq), (array_agg(chain_hash ORDER BY seq DESC))[1], ''retention''
           FROM (SELECT tenant_id, seq, chain_hash,
                        seq - row_number() OVER (PARTITION BY tenant_id ORDER BY seq) AS island
                 FROM %I) removed
           GROUP BY tenant_id, island', part.name);
        EXECUTE format('DELETE FROM event_ids i USING %I e WHERE i.tenant_id = e.tenant_id AND i.id = e.id', part.name);
        DELETE FROM event_rollups_hourly r WHERE r.bucket >= month_start AND r.bucket < month_end;
        IF droppable THEN
          EXECUTE format('DROP TABLE %I', part.name);
        ELSE
          EXECUTE format('TRUNCATE TABLE %I', part.name);
        END IF;
      END LOOP;
    END $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS restored_events`.execute(db);
  await sql`DROP TABLE IF EXISTS event_archives`.execute(db);
  await sql`ALTER TABLE event_removed_ranges DROP COLUMN IF EXISTS archive_key`.execute(db);
  await sql`ALTER TABLE tenants DROP COLUMN archive_enabled, DROP COLUMN archive_bucket, DROP COLUMN archive_prefix`.execute(
    db,
  );
}
