// Erasing an event's user_id (vigil_erase_event) takes the event off the per-user rollups too, and
// deletes a rollup row that no longer counts anything, so an erased user id is neither stored in
// nor answered from the rollups (top users read them since 20261207T1013_user_rollups). The rest of
// the function is as in 20261207T1004.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

/** The stored user_id, read under the row lock the UPDATE then takes anyway (null: not erasing it). */
const LOCK_ERASED_USER = `
      IF 'user_id' = ANY (p_fields) THEN
        SELECT e.user_id INTO erased_user FROM events e
        WHERE e.tenant_id = scoped AND e.occurred_at = target.occurred_at AND e.seq = target.seq
          AND e.id = p_id AND e.erased IS NULL
        FOR UPDATE;
      END IF;`;

/** After the row changed (FOUND from RETURN QUERY): one fewer for that user, hour and day. */
const UNCOUNT_ERASED_USER = `
      IF FOUND AND erased_user IS NOT NULL THEN
        UPDATE event_user_rollups_hourly r SET event_count = r.event_count - 1
        WHERE r.tenant_id = scoped AND r.bucket = date_trunc('hour', target.occurred_at, 'UTC') AND r.user_id = erased_user;
        DELETE FROM event_user_rollups_hourly r
        WHERE r.tenant_id = scoped AND r.bucket = date_trunc('hour', target.occurred_at, 'UTC') AND r.user_id = erased_user
          AND r.event_count <= 0;
        UPDATE event_user_rollups_daily r SET event_count = r.event_count - 1
        WHERE r.tenant_id = scoped AND r.day = date_trunc('day', target.occurred_at, 'UTC') AND r.user_id = erased_user;
        DELETE FROM event_user_rollups_daily r
        WHERE r.tenant_id = scoped AND r.day = date_trunc('day', target.occurred_at, 'UTC') AND r.user_id = erased_user
          AND r.event_count <= 0;
      END IF;`;

function eraseEventFunction(withUserRollups: boolean) {
  return sql`
    CREATE OR REPLACE FUNCTION vigil_erase_event(p_id uuid, p_fields text[], p_by text)
    RETURNS TABLE (seq bigint, erased jsonb)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    #variable_conflict use_column
    DECLARE
      scoped uuid := nullif(current_setting('vigil.tenant_id', true), '')::uuid;
      target record;
      ${sql.raw(withUserRollups ? "erased_user text;" : "")}
    BEGIN
      IF scoped IS NULL THEN
        RAISE EXCEPTION 'vigil_erase_event needs a tenant-scoped transaction' USING ERRCODE = 'insufficient_privilege';
      END IF;
      IF p_fields IS NULL OR cardinality(p_fields) = 0 OR NOT p_fields <@ ARRAY['user_id', 'session_id', 'ip_address',
           'user_agent', 'before_state', 'after_state', 'metadata']::text[] THEN
        RAISE EXCEPTION 'fields must be a non-empty subset of the erasable fields' USING ERRCODE = 'invalid_parameter_value';
      END IF;
      SELECT i.seq, i.occurred_at INTO target FROM event_ids i WHERE i.tenant_id = scoped AND i.id = p_id;
      IF NOT FOUND THEN RETURN; END IF;
      ${sql.raw(withUserRollups ? LOCK_ERASED_USER : "")}
      RETURN QUERY
        UPDATE events e SET
          user_id = CASE WHEN 'user_id' = ANY (p_fields) THEN NULL ELSE e.user_id END,
          session_id = CASE WHEN 'session_id' = ANY (p_fields) THEN NULL ELSE e.session_id END,
          ip_address = CASE WHEN 'ip_address' = ANY (p_fields) THEN NULL ELSE e.ip_address END,
          user_agent = CASE WHEN 'user_agent' = ANY (p_fields) THEN NULL ELSE e.user_agent END,
          before_state = CASE WHEN 'before_state' = ANY (p_fields) THEN NULL ELSE e.before_state END,
          after_state = CASE WHEN 'after_state' = ANY (p_fields) THEN NULL ELSE e.after_state END,
          metadata = CASE WHEN 'metadata' = ANY (p_fields) THEN NULL ELSE e.metadata END,
          salt = NULL,
          erased = jsonb_build_object('at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                      'by', p_by, 'fields', to_jsonb(p_fields))
        WHERE e.tenant_id = scoped AND e.occurred_at = target.occurred_at AND e.seq = target.seq
          AND e.id = p_id AND e.erased IS NULL
        RETURNING e.seq, e.erased;
      ${sql.raw(withUserRollups ? UNCOUNT_ERASED_USER : "")}
    END $$`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await eraseEventFunction(true).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await eraseEventFunction(false).execute(db);
}
