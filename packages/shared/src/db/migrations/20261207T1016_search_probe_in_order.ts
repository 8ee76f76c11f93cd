// Full-text probe in page order. vigil_search_match_keys (20261207T1014) returns every match in the
// window, in no order, so a phrase's cost grew with the window's matches and with the rows the GIN
// index cannot rule out ('res' <-> '-37' is rechecked on every row holding both words, in whole
// partitions). This probe walks the window in time slices from the page's end — the newest hour
// first for a newest-first page (the oldest for oldest-first), each slice twice as wide as the one
// before — and stops once the slices read hold `p_enough` matches strictly inside the window: a page
// of them is then exactly the first page, because every match not read lies beyond every match read.
// Each slice is planned with its real bounds, so PostgreSQL intersects the tenant's GIN bitmap with
// the time range of the primary key (or reads the slice's few rows) and rechecks only that slice's
// candidates. `p_enough` null reads the whole window in one slice (the 1014 probe's behaviour: a
// page in another order, or with more filters than `q`). Keys only, the caller's tenant only (from
// the RLS setting), at most `p_limit` keys, as in 1014; 1014's function stays for running code.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

const SIGNATURE =
  "vigil_search_match_keys_in_order(tsquery, timestamptz, timestamptz, timestamptz, integer, integer, boolean)";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION vigil_search_match_keys_in_order(p_query tsquery, p_from timestamptz,
      p_to timestamptz, p_until timestamptz, p_limit integer, p_enough integer, p_ascending boolean)
    RETURNS TABLE (seq bigint, occurred_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
      SET enable_indexscan = off SET enable_seqscan = off AS $$
    DECLARE
      v_tenant uuid := nullif(current_setting('vigil.tenant_id', true), '')::uuid;
      v_limit integer := least(greatest(p_limit, 0), 100000);
      -- The window's upper end (exclusive 'to', inclusive cursor time); null: open (events may be
      -- stamped a little in the future).
      v_upper timestamptz := least(p_to, p_until);
      v_width interval := interval '1 hour';
      v_lo timestamptz;
      v_hi timestamptz;
      -- One slice for the whole window: no page size to stop at, or no lower bound to slice toward.
      v_last boolean := p_enough IS NULL OR p_from IS NULL;
      v_found integer := 0;
      -- Matches that no cursor can exclude: strictly inside the cursor's bound (a row at exactly the
      -- cursor's time may sit before the cursor's seq and be dropped when read back).
      v_inside integer := 0;
      v_row record;
    BEGIN
      IF v_last OR p_ascending THEN
        v_lo := p_from;
      ELSE
        v_lo := coalesce(v_upper, greatest(now(), p_from)) - v_width;
      END IF;
      LOOP
        IF NOT v_last AND p_ascending THEN
          v_hi := v_lo + v_width;
          IF v_hi >= coalesce(v_upper, now()) THEN
            v_hi := NULL;
            v_last := true;
          END IF;
        ELSIF NOT v_last AND v_lo <= p_from THEN
          v_lo := p_from;
          v_last := true;
        END IF;
        FOR v_row IN EXECUTE
          'SELECT e.seq, e.occurred_at FROM events e
            WHERE e.tenant_id = $1 AND e.search_vector @@ $2 AND ($3::timestamptz IS NULL OR e.occurred_at >= $3)
              AND ($4::timestamptz IS NULL OR e.occurred_at < $4)
              AND ($5::timestamptz IS NULL OR e.occurred_at <= $5)
              AND ($6::timestamptz IS NULL OR e.occurred_at >= $6)
              AND ($7::timestamptz IS NULL OR e.occurred_at < $7)
            LIMIT $8'
          USING v_tenant, p_query, p_from, p_to, p_until, v_lo, v_hi, v_limit - v_found
        LOOP
          seq := v_row.seq;
          occurred_at := v_row.occurred_at;
          RETURN NEXT;
          v_found := v_found + 1;
          IF (p_until IS NULL OR v_row.occurred_at < p_until)
              AND (NOT p_ascending OR v_row.occurred_at > p_from) THEN
            v_inside := v_inside + 1;
          END IF;
        END LOOP;
        EXIT WHEN v_last OR v_found >= v_limit OR v_inside >= p_enough;
        v_width := v_width * 2;
        IF p_ascending THEN
          v_lo := v_hi;
        ELSE
          v_hi := v_lo;
          v_lo := v_hi - v_width;
        END IF;
      END LOOP;
    END $$`.execute(db);
  await sql.raw(`REVOKE ALL ON FUNCTION ${SIGNATURE} FROM PUBLIC`).execute(db);
  await sql.raw(`GRANT EXECUTE ON FUNCTION ${SIGNATURE} TO vigil_app`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`DROP FUNCTION ${SIGNATURE}`).execute(db);
}
