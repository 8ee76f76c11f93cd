// Tenant records: the control plane's view of who may send and read events.
import { randomUUID } from "node:crypto";
import type { ArchiveSettings } from "../archive/archive-settings.ts";
import type { Queryable } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";

export type TenantStatus = "active" | "suspended" | "inactive";

export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  retention_days: number;
  created_at: string;
  /** Archive before deletion (spec §12). */
  archive: ArchiveSettings;
}

/** The built-in tenant where Vigil records its own admin actions, logins, exports and cleanups. */
export const SYSTEM_TENANT_ID = "00000000-0000-7000-8000-000000000000";
export const SYSTEM_TENANT_NAME = "vigil-system";

interface TenantRow {
  id: string;
  name: string;
  status: TenantStatus;
  retention_days: number;
  created_at: Date;
  archive_enabled: boolean;
  archive_bucket: string | null;
  archive_prefix: string;
}

/** The columns `toTenant` reads. */
export const TENANT_COLUMNS = [
  "id",
  "name",
  "status",
  "retention_days",
  "created_at",
  "archive_enabled",
  "archive_bucket",
  "archive_prefix",
];

export function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    retention_days: row.retention_days,
    created_at: row.created_at.toISOString(),
    archive: { enabled: row.archive_enabled, bucket: row.archive_bucket, prefix: row.archive_prefix },
  };
}

export async function createTenant(
  sql: Queryable,
  input: { name: string; retention_days?: number; id?: string; status?: TenantStatus },
): Promise<Tenant> {
  const id = input.id ?? randomUUID();
  const rows = await sql<TenantRow[]>`
    insert into tenants (id, name, status, retention_days)
    values (${id}, ${input.name}, ${input.status ?? "active"}, ${input.retention_days ?? 365})
    on conflict (name) do nothing
    returning ${sql(TENANT_COLUMNS)}`;
  if (!rows[0])
    throw new VigilError("CONFLICT", `a tenant named "${input.name}" already exists`, [
      { path: "name", message: "already taken" },
    ]);
  await sql`insert into tenant_sequences (tenant_id) values (${id}) on conflict do nothing`.catch(
    () => undefined,
  );
  return toTenant(rows[0]);
}

export async function findTenant(sql: Queryable, id: string): Promise<Tenant | null> {
  const rows = await sql<TenantRow[]>`select ${sql(TENANT_COLUMNS)} from tenants where id = ${id}`;
  return rows[0] ? toTenant(rows[0]) : null;
}

/** Ensures the system tenant exists (idempotent; called at start-up). */
export async function ensureSystemTenant(sql: Queryable): Promise<void> {
  await sql`
    insert into tenants (id, name, status, retention_days) values (${SYSTEM_TENANT_ID}, ${SYSTEM_TENANT_NAME}, 'active', 3650)
    on conflict do nothing`;
}
