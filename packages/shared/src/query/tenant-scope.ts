// The tenant context every query-module function takes first. There is no way to call a query
// without one: isolation is decided by the caller's credential, then enforced twice (WHERE + RLS).
import { VigilError } from "../errors/vigil-error.ts";

export interface TenantScope {
  readonly tenantId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A platform admin names the tenant with `tenant_id`; anything but a UUID is that parameter's
 * fault (400), never a driver error from the uuid column (500).
 */
export function tenantScope(tenantId: string): TenantScope {
  if (!UUID.test(tenantId)) {
    throw new VigilError("INVALID_PARAMETER", "invalid query parameter `tenant_id`: must be a UUID", [
      { path: "tenant_id", message: "must be a UUID" },
    ]);
  }
  return Object.freeze({ tenantId: tenantId.toLowerCase() });
}
