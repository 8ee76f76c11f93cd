// Applies pending migrations with the owner's credentials (DATABASE_ADMIN_URL). Services never run
// DDL themselves; `pnpm vigil migrate` (or the dev stack) calls this once per deploy.
import { Kysely, type MigrationResultSet, Migrator } from "kysely";
import { PostgresJSDialect } from "kysely-postgres-js";
import postgres from "postgres";
import { migrations } from "./migrations/index.ts";

export async function migrateToLatest(adminUrl: string): Promise<MigrationResultSet> {
  const db = new Kysely<unknown>({
    dialect: new PostgresJSDialect({ postgres: postgres(adminUrl, { max: 1, onnotice: () => {} }) }),
  });
  try {
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    const result = await migrator.migrateToLatest();
    if (result.error) throw result.error;
    return result;
  } finally {
    await db.destroy();
  }
}

/** Creates (or updates the password of) the login role the services use, as a member of vigil_app. */
export async function ensureServiceRole(adminUrl: string, user: string, password: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    if (!/^[a-z_][a-z0-9_]*$/.test(user)) throw new Error(`invalid role name: ${user}`);
    const exists = await sql`SELECT 1 FROM pg_roles WHERE rolname = ${user}`;
    const verb = exists.length ? "ALTER" : "CREATE";
    await sql.unsafe(`${verb} ROLE ${user} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${quoteLiteral(password)}`);
    await sql.unsafe(`GRANT vigil_app TO ${user}`);
  } finally {
    await sql.end();
  }
}

function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
