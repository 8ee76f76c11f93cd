// People and their credentials: users (tenant-bound, or platform admins with no tenant), rotating
// refresh tokens grouped in families, the EdDSA keys Vigil signs access tokens with, and the
// failed-login counters that throttle password guessing.
// Frozen in time: never edit after it lands; add a new migration instead.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // Credential tables are read before any tenant is known (login, token checks), like api_keys, so
  // they carry no RLS policy; the verbs in packages/shared/src/users and auth filter by tenant.
  await sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY,
      tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
      email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
      password_hash text NOT NULL,
      role text NOT NULL CHECK (role IN ('admin', 'tenant_admin', 'auditor')),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      created_by text,
      -- Platform admins have no tenant; tenant roles always have one.
      CHECK ((role = 'admin') = (tenant_id IS NULL))
    )`.execute(db);
  // Emails are the login name, so they are unique across the platform.
  await sql`CREATE UNIQUE INDEX users_email ON users (email)`.execute(db);
  await sql`CREATE INDEX users_tenant ON users (tenant_id, created_at)`.execute(db);

  await sql`
    CREATE TABLE refresh_tokens (
      id uuid PRIMARY KEY,
      family_id uuid NOT NULL,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      revoked_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)`.execute(db);
  await sql`CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id)`.execute(db);

  // The newest unretired key signs; retired keys keep verifying until the tokens they signed expire.
  await sql`
    CREATE TABLE signing_keys (
      kid text PRIMARY KEY,
      algorithm text NOT NULL CHECK (algorithm = 'EdDSA'),
      public_jwk jsonb NOT NULL,
      private_jwk text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz
    )`.execute(db);

  // Fixed-window counters of failed logins, keyed 'account:<email>' or 'ip:<address>', shared by
  // every api replica so guessing cannot be spread across them.
  await sql`
    CREATE TABLE login_failures (
      throttle_key text PRIMARY KEY,
      failures integer NOT NULL,
      window_started_at timestamptz NOT NULL
    )`.execute(db);

  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON users, refresh_tokens, login_failures TO vigil_app`.execute(
    db,
  );
  await sql`GRANT SELECT, INSERT, UPDATE ON signing_keys TO vigil_app`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["login_failures", "signing_keys", "refresh_tokens", "users"]) {
    await sql.raw(`DROP TABLE IF EXISTS ${table} CASCADE`).execute(db);
  }
}
