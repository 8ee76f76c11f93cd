// Who is calling, after authentication. Every authorization decision is made from this value by
// `authorize` below: the spec's role table lives in exactly one place.
import { VigilError } from "../errors/vigil-error.ts";
import type { ViewerPins } from "../viewer/viewer-pins.ts";
import type { ApiKeyScope } from "./api-keys.ts";

export const ROLES = ["admin", "tenant_admin", "auditor"] as const;
export type Role = (typeof ROLES)[number];

export type Principal =
  | {
      kind: "api_key";
      keyId: string;
      tenantId: string;
      scopes: ApiKeyScope[];
      tenantStatus: TenantStatus;
      /** Set when the key lookup read it (see authenticateApiKey). */
      tenantRetentionDays?: number;
    }
  | {
      kind: "user";
      userId: string;
      tenantId: string | null;
      role: Role;
      email?: string;
      /** When the bearer token expires (epoch ms): an open stream is closed then. */
      expiresAt?: number;
    }
  /**
   * A short-lived read-only token Vigil issued (viewer/viewer-tokens.ts): one tenant, and filters
   * fixed by its issuer that every read applies (viewer/viewer-pins.ts). `subject` names who issued it.
   */
  | {
      kind: "viewer";
      tenantId: string;
      subject: string;
      pins: ViewerPins;
      /** When the token expires (epoch ms): an open stream is closed then. */
      expiresAt?: number;
    };

type TenantStatus = "active" | "suspended" | "inactive";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Permission =
  | "events:write"
  | "events:read"
  | "events:cleanup"
  | "tenant:retention"
  | "tenant:keys"
  | "tenant:users"
  | "tenants:manage"
  | "viewer:issue";

/** Everything inside one tenant; a platform admin may also manage the tenants themselves. */
const TENANT_ADMIN_PERMISSIONS: Permission[] = [
  "events:write",
  "events:read",
  "events:cleanup",
  "tenant:retention",
  "tenant:keys",
  "tenant:users",
  "viewer:issue",
];

/** The spec's role table (§4), cell for cell. */
const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set<Permission>([...TENANT_ADMIN_PERMISSIONS, "tenants:manage"]),
  tenant_admin: new Set<Permission>(TENANT_ADMIN_PERMISSIONS),
  auditor: new Set<Permission>(["events:read"]),
};

const SCOPE_PERMISSIONS: Record<ApiKeyScope, ReadonlySet<Permission>> = {
  ingest: new Set<Permission>(["events:write"]),
  read: new Set<Permission>(["events:read"]),
  viewer: new Set<Permission>(["viewer:issue"]),
};

const VIEWER_PERMISSIONS: ReadonlySet<Permission> = new Set<Permission>(["events:read"]);

export function isPlatformAdmin(principal: Principal): boolean {
  return principal.kind === "user" && principal.role === "admin" && principal.tenantId === null;
}

export function principalId(principal: Principal): string {
  if (principal.kind === "viewer") return `viewer:${principal.subject}`;
  return principal.kind === "api_key" ? `key:${principal.keyId}` : `user:${principal.userId}`;
}

function allows(principal: Principal, permission: Permission): boolean {
  if (principal.kind === "api_key")
    return principal.scopes.some((scope) => SCOPE_PERMISSIONS[scope].has(permission));
  if (principal.kind === "viewer") return VIEWER_PERMISSIONS.has(permission);
  return ROLE_PERMISSIONS[principal.role].has(permission);
}

/**
 * Checks `permission` and resolves the tenant the call acts on. Tenant-bound credentials act on
 * their own tenant (asking for another one is a 403); platform admins must name one, except for
 * `tenants:manage` and for ingest, where each event names its tenant.
 */
export function authorize(
  principal: Principal,
  permission: Permission,
  requestedTenantId?: string | null,
): string | null {
  // Checked before anything else so a malformed id never reaches a query (it would be a driver error).
  if (requestedTenantId && !UUID.test(requestedTenantId))
    throw new VigilError("INVALID_PARAMETER", "`tenant_id` must be a UUID", [
      { path: "tenant_id", message: "must be a UUID" },
    ]);
  if (!allows(principal, permission)) {
    throw new VigilError("FORBIDDEN", `this credential may not ${permission.replace(":", " ")}`);
  }
  if (isPlatformAdmin(principal)) {
    if (requestedTenantId) return requestedTenantId.toLowerCase();
    if (permission === "tenants:manage" || permission === "events:write") return null;
    throw new VigilError("INVALID_PARAMETER", "platform admins must name the tenant with `tenant_id`", [
      { path: "tenant_id", message: "is required for platform-admin credentials" },
    ]);
  }
  const own = principal.tenantId;
  if (!own) throw new VigilError("FORBIDDEN", "this credential is not bound to a tenant");
  if (requestedTenantId && requestedTenantId.toLowerCase() !== own) {
    throw new VigilError("TENANT_MISMATCH", "this credential may act only on its own tenant", [
      { path: "tenant_id", message: "must equal the credential's tenant" },
    ]);
  }
  if (principal.kind === "api_key" && permission === "events:write" && principal.tenantStatus !== "active") {
    throw new VigilError("TENANT_NOT_ACTIVE", `tenant is ${principal.tenantStatus}; ingest is refused`);
  }
  return own;
}
