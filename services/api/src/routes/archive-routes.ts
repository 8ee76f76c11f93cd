// Archives (spec §12): GET /api/v1/archives lists the tenant's archived seq ranges; POST
// /api/v1/archives/restore reads a seq or time range back from S3, checks it and makes it readable
// at GET /api/v1/archives/restored (original seq and hash; restoring twice never doubles). Thin
// adapter: authorize, parse, one verb from @vigil/shared/archive.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { sharedArchiveStorage } from "@vigil/shared/archive/archive-storage";
import {
  archiveListQuerySchema,
  listArchives,
  listRestoredEvents,
  restoreArchivedEvents,
  restoredEventsQuerySchema,
  restoreRequestSchema,
} from "@vigil/shared/archive/restore-archives";
import { authorize, type Permission, type Principal, principalId } from "@vigil/shared/auth/principal";
import { parseBody } from "@vigil/shared/errors/parse-body";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { type TenantScope, tenantScope } from "@vigil/shared/query/tenant-scope";
import type { Context } from "hono";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { readJsonBody } from "../http/request-body.ts";
import { readQuery } from "../http/validation-hook.ts";
import { json, problem, problemResponses, storedEventSchema } from "./openapi-shapes.ts";

const security: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }];
const tenantQuery = z.object({ tenant_id: z.uuid().optional() });
const RESTORE_BODY_LIMIT = 4096;

const archivedRangeSchema = z.object({
  from_seq: z.number().int(),
  to_seq: z.number().int(),
  event_count: z.number().int(),
  min_occurred_at: z.string(),
  max_occurred_at: z.string(),
  reason: z.enum(["cleanup", "retention"]),
  archived_at: z.string(),
  bucket: z.string(),
  object_key: z.string(),
  manifest_key: z.string(),
  sha256: z.string().describe("hex SHA-256 of the object's bytes (also in the manifest)"),
  bytes: z.number().int(),
  restored: z.number().int().describe("how many of the range's events are restored"),
});
const restoreResultSchema = z.object({
  restored: z.number().int().describe("events restored by this request"),
  already_restored: z.number().int().describe("events of the range restored before (not doubled)"),
  objects: z.number().int(),
  from_seq: z.number().int().nullable(),
  to_seq: z.number().int().nullable(),
});

/** Archives are tenant-wide: a viewer link (pinned to a slice of events) gets none of them. */
function tenantOf(principal: Principal, permission: Permission, requested: string | null): string {
  if (principal.kind === "viewer") throw new VigilError("FORBIDDEN", "viewer links may not read archives");
  return authorize(principal, permission, requested)!;
}

export function registerArchiveRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies): void {
  const register = (route: Parameters<typeof createRoute>[0]) =>
    app.openAPIRegistry.registerPath(createRoute({ security, tags: ["archives"], ...route }));
  /** A GET that reads the tenant's archives: parse the query, authorize events:read, one read verb. */
  const reader =
    <Schema extends z.ZodType>(
      schema: Schema,
      read: (db: ApiDependencies["db"], scope: TenantScope, params: z.infer<Schema>) => Promise<object>,
    ) =>
    async (c: Context<AppEnv>) => {
      const { tenantId, params } = readQuery(c, schema);
      const tenant = tenantOf(c.get("principal"), "events:read", tenantId);
      c.set("tenantId", tenant);
      return c.json(await read(deps.db, tenantScope(tenant), params));
    };

  register({
    method: "get",
    path: "/api/v1/archives",
    summary: "The tenant's archived seq ranges (one per S3 object), in seq order",
    request: { query: z.object({ ...archiveListQuerySchema.shape, ...tenantQuery.shape }) },
    responses: {
      200: json(
        "Archived ranges; pass next_after_seq as after_seq for the next page",
        z.object({ data: z.array(archivedRangeSchema), next_after_seq: z.number().int().nullable() }),
      ),
      ...problemResponses,
    },
  });
  app.get("/api/v1/archives", reader(archiveListQuerySchema, listArchives));

  register({
    method: "post",
    path: "/api/v1/archives/restore",
    summary: "Restore archived events of a seq or time range (tenant admins and platform admins)",
    description:
      "Every object is checked against its manifest (SHA-256, count, chain, roll-up of hashes) and every event against its hash before anything is restored; events keep their seq. Restoring again is a no-op for events already restored.",
    request: {
      query: tenantQuery,
      body: { content: { "application/json": { schema: restoreRequestSchema } }, required: true },
    },
    responses: {
      200: json("What was restored", restoreResultSchema),
      404: problem("No archived events in that range"),
      502: problem("An archive object failed its integrity check; nothing of it was restored"),
      ...problemResponses,
    },
  });
  app.post("/api/v1/archives/restore", async (c: Context<AppEnv>) => {
    const { tenantId } = readQuery(c, z.strictObject({}));
    const principal = c.get("principal");
    const tenant = tenantOf(principal, "events:cleanup", tenantId);
    const request = parseBody(restoreRequestSchema, await readJsonBody(c, RESTORE_BODY_LIMIT));
    c.set("tenantId", tenant);
    return c.json(
      await restoreArchivedEvents(
        {
          db: deps.db,
          storage: sharedArchiveStorage(deps.config),
          recorder: deps,
          actor: principalId(principal),
        },
        tenantScope(tenant),
        request,
      ),
    );
  });

  register({
    method: "get",
    path: "/api/v1/archives/restored",
    summary: "Restored events in seq order, as GET /api/v1/logs/{id} shows them, with restored_at",
    request: { query: z.object({ ...restoredEventsQuerySchema.shape, ...tenantQuery.shape }) },
    responses: {
      200: json(
        "Restored events; pass next_from_seq as from_seq for the next page",
        z.object({
          data: z.array(storedEventSchema.extend({ restored_at: z.string() })),
          next_from_seq: z.number().int().nullable(),
        }),
      ),
      ...problemResponses,
    },
  });
  app.get("/api/v1/archives/restored", reader(restoredEventsQuerySchema, listRestoredEvents));
}
