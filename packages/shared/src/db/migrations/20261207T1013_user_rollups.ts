// Per-user hourly counts, so top users costs the number of (hour, user) pairs in the window, not
// the number of events: event_user_rollups_hourly, kept by the worker in the same statement as
// event_rollups_hourly and decremented wherever that table is (cleanup, archive, partition drop).
// Events without a user_id are not counted (top users never listed them). Backfilled from the
// events present; the partition function is replaced by one that also removes the user counts of
// the month it empties.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

/** The partition function of 20261207T1008, with the user rollups of the emptied month removed too. */
function dropExpiredPartitions(withUserRollups: boolean) {
  const userRollups = withUserRollups
    ? "DELETE FROM event_user_rollups_hourly r WHERE r.bucket >= month_start AND r.bucket < month_end;"
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
        ${sql.raw(userRollups)}
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
    CREATE TABLE event_user_rollups_hourly (
      tenant_id uuid NOT NULL,
      bucket timestamptz NOT NULL,
      user_id text NOT NULL,
      event_count bigint NOT NULL,
      PRIMARY KEY (tenant_id, bucket, user_id)
    )`.execute(db);
  await sql`ALTER TABLE event_user_rollups_hourly ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`
    CREATE POLICY tenant_isolation ON event_user_rollups_hourly
    USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON event_user_rollups_hourly TO vigil_app`.execute(db);

  // Workers write event_rollups_hourly in the statement that stores events: holding it here makes
  // a batch in flight wait for this commit, so no event lands between the backfill's snapshot and
  // the table's existence. (A worker of an older release does not keep this table: deploy the
  // worker with this migration, as with every schema change the worker writes to.)
  await sql`LOCK TABLE event_rollups_hourly IN SHARE ROW EXCLUSIVE MODE`.execute(db);
  await sql`
    INSERT INTO event_user_rollups_hourly (tenant_id, bucket, user_id, event_count)
    SELECT tenant_id, date_trunc('hour', occurred_at, 'UTC'), user_id, count(*)
    FROM events WHERE user_id IS NOT NULL GROUP BY 1, 2, 3`.execute(db);
  await dropExpiredPartitions(true).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropExpiredPartitions(false).execute(db);
  await sql`DROP TABLE IF EXISTS event_user_rollups_hourly`.execute(db);
}
