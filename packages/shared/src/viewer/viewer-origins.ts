// The origins allowed to frame a tenant's embedded viewer (the page's CSP frame-ancestors). Set by
// tenant admins; an empty list means the viewer may not be framed at all.
import { z } from "zod";
import { type ActionContext, recordAdminAction } from "../audit/admin-audit.ts";
import { authorize } from "../auth/principal.ts";
import type { Queryable } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";

const MAX_VIEWER_ORIGINS = 20;

/** `https://app.example.com` or `http://localhost:3000`: scheme, host, optional port; nothing else. */
const viewerOrigin = z
  .string()
  .trim()
  .max(256, "must be at most 256 characters")
  .regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i, "must be an origin like https://app.example.com")
  .transform((value) => value.toLowerCase());

export const viewerOriginsSchema = z.strictObject({
  viewer_origins: z
    .array(viewerOrigin)
    .max(MAX_VIEWER_ORIGINS, `must list at most ${MAX_VIEWER_ORIGINS} origins`),
});

export async function readViewerOrigins(sql: Queryable, tenantId: string): Promise<string[]> {
  const rows = await sql<{ viewer_origins: string[] }[]>`
    select viewer_origins from tenants where id = ${tenantId}`;
  return rows[0]?.viewer_origins ?? [];
}

export async function setViewerOrigins(
  ctx: ActionContext,
  tenantId: string,
  origins: readonly string[],
): Promise<string[]> {
  authorize(ctx.principal, "tenant:keys", tenantId);
  const unique = [...new Set(origins)];
  return (await ctx.db.sql.begin(async (tx) => {
    const before = await tx<{ viewer_origins: string[] }[]>`
      select viewer_origins from tenants where id = ${tenantId} for update`;
    if (!before[0]) throw new VigilError("NOT_FOUND", "no tenant with that id");
    await tx`update tenants set viewer_origins = ${unique}::text[], updated_at = now() where id = ${tenantId}`;
    await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
      actionType: "UPDATE",
      action: "tenant.viewer_origins",
      resourceType: "tenant",
      resourceId: tenantId,
      tenantId,
      before: { viewer_origins: before[0].viewer_origins },
      after: { viewer_origins: unique },
    });
    return unique;
  })) as string[];
}
