// Removal records: every run of consecutive seqs that cleanup or retention deletes is written to
// event_removed_ranges in the same transaction as the delete, with the chain hash of the run's last
// row, so the verifier can tell a recorded removal from a silently deleted row. The partition
// function is replaced by one that records the rows of a partition before it empties it.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";
import * as retentionPartitionDrop from "./20261121T2236_retention_partition_drop.ts";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE event_removed_ranges (
      tenant_id uuid NOT NULL,
      from_seq bigint NOT NULL,
      to_seq bigint NOT NULL,
      last_chain_hash text NOT NULL,
      removed_at timestamptz NOT NULL DEFAULT now(),
      reason text NOT NULL CHECK (reason IN ('cleanup', 'retention')),
      PRIMARY KEY (tenant_id, from_seq),
      CHECK (from_seq >= 1 AND to_seq >= from_seq)
    )`.execute(db);
  await sql`ALTER TABLE event_removed_ranges ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`
    CREATE POLICY tenant_isolation ON event_removed_ranges
    USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`.execute(db);
  // Records are only ever added: the service role can neither rewrite nor remove one.
  await sql`GRANT SELECT, INSERT ON event_removed_ranges TO vigil_app`.execute(db);

  // As in 20261121T2236, plus: the partition is locked against writes before the checks, so no
  // row can slip in between recording the partition's runs and emptying it, and its runs
  // (gaps-and-islands over seq, per tenant) are recorded before TRUNCATE or DROP.
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
        -- Only months that every possible retention (at least one day) has left behind.
        CONTINUE WHEN month_end > at_time - interval '1 day';
        droppable := month_end <= at_time - make_interval(days => longest_retention);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', part.name) INTO has_rows;
        CONTINUE WHEN NOT has_rows AND NOT droppable;
        EXECUTE format('LOCK TABLE %I IN EXCLUSIVE MODE', part.name);
        EXECUTE format(
          'SELECT EXISTS (SELECT 1 FROM tenants t WHERE $1 > $2 - make_interval(days => t.retention_days)
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
  await sql`DROP FUNCTION IF EXISTS vigil_drop_expired_event_partitions()`.execute(db);
  await retentionPartitionDrop.up(db);
  await sql`DROP TABLE IF EXISTS event_removed_ranges`.execute(db);
}
