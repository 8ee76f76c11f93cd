// Retention: a function that empties (TRUNCATE) or drops whole monthly event partitions once every
// tenant's retention allows it. The services' role may not DROP, so the function runs with the owner's rights
// (SECURITY DEFINER) and decides by itself what is safe; callers cannot name a partition.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A monthly partition events_pYYYY_MM is emptied when no tenant whose retention still covers
  // part of that month has a row in it (an index probe per such tenant, not a scan). It is kept
  // as an empty table (TRUNCATE) while some tenant could still back-fill events into that month,
  // and DROPped once the month lies beyond every tenant's retention (ingest refuses such events,
  // so no worker can need it again). Its event_ids rows go with it, and its rollup buckets, which
  // then count nothing. Each emptied partition is reported with the rows each tenant lost (from
  // the rollups), for the tenants' audit trail.
  // lock_timeout: TRUNCATE/DROP need a short exclusive lock; rather than queue ingest behind a
  // long-running reader, give up and let the row-by-row path (or the next sweep) do it.
  await sql`
    CREATE FUNCTION vigil_drop_expired_event_partitions()
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
        EXECUTE format('DELETE FROM event_ids i USING %I e WHERE i.tenant_id = e.tenant_id AND i.id = e.id', part.name);
        DELETE FROM event_rollups_hourly r WHERE r.bucket >= month_start AND r.bucket < month_end;
        IF droppable THEN
          EXECUTE format('DROP TABLE %I', part.name);
        ELSE
          EXECUTE format('TRUNCATE TABLE %I', part.name);
        END IF;
      END LOOP;
    END $$`.execute(db);
  await sql`REVOKE ALL ON FUNCTION vigil_drop_expired_event_partitions() FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_drop_expired_event_partitions() TO vigil_app`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS vigil_drop_expired_event_partitions()`.execute(db);
}
