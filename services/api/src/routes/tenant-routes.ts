// Admin API (spec §5): tenants, their API keys and their users. Handlers validate input, call one
// shared verb (which authorizes and audits) and shape the response.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { ActionContext } from "@vigil/shared/audit/admin-audit";
import { API_KEY_SCOPES } from "@vigil/shared/auth/api-keys";
import {
  apiKeyCreateSchema,
  issueApiKey,
  listTenantApiKeys,
  revokeTenantApiKey,
} from "@vigil/shared/auth/manage-api-keys";
import { ROLES } from "@vigil/shared/auth/principal";
import { parseBody } from "@vigil/shared/errors/parse-body";
import { parseQuery } from "@vigil/shared/query/search-params";
import {
  addTenant,
  getTenant,
  listTenants,
  TENANT_STATUSES,
  tenantCreateSchema,
  tenantListQuerySchema,
  tenantPatchSchema,
  updateTenant,
} from "@vigil/shared/tenants/manage-tenants";
import { addUser, listUsers, userCreateSchema } from "@vigil/shared/users/manage-users";
import { USER_STATUSES } from "@vigil/shared/users/user-records";
import type { Context } from "hono";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { readJsonBody } from "../http/request-body.ts";
import { requestOrigin } from "../http/request-origin.ts";
import { readPathParams } from "../http/validation-hook.ts";
import { json, problem, problemResponses } from "./openapi-shapes.ts";

const ADMIN_BODY_LIMIT = 64 * 1024;
const security: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }];
const uuidParam = z.uuid("must be a UUID");

const tenantSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  status: z.enum(TENANT_STATUSES),
  retention_days: z.number().int(),
  created_at: z.string(),
  archive: z.object({ enabled: z.boolean(), bucket: z.string().nullable(), prefix: z.string() }),
});
const apiKeySchema = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
const userSchema = z.object({
  id: z.uuid(),
  tenant_id: z.uuid().nullable(),
  email: z.string(),
  role: z.enum(ROLES),
  status: z.enum(USER_STATUSES),
  created_at: z.string(),
});
const tenantParams = z.object({ id: uuidParam });
const keyParams = tenantParams.extend({ key_id: uuidParam });

/** `{id}` through the route's own schema (the one zod-to-problem hook: a 400 naming it). */
const tenantIdOf = (c: Context) => readPathParams(c, tenantParams).id.toLowerCase();

export function registerTenantRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  const context = (c: Context<AppEnv>): ActionContext => ({
    principal: c.get("principal"),
    db: deps.db,
    audit: deps,
    origin: requestOrigin(c, deps.config),
  });
  const register = (route: Parameters<typeof createRoute>[0]) =>
    app.openAPIRegistry.registerPath(createRoute({ security, ...route }));

  register({
    method: "get",
    path: "/api/v1/tenants",
    summary: "List tenants (platform admins)",
    request: { query: tenantListQuerySchema },
    responses: {
      200: json("Tenants, oldest first", z.object({ data: z.array(tenantSchema) })),
      ...problemResponses,
    },
  });
  app.get("/api/v1/tenants", async (c) => {
    const query = parseQuery(tenantListQuerySchema, new URL(c.req.url).searchParams);
    return c.json({ data: await listTenants(context(c), query) });
  });

  register({
    method: "post",
    path: "/api/v1/tenants",
    summary: "Create a tenant (platform admins)",
    request: { body: { content: { "application/json": { schema: tenantCreateSchema } }, required: true } },
    responses: { 201: json("Created", tenantSchema), 409: problem("Name taken"), ...problemResponses },
  });
  app.post("/api/v1/tenants", async (c) => {
    const input = parseBody(tenantCreateSchema, await readJsonBody(c, ADMIN_BODY_LIMIT));
    return c.json(await addTenant(context(c), input), 201);
  });

  register({
    method: "get",
    path: "/api/v1/tenants/{id}",
    summary: "One tenant (platform admins)",
    request: { params: tenantParams },
    responses: { 200: json("The tenant", tenantSchema), 404: problem("No such tenant"), ...problemResponses },
  });
  app.get("/api/v1/tenants/:id", async (c) => c.json(await getTenant(context(c), tenantIdOf(c))));

  register({
    method: "patch",
    path: "/api/v1/tenants/{id}",
    summary:
      "Change a tenant's status or name (platform admins) or retention and archive settings (also its tenant admins)",
    request: {
      params: tenantParams,
      body: { content: { "application/json": { schema: tenantPatchSchema } }, required: true },
    },
    responses: {
      200: json("The updated tenant", tenantSchema),
      404: problem("No such tenant"),
      ...problemResponses,
    },
  });
  app.patch("/api/v1/tenants/:id", async (c) => {
    const id = tenantIdOf(c);
    const patch = parseBody(tenantPatchSchema, await readJsonBody(c, ADMIN_BODY_LIMIT));
    c.set("tenantId", id);
    return c.json(await updateTenant(context(c), id, patch));
  });

  register({
    method: "post",
    path: "/api/v1/tenants/{id}/keys",
    summary: "Issue an API key; the key itself is in this response only",
    request: {
      params: tenantParams,
      body: { content: { "application/json": { schema: apiKeyCreateSchema } }, required: true },
    },
    responses: { 201: json("Created", apiKeySchema.extend({ api_key: z.string() })), ...problemResponses },
  });
  app.post("/api/v1/tenants/:id/keys", async (c) => {
    const id = tenantIdOf(c);
    const input = parseBody(apiKeyCreateSchema, await readJsonBody(c, ADMIN_BODY_LIMIT));
    c.set("tenantId", id);
    const { key, record } = await issueApiKey(context(c), id, input);
    return c.json({ ...record, api_key: key }, 201, { "Cache-Control": "no-store" });
  });

  register({
    method: "get",
    path: "/api/v1/tenants/{id}/keys",
    summary: "A tenant's API keys (prefix, scopes, last use; never the key)",
    request: { params: tenantParams },
    responses: { 200: json("Keys", z.object({ data: z.array(apiKeySchema) })), ...problemResponses },
  });
  app.get("/api/v1/tenants/:id/keys", async (c) => {
    const id = tenantIdOf(c);
    c.set("tenantId", id);
    return c.json({ data: await listTenantApiKeys(context(c), id) });
  });

  register({
    method: "delete",
    path: "/api/v1/tenants/{id}/keys/{key_id}",
    summary: "Revoke an API key (refused from the next request on)",
    request: { params: keyParams },
    responses: { 204: { description: "Revoked" }, 404: problem("No such key"), ...problemResponses },
  });
  app.delete("/api/v1/tenants/:id/keys/:key_id", async (c) => {
    const params = readPathParams(c, keyParams);
    const [id, keyId] = [params.id.toLowerCase(), params.key_id.toLowerCase()];
    c.set("tenantId", id);
    await revokeTenantApiKey(context(c), id, keyId);
    return c.body(null, 204);
  });

  register({
    method: "post",
    path: "/api/v1/tenants/{id}/users",
    summary: "Create a tenant user (tenant_admin or auditor)",
    request: {
      params: tenantParams,
      body: { content: { "application/json": { schema: userCreateSchema } }, required: true },
    },
    responses: { 201: json("Created", userSchema), 409: problem("Email taken"), ...problemResponses },
  });
  app.post("/api/v1/tenants/:id/users", async (c) => {
    const id = tenantIdOf(c);
    const input = parseBody(userCreateSchema, await readJsonBody(c, ADMIN_BODY_LIMIT));
    c.set("tenantId", id);
    return c.json(await addUser(context(c), id, input), 201);
  });

  register({
    method: "get",
    path: "/api/v1/tenants/{id}/users",
    summary: "A tenant's users and their roles",
    request: { params: tenantParams },
    responses: { 200: json("Users", z.object({ data: z.array(userSchema) })), ...problemResponses },
  });
  app.get("/api/v1/tenants/:id/users", async (c) => {
    const id = tenantIdOf(c);
    c.set("tenantId", id);
    return c.json({ data: await listUsers(context(c), id) });
  });
}
