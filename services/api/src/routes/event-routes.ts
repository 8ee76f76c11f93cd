// Ingest and read endpoints for events (spec §5). Handlers read input, call one shared verb and
// shape the response; validation, authorization and tenant scope live in @vigil/shared.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { authorize } from "@vigil/shared/auth/principal";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { EVENT_LIMITS, eventInputSchema } from "@vigil/shared/events/event-schema";
import { JSON_PROBLEM_MESSAGES } from "@vigil/shared/events/json-bounds";
import { ingestEvents, waitForStoredEvent } from "@vigil/shared/ingest/ingest-events";
import { getEvent } from "@vigil/shared/query/get-event";
import { searchEvents } from "@vigil/shared/query/search-events";
import { parseQuery, searchParamsSchema } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import type { Context } from "hono";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { BodyBudget, readJsonBody } from "../http/request-body.ts";
import { problemResponses, storedEventSchema } from "./openapi-shapes.ts";

/** Single events carry a little room for whitespace over the per-event limit; the event check is exact. */
const SINGLE_BODY_LIMIT = EVENT_LIMITS.maxEventBytes + 16 * 1024;

/**
 * The deepest a valid body can nest: a state's own levels inside the event object, inside the bulk
 * array, inside `{"events": …}`. Anything deeper is refused before it is parsed.
 */
const SINGLE_BODY_DEPTH = EVENT_LIMITS.maxJsonDepth + 1;
const BULK_BODY_DEPTH = EVENT_LIMITS.maxJsonDepth + 3;
const DEPTH_MESSAGE = JSON_PROBLEM_MESSAGES.depth(EVENT_LIMITS.maxJsonDepth);

/**
 * Objects and arrays one request may hold (~200 per event of a full bulk; a typical event has 7).
 * Each costs ~60 bytes of heap parsed and again once redacted: 8 MiB of `{}` would be ~350 MB,
 * enough for two such requests to exhaust the api's 512 MB heap; this bounds it to ~30 MB.
 */
const MAX_BODY_CONTAINERS = 200_000;

/**
 * Ingest body bytes one api process handles at once: two full bulks, or ~25 typical ones. Worst
 * case ~14× in heap (~225 MB), inside the 512 MB heap with room for everything else.
 */
const INGEST_BODY_BYTES_IN_FLIGHT = 2 * EVENT_LIMITS.maxBulkBytes;

const security: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];

export function registerEventRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  const tenantQuery = z.object({ tenant_id: z.uuid().optional() });
  const ingestBodies = new BodyBudget(INGEST_BODY_BYTES_IN_FLIGHT);

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/logs",
      summary: "Record one audit event",
      security,
      request: {
        query: z.object({ wait: z.enum(["true", "false"]).optional() }),
        body: { content: { "application/json": { schema: eventInputSchema } }, required: true },
      },
      responses: {
        202: {
          description: "On the queue",
          content: {
            "application/json": { schema: z.object({ id: z.uuid(), status: z.literal("accepted") }) },
          },
        },
        201: {
          description: "Stored (with ?wait=true)",
          content: { "application/json": { schema: storedEventSchema } },
        },
        ...problemResponses,
      },
    }),
  );
  app.post("/api/v1/logs", async (c) => {
    const wait = c.req.query("wait");
    if (wait !== undefined && wait !== "true" && wait !== "false") {
      throw new VigilError("INVALID_PARAMETER", "`wait` must be true or false", [
        { path: "wait", message: "must be true or false" },
      ]);
    }
    const principal = c.get("principal");
    const { body, result } = await ingestBodies.run(async (admit) => {
      const body = await readJsonBody(c, SINGLE_BODY_LIMIT, {
        maxDepth: SINGLE_BODY_DEPTH,
        depthMessage: DEPTH_MESSAGE,
        maxContainers: MAX_BODY_CONTAINERS,
        admit,
      });
      if (Array.isArray(body)) {
        throw new VigilError(
          "VALIDATION_FAILED",
          "send one event object here; arrays go to /api/v1/logs/bulk",
          [{ path: "(body)", message: "must be an object" }],
        );
      }
      return { body, result: await ingestEvents(deps, principal, [body], { bulk: false }) };
    });
    deps.metrics.eventsAccepted.inc(result.enqueued);
    const id = result.ids[0]!;
    if (wait === "true") {
      const tenantId = principal.tenantId ?? (body as { tenant_id?: string }).tenant_id!.toLowerCase();
      const stored = await waitForStoredEvent(deps.db, tenantId, id, deps.config.INGEST_WAIT_TIMEOUT_MS);
      if (stored) return c.json(stored, 201);
    }
    return c.json({ id, status: "accepted" as const }, 202);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/logs/bulk",
      summary: "Record up to 1,000 events at once; all or nothing",
      security,
      request: {
        body: {
          content: {
            "application/json": {
              schema: z.union([
                z.array(eventInputSchema).max(EVENT_LIMITS.maxBulkEvents),
                z.object({ events: z.array(eventInputSchema).max(EVENT_LIMITS.maxBulkEvents) }),
              ]),
            },
          },
          required: true,
        },
      },
      responses: {
        202: {
          description: "All on the queue",
          content: {
            "application/json": { schema: z.object({ accepted: z.number().int(), ids: z.array(z.uuid()) }) },
          },
        },
        ...problemResponses,
      },
    }),
  );
  const ingestBulk = async (c: Context<AppEnv>, admit: (bytes: number) => void) => {
    const body = await readJsonBody(c, EVENT_LIMITS.maxBulkBytes, {
      maxDepth: BULK_BODY_DEPTH,
      depthMessage: DEPTH_MESSAGE,
      maxContainers: MAX_BODY_CONTAINERS,
      admit,
    });
    const items = Array.isArray(body) ? body : (body as { events?: unknown } | null)?.events;
    if (
      !Array.isArray(items) ||
      (!Array.isArray(body) && Object.keys(body as object).some((key) => key !== "events"))
    ) {
      throw new VigilError("VALIDATION_FAILED", 'send an array of events or {"events": [...]}', [
        { path: "(body)", message: "must be an array or an object with only `events`" },
      ]);
    }
    if (items.length === 0)
      throw new VigilError("VALIDATION_FAILED", "send at least one event", [
        { path: "events", message: "must not be empty" },
      ]);
    if (items.length > EVENT_LIMITS.maxBulkEvents) {
      throw new VigilError(
        "PAYLOAD_TOO_LARGE",
        `a bulk request holds at most ${EVENT_LIMITS.maxBulkEvents} events`,
        [{ path: "events", message: `more than ${EVENT_LIMITS.maxBulkEvents} events` }],
      );
    }
    const result = await ingestEvents(deps, c.get("principal"), items, { bulk: true });
    deps.metrics.eventsAccepted.inc(result.enqueued);
    return c.json({ accepted: result.ids.length, ids: result.ids }, 202);
  };
  app.post("/api/v1/logs/bulk", (c) => ingestBodies.run((admit) => ingestBulk(c, admit)));

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/logs",
      summary: "Search events (filters, full text, keyset pagination)",
      security,
      request: { query: z.object({ ...searchParamsSchema.shape, ...tenantQuery.shape }) },
      responses: {
        200: {
          description: "One page",
          content: {
            "application/json": {
              schema: z.object({ data: z.array(storedEventSchema), next_cursor: z.string().nullable() }),
            },
          },
        },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/logs", async (c) => {
    const url = new URL(c.req.url);
    const tenantId = url.searchParams.get("tenant_id");
    url.searchParams.delete("tenant_id");
    const scopeTenant = authorize(c.get("principal"), "events:read", tenantId)!;
    c.set("tenantId", scopeTenant);
    const params = parseQuery(searchParamsSchema, url.searchParams);
    return c.json(
      await searchEvents(deps.db, tenantScope(scopeTenant), params, { backend: deps.searchBackend }),
    );
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/logs/{id}",
      summary: "One event by id",
      security,
      request: { params: z.object({ id: z.uuid() }), query: tenantQuery },
      responses: {
        200: { description: "The event", content: { "application/json": { schema: storedEventSchema } } },
        ...problemResponses,
      },
    }),
  );
  app.get("/api/v1/logs/:id{[0-9a-fA-F-]{36}}", async (c) => {
    const scopeTenant = authorize(c.get("principal"), "events:read", c.req.query("tenant_id"))!;
    c.set("tenantId", scopeTenant);
    const event = await getEvent(deps.db, tenantScope(scopeTenant), c.req.param("id"));
    if (!event) throw new VigilError("NOT_FOUND", "no event with that id");
    return c.json(event);
  });

  for (const method of ["PUT", "PATCH"] as const) {
    app.on(method, "/api/v1/logs/:id{[0-9a-fA-F-]{36}}", () => {
      throw new VigilError(
        "METHOD_NOT_ALLOWED",
        "the audit log is append-only: stored events cannot be changed",
        undefined,
        { Allow: "GET" },
      );
    });
  }
}
