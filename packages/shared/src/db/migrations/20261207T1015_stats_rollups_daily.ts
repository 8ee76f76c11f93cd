// Daily counts beside the hourly ones (event_rollups_hourly): stats over a 30-day window read whole
// days from here, whole hours of its two edge days from the hourly table and raw events only for
// its two partial edge hours, so their cost follows days x dimension combinations, not hours x
// combinations (up to ~24 combinations an hour made the hourly rows grow with the window's hours).
// Kept in the same worker statement and decremented on the same paths as the hourly table; no
// erasable field is a stats dimension, so vigil_erase_event does not touch it.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

/** The partition function of 20261207T1013_user_rollups_daily, with the daily counts of the emptied month removed too. */
function dropExpiredPartitions(withDailyRollups: boolean) {
  const dailyRollups = withDailyRollups
    ? "DELETE FROM event_rollups_daily r WHERE r.day >= month_start AND r.day < month_end;"
    : "";
  return sql`
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
        DELETE FROM event_user_rollups_hourly r WHERE r.bucket >= month_start AND r.bucket < month_end;
        DELETE FROM event_user_rollups_daily r WHERE r.day >= month_start AND r.day < month_end;
        ${sql.raw(dailyRollups)}
        IF droppable THEN
          EXECUTE format('DROP TABLE %I', part.name);
        ELSE
          EXECUTE format('TRUNCATE TABLE %I', part.name);
        END IF;
      END LOOP;
    END $$`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE event_rollups_daily (
      tenant_id uuid NOT NULL,
      day timestamptz NOT NULL,
      action_type text NOT NULL,
      severity text NOT NULL,
      outcome text NOT NULL,
      resource_type text NOT NULL,
      event_count bigint NOT NULL,
      PRIMARY KEY (tenant_id, day, action_type, severity, outcome, resource_type)
    )`.execute(db);
  await sql`ALTER TABLE event_rollups_daily ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`
    CREATE POLICY tenant_isolation ON event_rollups_daily
    USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON event_rollups_daily TO vigil_app`.execute(db);

  // As in 20261207T1013_user_rollups: batches in flight wait for this commit, so none is missed.
  await sql`LOCK TABLE event_rollups_hourly IN SHARE ROW EXCLUSIVE MODE`.execute(db);
  await sql`
    INSERT INTO event_rollups_daily (tenant_id, day, action_type, severity, outcome, resource_type, event_count)
    SELECT tenant_id, date_trunc('day', bucket, 'UTC'), action_type, severity, outcome, resource_type, sum(event_count)
    FROM event_rollups_hourly GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(event_count) > 0`.execute(db);
  await dropExpiredPartitions(true).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropExpiredPartitions(false).execute(db);
  await sql`DROP TABLE IF EXISTS event_rollups_daily`.execute(db);
}
