// POST /api/v1/viewer-tokens (spec §11): a tenant's backend (tenant admin, or a key with the
// `viewer` scope) gets a short-lived read-only token, optionally pinned to filters, and the URL of
// the console's viewer page for an iframe or <vigil-log-viewer>.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { parseBody } from "@vigil/shared/errors/parse-body";
import { issueViewerToken, viewerTokenRequestSchema } from "@vigil/shared/viewer/viewer-tokens";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { readJsonBody } from "../http/request-body.ts";
import { requestOrigin } from "../http/request-origin.ts";
import { problemResponses } from "./openapi-shapes.ts";

const BODY_LIMIT = 16 * 1024;

const viewerTokenResponseSchema = z.object({
  token: z.string(),
  expires_at: z.string(),
  url: z.url(),
  tenant_id: z.uuid(),
  filters: z.record(z.string(), z.string()),
});

export function registerViewerTokenRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/viewer-tokens",
      summary: "A short-lived, read-only token (and URL) for the embeddable log viewer",
      description:
        "Tenant admins, platform admins (naming tenant_id) and API keys with the `viewer` scope. `filters` pin user_id, resource_type, resource_id and/or action; the viewer cannot widen them. The page may be framed only by the tenant's viewer_origins.",
      security: [{ apiKey: [] }, { bearer: [] }],
      request: {
        body: { content: { "application/json": { schema: viewerTokenRequestSchema } }, required: false },
      },
      responses: {
        201: {
          description: "The token",
          content: { "application/json": { schema: viewerTokenResponseSchema } },
        },
        ...problemResponses,
      },
    }),
  );
  app.post("/api/v1/viewer-tokens", async (c) => {
    const raw = c.req.header("content-length") === "0" ? {} : await readJsonBody(c, BODY_LIMIT);
    const input = parseBody(viewerTokenRequestSchema, raw ?? {});
    const issued = await issueViewerToken(
      {
        principal: c.get("principal"),
        db: deps.db,
        audit: deps,
        origin: requestOrigin(c, deps.config),
        keys: deps.keys,
        config: deps.config,
      },
      input,
    );
    c.set("tenantId", issued.tenant_id);
    const base = deps.config.VIGIL_PUBLIC_URL ?? new URL(c.req.url).origin;
    const url = new URL("/console/viewer", base);
    url.searchParams.set("token", issued.token);
    return c.json({ ...issued, url: url.toString() }, 201, { "Cache-Control": "no-store" });
  });
}
