// authorize() as a pure function: a brief check of the role table's shape and the tenant rules.
// The full role matrix is tested over HTTP with the auth routes.
import { describe, expect, test } from "vitest";
import { authorize, isPlatformAdmin, type Permission, type Principal } from "../src/auth/principal.ts";
import { VigilError } from "../src/errors/vigil-error.ts";

const TENANT = "0190a0a0-0000-7000-8000-000000000001";
const OTHER_TENANT = "0190a0a0-0000-7000-8000-000000000002";

const ingestKey: Principal = {
  kind: "api_key",
  keyId: "k1",
  tenantId: TENANT,
  scopes: ["ingest"],
  tenantStatus: "active",
};
const readKey: Principal = {
  kind: "api_key",
  keyId: "k2",
  tenantId: TENANT,
  scopes: ["read"],
  tenantStatus: "active",
};
const admin: Principal = { kind: "user", userId: "u0", tenantId: null, role: "admin" };
const tenantAdmin: Principal = { kind: "user", userId: "u1", tenantId: TENANT, role: "tenant_admin" };
const auditor: Principal = { kind: "user", userId: "u2", tenantId: TENANT, role: "auditor" };

function refusal(principal: Principal, permission: Permission, tenantId?: string | null): VigilError {
  try {
    authorize(principal, permission, tenantId);
  } catch (error) {
    if (error instanceof VigilError) return error;
    throw error;
  }
  throw new Error("expected authorize to refuse");
}

describe("authorize", () => {
  test.each([
    ["ingestKey", ingestKey, "events:write", true],
    ["ingestKey", ingestKey, "events:read", false],
    ["readKey", readKey, "events:write", false],
    ["readKey", readKey, "events:read", true],
    ["readKey", readKey, "events:cleanup", false],
    ["auditor", auditor, "events:read", true],
    ["auditor", auditor, "events:write", false],
    ["auditor", auditor, "events:cleanup", false],
    ["tenantAdmin", tenantAdmin, "events:write", true],
    ["tenantAdmin", tenantAdmin, "events:cleanup", true],
    ["tenantAdmin", tenantAdmin, "tenant:keys", true],
    ["tenantAdmin", tenantAdmin, "tenants:manage", false],
  ] as const)("%s may %s: %s", (_name, principal, permission, allowed) => {
    if (allowed) expect(authorize(principal, permission)).toBe(TENANT);
    else expect(refusal(principal, permission).code).toBe("FORBIDDEN");
  });

  test("a tenant-bound credential acts on its own tenant, named or not, in any letter case", () => {
    expect(authorize(readKey, "events:read", TENANT)).toBe(TENANT);
    expect(authorize(readKey, "events:read", TENANT.toUpperCase())).toBe(TENANT);
    expect(authorize(auditor, "events:read", null)).toBe(TENANT);
  });

  test("asking for another tenant is a 403 naming tenant_id", () => {
    const error = refusal(readKey, "events:read", OTHER_TENANT);
    expect(error.code).toBe("TENANT_MISMATCH");
    expect(error.status).toBe(403);
    expect(error.errors?.[0]?.path).toBe("tenant_id");
    expect(refusal(tenantAdmin, "events:cleanup", OTHER_TENANT).code).toBe("TENANT_MISMATCH");
  });

  test("the permission check comes before the tenant check", () => {
    expect(refusal(ingestKey, "events:read", OTHER_TENANT).code).toBe("FORBIDDEN");
  });

  test("platform admins may do everything, but must name the tenant for tenant-scoped reads", () => {
    expect(isPlatformAdmin(admin)).toBe(true);
    expect(authorize(admin, "events:read", OTHER_TENANT.toUpperCase())).toBe(OTHER_TENANT);
    expect(authorize(admin, "tenants:manage")).toBeNull();
    expect(authorize(admin, "events:write")).toBeNull();
    const error = refusal(admin, "events:read");
    expect(error.status).toBe(400);
    expect(error.errors?.[0]?.path).toBe("tenant_id");
  });

  test("an admin role bound to a tenant is not a platform admin", () => {
    const boundAdmin: Principal = { kind: "user", userId: "u3", tenantId: TENANT, role: "admin" };
    expect(isPlatformAdmin(boundAdmin)).toBe(false);
    expect(refusal(boundAdmin, "events:read", OTHER_TENANT).code).toBe("TENANT_MISMATCH");
  });

  test("keys of a suspended or inactive tenant may not ingest, but may still read", () => {
    for (const tenantStatus of ["suspended", "inactive"] as const) {
      const key: Principal = {
        kind: "api_key",
        keyId: "k3",
        tenantId: TENANT,
        scopes: ["ingest", "read"],
        tenantStatus,
      };
      expect(refusal(key, "events:write").code).toBe("TENANT_NOT_ACTIVE");
      expect(authorize(key, "events:read")).toBe(TENANT);
    }
  });
});
