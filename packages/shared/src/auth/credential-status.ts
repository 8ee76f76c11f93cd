// Re-checks credentials that were accepted earlier (open streams): is the API key still live, the
// user still active in the same tenant, the tenant still active? A few set-based queries answer it
// for any number of credentials at once, so re-checking every open stream stays cheap.
import type { Queryable } from "../db/database.ts";
import type { Principal } from "./principal.ts";

export type CredentialVerdict = "ok" | "revoked" | "tenant_not_active";

export interface CredentialCheck {
  principal: Principal;
  /** The tenant the credential acts on (for a platform admin, the tenant it named). */
  tenantId: string;
}

interface KeyRow {
  id: string;
  live: boolean;
  can_read: boolean;
  tenant_status: string;
}

interface UserRow {
  id: string;
  status: string;
  tenant_id: string | null;
  tenant_status: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One verdict per check, in order. Platform admins are not bound to a tenant, so a suspension does
 * not end their streams; tokens of an external identity provider (and viewer tokens) are checked
 * for their tenant's state only, as there is no local account behind them.
 */
export async function credentialVerdicts(
  sql: Queryable,
  checks: readonly CredentialCheck[],
): Promise<CredentialVerdict[]> {
  const keyIds = new Set<string>();
  const userIds = new Set<string>();
  const tenantIds = new Set<string>();
  for (const { principal, tenantId } of checks) {
    if (principal.kind === "api_key") keyIds.add(principal.keyId);
    else if (principal.kind === "user" && UUID.test(principal.userId)) userIds.add(principal.userId);
    else tenantIds.add(tenantId);
  }
  const [keys, users, tenants] = await Promise.all([
    keyIds.size === 0
      ? []
      : sql<KeyRow[]>`
          select k.id, k.revoked_at is null as live, 'read' = any(k.scopes) as can_read, t.status as tenant_status
          from api_keys k join tenants t on t.id = k.tenant_id
          where k.id = any(${[...keyIds]}::uuid[])`,
    userIds.size === 0
      ? []
      : sql<UserRow[]>`
          select u.id, u.status, u.tenant_id, t.status as tenant_status
          from users u left join tenants t on t.id = u.tenant_id
          where u.id = any(${[...userIds]}::uuid[])`,
    tenantIds.size === 0
      ? []
      : sql<{ id: string; status: string }[]>`
          select id, status from tenants where id = any(${[...tenantIds]}::uuid[])`,
  ]);
  const keyById = new Map(keys.map((row) => [row.id, row]));
  const userById = new Map(users.map((row) => [row.id, row]));
  const tenantStatus = new Map(tenants.map((row) => [row.id, row.status]));

  return checks.map(({ principal, tenantId }): CredentialVerdict => {
    if (principal.kind === "api_key") {
      const key = keyById.get(principal.keyId);
      if (!key?.live || !key.can_read) return "revoked";
      return key.tenant_status === "active" ? "ok" : "tenant_not_active";
    }
    if (principal.kind === "user" && UUID.test(principal.userId)) {
      const user = userById.get(principal.userId);
      if (!user || user.status !== "active" || user.tenant_id !== principal.tenantId) return "revoked";
      if (user.tenant_id === null) return "ok"; // a platform admin
      return user.tenant_status === "active" ? "ok" : "tenant_not_active";
    }
    if (principal.kind === "user" && principal.role === "admin" && principal.tenantId === null) return "ok";
    return tenantStatus.get(tenantId) === "active" ? "ok" : "tenant_not_active";
  });
}
