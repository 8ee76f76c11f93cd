// Search index status (spec §12): GET /api/v1/search/status reports a tenant's index watermark
// (the highest contiguous seq in the OpenSearch index), its head seq and the lag; and searches
// answered from OpenSearch carry `Vigil-Index-Seq: <watermark>`, read before the search runs, so
// the answer reflects at least every event up to it.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { authorize } from "@vigil/shared/auth/principal";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { readIndexedSeq, readSearchIndexStatus } from "@vigil/shared/search/opensearch/index-watermark";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { problemResponses } from "./openapi-shapes.ts";

const security: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }];

const statusSchema = z.object({
  tenant_id: z.uuid(),
  indexed_seq: z.number().int().describe("every event with seq ≤ this is in the search index"),
  head_seq: z.number().int().describe("the tenant's last committed seq"),
  lag_seq: z.number().int(),
  lag_seconds: z.number().describe("age of the oldest event not yet covered by indexed_seq"),
  backend: z.enum(["postgres", "opensearch"]).describe("what answers GET /api/v1/logs"),
  index_enabled: z.boolean().describe("whether an OpenSearch index is configured (OPENSEARCH_URL)"),
});

export function registerSearchStatusRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies): void {
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/search/status",
      tags: ["search"],
      summary: "How far the search index has caught up with PostgreSQL",
      security,
      request: { query: z.object({ tenant_id: z.uuid().optional() }) },
      responses: {
        200: {
          description: "the index watermark and lag",
          content: { "application/json": { schema: statusSchema } },
        },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/search/status", async (c) => {
    const principal = c.get("principal");
    // Head and lag are tenant-wide numbers; a viewer link pinned to a slice of events does not get them.
    if (principal.kind === "viewer")
      throw new VigilError("FORBIDDEN", "viewer links may not read the search index status");
    const tenantId = authorize(principal, "events:read", c.req.query("tenant_id"))!;
    c.set("tenantId", tenantId);
    return c.json({
      ...(await readSearchIndexStatus(deps.db, tenantId)),
      backend: deps.searchBackend?.name === "opensearch" ? "opensearch" : "postgres",
      index_enabled: Boolean(deps.config.OPENSEARCH_URL),
    });
  });

  // The watermark header of GET /api/v1/logs answered by OpenSearch. Read before the search, for the
  // tenant the request names or the credential's own; set only when the route acted on that tenant.
  app.use("/api/v1/logs", async (c, next) => {
    if (c.req.method !== "GET" || deps.searchBackend?.name !== "opensearch") return next();
    const principal = c.get("principal");
    if (principal?.kind === "viewer") return next();
    const candidate = (c.req.query("tenant_id") ?? principal?.tenantId ?? "").toLowerCase();
    const watermark = /^[0-9a-f-]{36}$/.test(candidate)
      ? await readIndexedSeq(deps.db, candidate).catch(() => null)
      : null;
    await next();
    if (watermark !== null && c.res.status === 200 && c.get("tenantId") === candidate)
      c.res.headers.set("Vigil-Index-Seq", String(watermark));
  });
}
