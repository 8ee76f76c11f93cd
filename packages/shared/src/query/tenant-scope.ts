// The tenant context every query-module function takes first. There is no way to call a query
// without one: isolation is decided by the caller's credential, then enforced twice (WHERE + RLS).
export interface TenantScope {
  readonly tenantId: string;
}

export function tenantScope(tenantId: string): TenantScope {
  return Object.freeze({ tenantId });
}
