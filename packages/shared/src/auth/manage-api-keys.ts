// Verbs on a tenant's API keys: issue (the plaintext is returned once and never stored or logged),
// list (prefix, scopes, last use) and revoke (effective on the next request on every api replica:
// the revocation's NOTIFY empties each replica's key cache, see auth/api-key-cache.ts).
import { z } from "zod";
import { type ActionContext, recordAdminAction } from "../audit/admin-audit.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";
import { requireTenant } from "../tenants/manage-tenants.ts";
import { API_KEY_SCOPES, type ApiKeyRecord, createApiKey, listApiKeys, revokeApiKey } from "./api-keys.ts";
import { authorize, principalId } from "./principal.ts";

export const apiKeyCreateSchema = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, "must not be empty")
    .max(200, "must be at most 200 characters")
    .refine(isStorable, UNSTORABLE_MESSAGE)
    .default("api key"),
  scopes: z
    .array(z.enum(API_KEY_SCOPES, `must be one of ${API_KEY_SCOPES.join(", ")}`))
    .min(1, "must name at least one scope")
    .max(API_KEY_SCOPES.length)
    .refine((scopes) => new Set(scopes).size === scopes.length, "must not repeat a scope"),
});
export type ApiKeyCreate = z.infer<typeof apiKeyCreateSchema>;

export async function issueApiKey(
  ctx: ActionContext,
  tenantId: string,
  input: ApiKeyCreate,
): Promise<{ key: string; record: ApiKeyRecord }> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  await requireTenant(ctx, tenantId);
  return ctx.db.sql.begin(async (tx) => {
    const created = await createApiKey(tx, {
      tenantId,
      name: input.name,
      scopes: input.scopes,
      createdBy: actorName(ctx),
    });
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "CREATE",
      action: "api_key.create",
      resourceType: "api_key",
      resourceId: created.record.id,
      tenantId,
      after: { ...created.record },
    });
    return created;
  }) as Promise<{ key: string; record: ApiKeyRecord }>;
}

export async function listTenantApiKeys(ctx: ActionContext, tenantId: string): Promise<ApiKeyRecord[]> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  await requireTenant(ctx, tenantId);
  return listApiKeys(ctx.db.sql, tenantId);
}

export async function revokeTenantApiKey(ctx: ActionContext, tenantId: string, keyId: string): Promise<void> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  await ctx.db.sql.begin(async (tx) => {
    if (!(await revokeApiKey(tx, tenantId, keyId)))
      throw new VigilError("NOT_FOUND", "no API key with that id in this tenant");
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "DELETE",
      action: "api_key.revoke",
      resourceType: "api_key",
      resourceId: keyId,
      tenantId,
    });
  });
}

function actorName(ctx: ActionContext): string {
  return principalId(ctx.principal);
}
