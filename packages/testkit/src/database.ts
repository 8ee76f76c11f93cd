// One migrated template database per run; each test file clones it in milliseconds and gets its
// own database, reached by the services' non-owner role so row-level security is in force.
import { randomBytes } from "node:crypto";
import { createSql, Database } from "@vigil/shared/db/database";
import { ensureServiceRole, migrateToLatest } from "@vigil/shared/db/migrate";
import { ensureSystemTenant } from "@vigil/shared/tenants/tenants";
import postgres from "postgres";

export const TEMPLATE_DATABASE = "vigil_template";
export const SERVICE_ROLE = { user: "vigil_service", password: "vigil-service-test" };

function withDatabase(url: string, database: string, user?: { user: string; password: string }): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  if (user) {
    parsed.username = user.user;
    parsed.password = user.password;
  }
  return parsed.toString();
}

export async function prepareTemplateDatabase(superuserUrl: string): Promise<void> {
  const admin = postgres(superuserUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE}`);
    await admin.unsafe(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const templateUrl = withDatabase(superuserUrl, TEMPLATE_DATABASE);
  await migrateToLatest(templateUrl);
  await ensureServiceRole(templateUrl, SERVICE_ROLE.user, SERVICE_ROLE.password);
  const sql = postgres(templateUrl, { max: 1, onnotice: () => {} });
  try {
    await ensureSystemTenant(sql);
  } finally {
    await sql.end();
  }
}

export interface TestDatabase {
  name: string;
  /** Owner/superuser URL: migrations and assertions that must see past RLS. */
  adminUrl: string;
  /** The services' URL (non-owner role, RLS enforced). */
  appUrl: string;
  /** A pool on the app URL, for tests that call shared verbs directly. */
  db: Database;
  /** A superuser connection, for assertions over every tenant. */
  admin: postgres.Sql;
  drop: () => Promise<void>;
}

export async function createTestDatabase(pgPort: number, pgPassword: string): Promise<TestDatabase> {
  const superuserUrl = `postgres://postgres:${encodeURIComponent(pgPassword)}@127.0.0.1:${pgPort}/postgres`;
  const name = `vigil_t_${randomBytes(6).toString("hex")}`;
  const root = postgres(superuserUrl, { max: 1, onnotice: () => {} });
  // CREATE DATABASE ... TEMPLATE fails while another session is connected to the template.
  for (let attempt = 0; ; attempt++) {
    try {
      await root.unsafe(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
      break;
    } catch (error) {
      if (attempt > 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    }
  }
  const adminUrl = withDatabase(superuserUrl, name);
  const appUrl = withDatabase(superuserUrl, name, SERVICE_ROLE);
  const db = new Database({ url: appUrl, poolSize: 4, applicationName: "vigil-test" });
  // Same postgres.js setup as the services' pools (int8 as number), as the superuser.
  const admin = createSql({ url: adminUrl, poolSize: 2, applicationName: "vigil-test-admin" });
  return {
    name,
    adminUrl,
    appUrl,
    db,
    admin,
    drop: async () => {
      await db.close();
      await admin.end();
      await root.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await root.end();
    },
  };
}
