// Verbs on a tenant's users (tenant admins and auditors) and the first-start platform admin.
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { type ActionContext, recordAdminAction } from "../audit/admin-audit.ts";
import { authorize, principalId } from "../auth/principal.ts";
import type { Queryable } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { requireTenant } from "../tenants/manage-tenants.ts";
import { hashPassword } from "./passwords.ts";
import { normalizeEmail, toUser, type User, type UserRow } from "./user-records.ts";

export const TENANT_ROLES = ["tenant_admin", "auditor"] as const;

export const userCreateSchema = z.strictObject({
  email: z.email("must be an email address").max(320, "must be at most 320 characters"),
  password: z.string().min(12, "must be at least 12 characters").max(1024, "must be at most 1024 characters"),
  role: z.enum(TENANT_ROLES, `must be one of ${TENANT_ROLES.join(", ")}`),
});
export type UserCreate = z.infer<typeof userCreateSchema>;

async function insertUser(
  sql: Queryable,
  input: { tenantId: string | null; email: string; password: string; role: User["role"]; createdBy: string },
): Promise<User | null> {
  const rows = await sql<UserRow[]>`
    insert into users (id, tenant_id, email, password_hash, role, created_by)
    values (${randomUUID()}, ${input.tenantId}, ${normalizeEmail(input.email)}, ${await hashPassword(input.password)}, ${input.role}, ${input.createdBy})
    on conflict (email) do nothing
    returning id, tenant_id, email, role, status, created_at`;
  return rows[0] ? toUser(rows[0]) : null;
}

export async function addUser(ctx: ActionContext, tenantId: string, input: UserCreate): Promise<User> {
  authorize(ctx.principal, "tenant:users", tenantId);
  await requireTenant(ctx, tenantId);
  return ctx.db.sql.begin(async (tx) => {
    const user = await insertUser(tx, {
      tenantId,
      email: input.email,
      password: input.password,
      role: input.role,
      createdBy: principalId(ctx.principal),
    });
    if (!user)
      throw new VigilError("CONFLICT", "a user with that email already exists", [
        { path: "email", message: "already taken" },
      ]);
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "CREATE",
      action: "user.create",
      resourceType: "user",
      resourceId: user.id,
      tenantId,
      after: { ...user },
    });
    return user;
  }) as Promise<User>;
}

export async function listUsers(ctx: ActionContext, tenantId: string): Promise<User[]> {
  authorize(ctx.principal, "tenant:users", tenantId);
  await requireTenant(ctx, tenantId);
  const rows = await ctx.db.sql<UserRow[]>`
    select id, tenant_id, email, role, status, created_at from users where tenant_id = ${tenantId} order by created_at, id`;
  return rows.map(toUser);
}

/**
 * First start: creates the platform admin unless one exists. With no configured password one is
 * generated and returned so the caller can print it once; it is stored only as a hash.
 */
export async function ensurePlatformAdmin(
  sql: Queryable,
  input: { email: string; password?: string },
): Promise<{ created: false } | { created: true; email: string; generatedPassword?: string }> {
  const existing = await sql`select 1 from users where role = 'admin' limit 1`;
  if (existing.length > 0) return { created: false };
  const generatedPassword = input.password ? undefined : randomBytes(18).toString("base64url");
  const user = await insertUser(sql, {
    tenantId: null,
    email: input.email,
    password: input.password ?? generatedPassword!,
    role: "admin",
    createdBy: "bootstrap",
  });
  if (!user) return { created: false }; // another process won the race, or the email belongs to a tenant user
  return { created: true, email: user.email, ...(generatedPassword ? { generatedPassword } : {}) };
}
