// Log streams (spec §12): a tenant's destinations for its events. Tenant admins manage their own
// tenant's; platform admins name the tenant with `tenant_id`. Handlers parse, call one shared verb
// (which authorizes and audits) and shape the response.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { ActionContext } from "@vigil/shared/audit/admin-audit";
import { authorize } from "@vigil/shared/auth/principal";
import { parseBody } from "@vigil/shared/errors/parse-body";
import {
  LOG_STREAM_STATES,
  logStreamCreateSchema,
  logStreamFiltersSchema,
  logStreamUpdateSchema,
} from "@vigil/shared/log-streams/log-stream-schema";
import {
  createLogStream,
  deleteLogStream,
  getLogStream,
  type LogStreamSettings,
  listLogStreams,
  updateLogStream,
} from "@vigil/shared/log-streams/manage-log-streams";
import type { Context } from "hono";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { readJsonBody } from "../http/request-body.ts";
import { requestOrigin } from "../http/request-origin.ts";
import { readPathParams, readQuery } from "../http/validation-hook.ts";
import { json, problemResponses } from "./openapi-shapes.ts";

const BODY_LIMIT = 64 * 1024;
const security: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }];
const tenantQuery = z.object({ tenant_id: z.uuid().optional() });
const idParams = z.object({ id: z.uuid("must be a UUID") });

const logStreamSchema = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  name: z.string(),
  target: z
    .record(z.string(), z.unknown())
    .describe("destination and its settings; credentials are never returned"),
  filters: logStreamFiltersSchema,
  state: z.enum(LOG_STREAM_STATES),
  committed_seq: z.number().int().describe("every event up to this seq has been delivered"),
  delivered_events: z.number().int(),
  last_delivered_at: z.string().nullable(),
  last_error: z.string().nullable(),
  last_error_at: z.string().nullable(),
  failing_since: z.string().nullable(),
  created_at: z.string(),
  signing_secret: z.string().optional().describe("webhooks: shown once, on create and on rotation"),
});

export function registerLogStreamRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  const settings: LogStreamSettings = {
    sealingSecret: deps.config.VIGIL_SIGNING_KEY_SECRET,
    allowPrivateTargets:
      deps.config.LOG_STREAM_ALLOW_PRIVATE_TARGETS ?? deps.config.NODE_ENV !== "production",
  };
  const context = (c: Context<AppEnv>): ActionContext => ({
    principal: c.get("principal"),
    db: deps.db,
    audit: deps,
    origin: requestOrigin(c, deps.config),
  });
  /** The tenant acted on: the caller's own, or the one a platform admin names. */
  const tenantOf = (c: Context<AppEnv>): string => {
    const tenantId = authorize(c.get("principal"), "tenant:keys", readQuery(c, z.object({})).tenantId)!;
    c.set("tenantId", tenantId);
    return tenantId;
  };
  const register = (route: Parameters<typeof createRoute>[0]) =>
    app.openAPIRegistry.registerPath(createRoute({ security, ...route }));

  register({
    method: "get",
    path: "/api/v1/log-streams",
    summary: "List the tenant's log streams with their delivery state",
    request: { query: tenantQuery },
    responses: {
      200: json("Log streams", z.object({ data: z.array(logStreamSchema) })),
      ...problemResponses,
    },
  });
  app.get("/api/v1/log-streams", async (c) =>
    c.json({ data: await listLogStreams(context(c), tenantOf(c)) }),
  );

  register({
    method: "post",
    path: "/api/v1/log-streams",
    summary:
      "Create a log stream (webhook, s3, splunk_hec or datadog); a webhook's signing secret is shown once",
    request: {
      query: tenantQuery,
      body: { content: { "application/json": { schema: logStreamCreateSchema } }, required: true },
    },
    responses: { 201: json("Created", logStreamSchema), ...problemResponses },
  });
  app.post("/api/v1/log-streams", async (c) => {
    const tenantId = tenantOf(c);
    const input = parseBody(logStreamCreateSchema, await readJsonBody(c, BODY_LIMIT));
    return c.json(await createLogStream(context(c), settings, tenantId, input), 201);
  });

  register({
    method: "get",
    path: "/api/v1/log-streams/{id}",
    summary: "One log stream: state, committed seq, last error",
    request: { params: idParams, query: tenantQuery },
    responses: { 200: json("The log stream", logStreamSchema), ...problemResponses },
  });
  app.get("/api/v1/log-streams/:id", async (c) =>
    c.json(await getLogStream(context(c), tenantOf(c), readPathParams(c, idParams).id)),
  );

  register({
    method: "patch",
    path: "/api/v1/log-streams/{id}",
    summary: "Rename, change filters, pause, re-enable (state active) or rotate the webhook secret",
    request: {
      params: idParams,
      query: tenantQuery,
      body: { content: { "application/json": { schema: logStreamUpdateSchema } }, required: true },
    },
    responses: { 200: json("The updated log stream", logStreamSchema), ...problemResponses },
  });
  app.patch("/api/v1/log-streams/:id", async (c) => {
    const tenantId = tenantOf(c);
    const { id } = readPathParams(c, idParams);
    const input = parseBody(logStreamUpdateSchema, await readJsonBody(c, BODY_LIMIT));
    return c.json(await updateLogStream(context(c), settings, tenantId, id, input));
  });

  register({
    method: "delete",
    path: "/api/v1/log-streams/{id}",
    summary: "Delete a log stream (delivery stops; nothing already delivered is recalled)",
    request: { params: idParams, query: tenantQuery },
    responses: { 204: { description: "Deleted" }, ...problemResponses },
  });
  app.delete("/api/v1/log-streams/:id", async (c) => {
    await deleteLogStream(context(c), tenantOf(c), readPathParams(c, idParams).id);
    return c.body(null, 204);
  });
}
