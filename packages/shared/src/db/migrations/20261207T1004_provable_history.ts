// Provable history (spec §13): the per-event salt and hash version, erasure, the per-tenant Merkle
// tree stored as C2SP tiles (height 8), and signed checkpoints with their history.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

const TENANT_POLICY = `USING (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('vigil.tenant_id', true), '')::uuid)`;

export async function up(db: Kysely<unknown>): Promise<void> {
  // hash_version 1: hash without salt (events stored before this migration); 2: salt in the hash.
  // `erased` holds {at, by, fields} once the event's personal data and salt were removed.
  await sql`
    ALTER TABLE events
      ADD COLUMN salt text,
      ADD COLUMN hash_version smallint NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2)),
      ADD COLUMN erased jsonb`.execute(db);

  // The tree's size lives next to the sequence counter and moves under the same row lock; it is
  // behind last_seq only for history stored before this migration, until the backfill caught up.
  await sql`ALTER TABLE tenant_sequences ADD COLUMN tree_size bigint NOT NULL DEFAULT 0`.execute(db);

  // One row per tile (C2SP tlog-tiles, height 8): `hashes` is the tile's concatenated 32-byte
  // hashes and only ever grows (a partial tile becomes full); the trigger refuses any other change.
  await sql`
    CREATE TABLE tlog_tiles (
      tenant_id uuid NOT NULL,
      level smallint NOT NULL CHECK (level >= 0),
      idx bigint NOT NULL CHECK (idx >= 0),
      hashes bytea NOT NULL CHECK (length(hashes) % 32 = 0 AND length(hashes) BETWEEN 32 AND 8192),
      PRIMARY KEY (tenant_id, level, idx)
    )`.execute(db);
  await sql`
    CREATE FUNCTION vigil_tlog_tile_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.tenant_id <> OLD.tenant_id OR NEW.level <> OLD.level OR NEW.idx <> OLD.idx
         OR length(NEW.hashes) < length(OLD.hashes)
         OR substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) <> OLD.hashes THEN
        RAISE EXCEPTION 'tlog tiles only grow: stored hashes cannot change' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER tlog_tiles_append_only BEFORE UPDATE ON tlog_tiles
    FOR EACH ROW EXECUTE FUNCTION vigil_tlog_tile_append_only()`.execute(db);

  // Signed checkpoints, kept forever. The primary key is the rule "a log never signs two different
  // roots for one size"; the service role may add rows but never change one.
  await sql`
    CREATE TABLE tlog_checkpoints (
      tenant_id uuid NOT NULL,
      tree_size bigint NOT NULL CHECK (tree_size >= 0),
      root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
      note text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, tree_size)
    )`.execute(db);
  await sql`CREATE INDEX tlog_checkpoints_created ON tlog_checkpoints (tenant_id, created_at)`.execute(db);

  for (const table of ["tlog_tiles", "tlog_checkpoints"]) {
    await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(db);
    await sql.raw(`CREATE POLICY tenant_isolation ON ${table} ${TENANT_POLICY}`).execute(db);
  }

  // Public halves of the checkpoint keys seen signing, with the window they signed in (for
  // GET /api/v1/checkpoints/keys). The private keys never reach the database.
  await sql`
    CREATE TABLE tlog_signing_keys (
      verifier_key text PRIMARY KEY,
      key_name text NOT NULL,
      key_id text NOT NULL,
      first_signed_at timestamptz NOT NULL DEFAULT now(),
      last_signed_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`GRANT SELECT, INSERT, UPDATE ON tlog_tiles TO vigil_app`.execute(db);
  await sql`GRANT SELECT, INSERT ON tlog_checkpoints TO vigil_app`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE ON tlog_signing_keys TO vigil_app`.execute(db);

  // Tenants whose tree needs work: a checkpoint (grown since the last one) or a backfill (behind
  // the sequence). Runs as the owner so one process can see every tenant; returns no event data.
  await sql`
    CREATE FUNCTION vigil_tlog_pending()
    RETURNS TABLE (tenant_id uuid, tree_size bigint, last_seq bigint, checkpoint_size bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
      SELECT s.tenant_id, s.tree_size, s.last_seq, c.size
      FROM tenant_sequences s
      LEFT JOIN LATERAL (SELECT max(tree_size) AS size FROM tlog_checkpoints c WHERE c.tenant_id = s.tenant_id) c ON true
      WHERE s.tree_size < s.last_seq OR s.tree_size > coalesce(c.size, 0)
    $$`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_tlog_pending() TO vigil_app`.execute(db);

  // Erasure (GDPR art. 17): the service role has no UPDATE on events; this narrow function clears
  // only the personal-data fields it is given (from a fixed list) and the salt, of one event of the
  // tenant the transaction is scoped to, and marks it erased. seq, id, hash and chain stay.
  await sql`
    CREATE FUNCTION vigil_erase_event(p_id uuid, p_fields text[], p_by text)
    RETURNS TABLE (seq bigint, erased jsonb)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    #variable_conflict use_column
    DECLARE
      scoped uuid := nullif(current_setting('vigil.tenant_id', true), '')::uuid;
      target record;
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
    END $$`.execute(db);
  await sql`REVOKE ALL ON FUNCTION vigil_erase_event(uuid, text[], text) FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION vigil_erase_event(uuid, text[], text) TO vigil_app`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS vigil_erase_event(uuid, text[], text)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS vigil_tlog_pending()`.execute(db);
  await sql`DROP TABLE IF EXISTS tlog_signing_keys, tlog_checkpoints, tlog_tiles`.execute(db);
  await sql`DROP FUNCTION IF EXISTS vigil_tlog_tile_append_only()`.execute(db);
  await sql`ALTER TABLE tenant_sequences DROP COLUMN IF EXISTS tree_size`.execute(db);
  await sql`ALTER TABLE events DROP COLUMN IF EXISTS salt, DROP COLUMN IF EXISTS hash_version, DROP COLUMN IF EXISTS erased`.execute(
    db,
  );
}
