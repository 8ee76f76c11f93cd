// What tenants do with their logs (spec §5): export, stats, resource history and cleanup. Handlers
// resolve the tenant with authorize(), validate the query with the shared schema, call one verb
// from @vigil/shared and shape the response.

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { sharedArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { authorize, principalId } from "@vigil/shared/auth/principal";
import {
  type EventStats,
  eventStats,
  STATS_BUCKETS,
  statsParamsSchema,
} from "@vigil/shared/query/event-stats";
import { EXPORT_COLUMNS, exportParamsSchema, planExport } from "@vigil/shared/query/export-events";
import {
  historyParamsSchema,
  resourceHistory,
  resourceRefSchema,
} from "@vigil/shared/query/resource-history";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { cleanupEvents, cleanupParamsSchema } from "@vigil/shared/retention/cleanup-events";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { exportResponse } from "../http/export-slots.ts";
import { readPathParams, readQuery } from "../http/validation-hook.ts";
import { problemResponses, storedEventSchema } from "./openapi-shapes.ts";

const security: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];
const tenantQuery = z.object({ tenant_id: z.uuid().optional() });

const countMap = z.record(z.string(), z.number().int());
const statsResponseSchema = z.object({
  from: z.string(),
  to: z.string(),
  bucket: z.enum(STATS_BUCKETS),
  total: z.number().int(),
  by_action_type: countMap,
  by_severity: countMap,
  by_outcome: countMap,
  top_resource_types: z.array(z.object({ resource_type: z.string(), count: z.number().int() })),
  top_users: z.array(z.object({ user_id: z.string(), count: z.number().int() })),
  top_users_from: z.string(),
  timeseries: z.array(z.object({ bucket: z.string(), count: z.number().int() })),
}) satisfies z.ZodType<EventStats>;

const diffSchema = z.object({
  added: z.array(z.object({ path: z.string(), value: z.unknown() })),
  removed: z.array(z.object({ path: z.string(), value: z.unknown() })),
  changed: z.array(z.object({ path: z.string(), old: z.unknown(), new: z.unknown() })),
});

export function registerQueryRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/logs/export",
      summary: "Export events as CSV or NDJSON (streamed)",
      description: `Same filters as GET /api/v1/logs, ordered by seq. CSV columns: ${EXPORT_COLUMNS.join(", ")}. Cells starting with = + - @ tab or CR are prefixed with '. Resume an interrupted export with after_seq.`,
      security,
      request: { query: z.object({ ...exportParamsSchema.shape, ...tenantQuery.shape }) },
      responses: {
        200: {
          description: "The export, streamed",
          content: { "text/csv": { schema: z.string() }, "application/x-ndjson": { schema: z.string() } },
        },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/logs/export", async (c) => {
    const { tenantId, params } = readQuery(c, exportParamsSchema);
    const principal = c.get("principal");
    const scopeTenant = authorize(principal, "events:read", tenantId)!;
    c.set("tenantId", scopeTenant);
    const scope = tenantScope(scopeTenant);
    // Audited before the first row leaves; the row count goes to the log line at the end.
    return exportResponse(deps, c, scope, principal, planExport(params));
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/logs/stats",
      summary: "Counts by action type, severity, outcome, resource type and user, with a time series",
      description:
        "Answered from hourly rollups (cost independent of the number of events). Default window: the last 30 days; bucket=hour allows at most 31 days.",
      security,
      request: { query: z.object({ ...statsParamsSchema.shape, ...tenantQuery.shape }) },
      responses: {
        200: { description: "Stats", content: { "application/json": { schema: statsResponseSchema } } },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/logs/stats", async (c) => {
    const { tenantId, params } = readQuery(c, statsParamsSchema);
    const scopeTenant = authorize(c.get("principal"), "events:read", tenantId)!;
    c.set("tenantId", scopeTenant);
    return c.json(await eventStats(deps.db, tenantScope(scopeTenant), params));
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/resources/{resource_type}/{resource_id}/history",
      summary:
        "One resource's events in seq order, each with a field-level diff of before_state → after_state",
      security,
      request: {
        params: resourceRefSchema,
        query: z.object({ ...historyParamsSchema.shape, ...tenantQuery.shape }),
      },
      responses: {
        200: {
          description: "One page of history",
          content: {
            "application/json": {
              schema: z.object({
                resource_type: z.string(),
                resource_id: z.string(),
                data: z.array(storedEventSchema.extend({ diff: diffSchema })),
                next_cursor: z.string().nullable(),
              }),
            },
          },
        },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/resources/:resource_type/:resource_id/history", async (c) => {
    const resource = readPathParams(c, resourceRefSchema);
    const { tenantId, params } = readQuery(c, historyParamsSchema);
    const scopeTenant = authorize(c.get("principal"), "events:read", tenantId)!;
    c.set("tenantId", scopeTenant);
    return c.json(await resourceHistory(deps.db, tenantScope(scopeTenant), resource, params));
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "delete",
      path: "/api/v1/logs/cleanup",
      summary: "Delete the tenant's events before a time (tenant admins and platform admins)",
      description:
        "dry_run=true only counts. A real run is recorded as an event in the tenant's log (who, cutoff, rows removed).",
      security,
      request: { query: z.object({ ...cleanupParamsSchema.shape, ...tenantQuery.shape }) },
      responses: {
        200: {
          description: "Rows removed (or that would be)",
          content: {
            "application/json": {
              schema: z.object({ deleted: z.number().int(), dry_run: z.boolean(), before: z.string() }),
            },
          },
        },
        ...problemResponses,
      },
    }),
  );
  app.delete("/api/v1/logs/cleanup", async (c) => {
    const { tenantId, params } = readQuery(c, cleanupParamsSchema);
    const principal = c.get("principal");
    const scopeTenant = authorize(principal, "events:cleanup", tenantId)!;
    c.set("tenantId", scopeTenant);
    return c.json(
      await cleanupEvents(
        {
          db: deps.db,
          recorder: deps,
          actor: principalId(principal),
          searchIndex: deps.searchIndex,
          // Archive-enabled tenants' events are archived before they are deleted (spec §12).
          archive: {
            storage: sharedArchiveStorage(deps.config),
            maxEventsPerObject: deps.config.ARCHIVE_OBJECT_MAX_EVENTS,
          },
        },
        tenantScope(scopeTenant),
        params,
      ),
    );
  });
}
