// Platform-admin verbs on tenants (spec §5): list, read, create, change status and retention.
// Each verb authorizes through `authorize`, writes in one transaction and queues its audit event
// in that transaction (see audit/admin-audit.ts).
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { applyArchivePatch, archiveSettingsPatchSchema } from "../archive/archive-settings.ts";
import { type ActionContext, recordAdminAction } from "../audit/admin-audit.ts";
import { authorize } from "../auth/principal.ts";
import { setTenant } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";
import {
  createTenant,
  findTenant,
  TENANT_COLUMNS,
  type Tenant,
  type TenantStatus,
  toTenant,
} from "./tenants.ts";

export const TENANT_STATUSES = ["active", "suspended", "inactive"] as const satisfies readonly TenantStatus[];

const tenantName = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine(isStorable, UNSTORABLE_MESSAGE);
const retentionDays = z
  .number("must be a number")
  .int("must be an integer")
  .min(1, "must be at least 1")
  .max(36_500, "must be at most 36500");
const tenantStatus = z.enum(TENANT_STATUSES, `must be one of ${TENANT_STATUSES.join(", ")}`);

export const tenantCreateSchema = z.strictObject({
  name: tenantName,
  retention_days: retentionDays.optional(),
  status: tenantStatus.optional(),
});

export const tenantPatchSchema = z
  .strictObject({
    name: tenantName.optional(),
    status: tenantStatus.optional(),
    retention_days: retentionDays.optional(),
    archive: archiveSettingsPatchSchema.optional(),
  })
  .refine(
    (patch) => Object.keys(patch).length > 0,
    "send at least one of name, status, retention_days, archive",
  );

export const tenantListQuerySchema = z.strictObject({
  name: z.string().min(1).max(200).refine(isStorable, UNSTORABLE_MESSAGE).optional(),
  status: tenantStatus.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export type TenantCreate = z.infer<typeof tenantCreateSchema>;
export type TenantPatch = z.infer<typeof tenantPatchSchema>;
export type TenantListQuery = z.infer<typeof tenantListQuerySchema>;

/** Tenants whose name contains `name` (case-insensitive) and/or with `status`, oldest first. */
export async function listTenants(ctx: ActionContext, query: TenantListQuery): Promise<Tenant[]> {
  authorize(ctx.principal, "tenants:manage");
  const pattern = query.name ? `%${query.name.replace(/[\\%_]/g, "\\$&")}%` : null;
  const rows = await ctx.db.sql<Parameters<typeof toTenant>[0][]>`
    select ${ctx.db.sql(TENANT_COLUMNS)} from tenants
    where (${pattern}::text is null or name ilike ${pattern})
      and (${query.status ?? null}::text is null or status = ${query.status ?? null})
    order by created_at, id
    limit ${query.limit}`;
  return rows.map(toTenant);
}

export async function getTenant(ctx: ActionContext, tenantId: string): Promise<Tenant> {
  authorize(ctx.principal, "tenants:manage");
  const tenant = await findTenant(ctx.db.sql, tenantId);
  if (!tenant) throw new VigilError("NOT_FOUND", "no tenant with that id");
  return tenant;
}

export async function addTenant(ctx: ActionContext, input: TenantCreate): Promise<Tenant> {
  authorize(ctx.principal, "tenants:manage");
  return ctx.db.sql.begin(async (tx) => {
    const id = randomUUID();
    // The new tenant's sequence row is tenant data, so it is written under that tenant's RLS scope.
    await setTenant(tx, id);
    const tenant = await createTenant(tx, { ...input, id });
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "CREATE",
      action: "tenant.create",
      resourceType: "tenant",
      resourceId: tenant.id,
      tenantId: tenant.id,
      after: { ...tenant },
    });
    return tenant;
  }) as Promise<Tenant>;
}

/**
 * Status and name are platform-admin decisions; retention and archive settings may also be changed
 * by the tenant's own admins (the spec's "cleanup, retention" row).
 */
export async function updateTenant(
  ctx: ActionContext,
  tenantId: string,
  patch: TenantPatch,
): Promise<Tenant> {
  const onlyRetention = patch.name === undefined && patch.status === undefined;
  if (onlyRetention) authorize(ctx.principal, "tenant:retention", tenantId);
  else authorize(ctx.principal, "tenants:manage");
  return ctx.db.sql.begin(async (tx) => {
    const rows = await tx<Parameters<typeof toTenant>[0][]>`
      select ${tx(TENANT_COLUMNS)} from tenants where id = ${tenantId} for update`;
    if (!rows[0]) throw new VigilError("NOT_FOUND", "no tenant with that id");
    const before = toTenant(rows[0]);
    const archive = patch.archive ? applyArchivePatch(before.archive, patch.archive) : before.archive;
    const updated = await tx<Parameters<typeof toTenant>[0][]>`
      update tenants set
        name = ${patch.name ?? before.name},
        status = ${patch.status ?? before.status},
        retention_days = ${patch.retention_days ?? before.retention_days},
        archive_enabled = ${archive.enabled},
        archive_bucket = ${archive.bucket},
        archive_prefix = ${archive.prefix},
        updated_at = now()
      where id = ${tenantId}
      returning ${tx(TENANT_COLUMNS)}`.catch((error: { code?: string }) => {
      if (error.code === "23505")
        throw new VigilError("CONFLICT", `a tenant named "${patch.name}" already exists`, [
          { path: "name", message: "already taken" },
        ]);
      throw error;
    });
    const after = toTenant(updated[0]!);
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "UPDATE",
      action:
        patch.status && patch.status !== before.status
          ? `tenant.${patch.status === "active" ? "activate" : patch.status === "suspended" ? "suspend" : "deactivate"}`
          : "tenant.update",
      resourceType: "tenant",
      resourceId: tenantId,
      tenantId,
      before: { ...before },
      after: { ...after },
    });
    return after;
  }) as Promise<Tenant>;
}

/** 404 unless the tenant exists (for verbs acting inside one). */
export async function requireTenant(ctx: ActionContext, tenantId: string): Promise<Tenant> {
  const tenant = await findTenant(ctx.db.sql, tenantId);
  if (!tenant) throw new VigilError("NOT_FOUND", "no tenant with that id");
  return tenant;
}
