// The fuzz suite's request catalogue: one generator per family of routes, each turning a seeded
// random source into a hostile request. Routes the catalogue does not know by name are still
// reached through the api's own OpenAPI document (`openapiRoutes`), so a new route is fuzzed as
// soon as it is documented.
import { eventInputSchema } from "@vigil/shared/events/event-schema";
import {
  hostileJsonText,
  hostileJsonValue,
  hostileParam,
  hostileString,
  percentEncode,
  type Random,
} from "./hostile-values.ts";

export interface FuzzCredentials {
  /** ingest + read key of tenant A (the tenant whose accepted events are checked for storage). */
  tenantKey: string;
  tenantId: string;
  /** A platform admin's access token. */
  adminToken: string;
  /** A tenant admin's access token for tenant B (cleanup, keys and users are fuzzed there). */
  tenantAdminToken: string;
  otherTenantId: string;
  /** An id stored in tenant A, so some cases reach past "not found". */
  knownEventId: string;
}

export interface FuzzCase {
  family: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Set when a 2xx means events were accepted: the runner checks each one is stored. */
  ingest?: boolean;
  /** A WebSocket upgrade request to the streamer. */
  upgrade?: boolean;
}

export interface OpenApiRoute {
  method: string;
  path: string;
  queryParameters: string[];
}

export function validEvent(random: Random): Record<string, unknown> {
  const event: Record<string, unknown> = {
    action_type: random.pick(["CREATE", "UPDATE", "DELETE", "VIEW"]),
    resource_type: random.pick(["invoice", "user", "doc"]),
    resource_id: `r-${random.int(50)}`,
    user_id: `u-${random.int(20)}`,
  };
  if (random.chance(0.3)) event.id = random.uuid();
  if (random.chance(0.3)) event.metadata = { note: `n-${random.int(1000)}`, password: "hunter2" };
  if (random.chance(0.2)) event.before_state = { status: "draft" };
  if (random.chance(0.2)) event.after_state = { status: "approved", nested: { token: "abc" } };
  return event;
}

/** Every field an event may carry, from the schema itself. */
const EVENT_FIELDS = Object.keys(eventInputSchema.shape);

function mutatedEvent(random: Random): Record<string, unknown> {
  const event = validEvent(random);
  const mutations = 1 + random.int(3);
  for (let i = 0; i < mutations; i++) {
    switch (random.int(4)) {
      case 0:
        event[random.pick(EVENT_FIELDS)] = hostileJsonValue(random);
        break;
      case 1:
        delete event[random.pick(EVENT_FIELDS)];
        break;
      case 2:
        event[hostileString(random) || "unknown_field"] = 1;
        break;
      default:
        event.metadata = {
          [hostileString(random)]: hostileJsonValue(random),
          password: hostileString(random),
        };
    }
  }
  return event;
}

const json = { "Content-Type": "application/json" };
const keyHeader = (credentials: FuzzCredentials) => ({ "X-API-Key": credentials.tenantKey });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

function ingestBody(random: Random): string | Buffer {
  return random.chance(0.5)
    ? JSON.stringify(mutatedEvent(random))
    : hostileJsonText(random, () => validEvent(random));
}

function query(random: Random, names: readonly string[], valid: Record<string, () => string> = {}): string {
  const parts: string[] = [];
  const count = random.int(4);
  for (let i = 0; i < count; i++) {
    const name = random.chance(0.9) ? random.pick(names) : hostileParam(random);
    const pick = Object.hasOwn(valid, name) ? valid[name] : undefined;
    const value = pick && random.chance(0.4) ? pick() : hostileParam(random);
    parts.push(`${name}=${value}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

const SEARCH_PARAMS = [
  "user_id",
  "session_id",
  "action_type",
  "action",
  "resource_type",
  "resource_id",
  "severity",
  "outcome",
  "from",
  "to",
  "q",
  "sort",
  "limit",
  "cursor",
  "tenant_id",
];

function forgedCursor(random: Random): string {
  const payloads = [
    { k: [random.pick([1e20, -1e20, 8.64e15 + 1, Number.MAX_SAFE_INTEGER]), random.uuid()], w: 0 },
    { w: "1970-01-01T00:00:00Z", k: [] },
    { t: random.uuid(), k: [1, 2, 3] },
    "not an object",
  ];
  const text = JSON.stringify(random.pick(payloads));
  return random.chance(0.5) ? Buffer.from(text).toString("base64url") : hostileParam(random);
}

type Generator = (random: Random, credentials: FuzzCredentials, routes: OpenApiRoute[]) => FuzzCase;

export const FAMILIES: Record<string, { weight: number; generate: Generator }> = {
  "ingest-single": {
    weight: 16,
    generate: (random, c) => ({
      family: "ingest-single",
      method: "POST",
      path: `/api/v1/logs${random.chance(0.1) ? "?wait=true" : ""}`,
      headers: { ...json, ...keyHeader(c) },
      body: ingestBody(random),
      ingest: true,
    }),
  },
  "ingest-bulk": {
    weight: 10,
    generate: (random, c) => {
      const count = random.pick([0, 1, 3, 20, 1001]);
      let body: string | Buffer;
      if (random.chance(0.3)) body = hostileJsonText(random, () => [validEvent(random)]);
      else {
        const events = Array.from({ length: count }, () =>
          random.chance(0.8) ? validEvent(random) : mutatedEvent(random),
        );
        body = JSON.stringify(random.chance(0.5) ? events : { events });
      }
      return {
        family: "ingest-bulk",
        method: "POST",
        path: "/api/v1/logs/bulk",
        headers: { ...json, ...keyHeader(c) },
        body,
        ingest: true,
      };
    },
  },
  "ingest-framing": {
    weight: 3,
    generate: (random, c) => ({
      family: "ingest-framing",
      method: "POST",
      path: random.pick(["/api/v1/logs", "/api/v1/logs/bulk"]),
      headers: {
        "Content-Type": random.pick([
          "text/plain",
          "application/x-www-form-urlencoded",
          "application/json; charset=latin1",
          "multipart/form-data",
          "",
        ]),
        ...keyHeader(c),
      },
      body: random.chance(0.5) ? JSON.stringify(validEvent(random)) : random.hex(random.int(100)),
      ingest: true,
    }),
  },
  search: {
    weight: 12,
    generate: (random, c) => ({
      family: "search",
      method: "GET",
      path: `/api/v1/logs${query(random, SEARCH_PARAMS, {
        cursor: () => forgedCursor(random),
        q: () =>
          encodeURIComponent(
            random.pick(["-word", "-a -b", '"unterminated', "a | b", "!x", "x:*", "a & b", "or", "-"]),
          ),
        sort: () => random.pick(["-occurred_at", "seq", "random"]),
        limit: () => String(random.pick([1, 1000, 1001, 0])),
      })}`,
      headers: random.chance(0.8) ? keyHeader(c) : bearer(c.adminToken),
    }),
  },
  "get-event": {
    weight: 5,
    generate: (random, c) => ({
      family: "get-event",
      method: random.pick(["GET", "GET", "PUT", "PATCH", "DELETE"]),
      path: `/api/v1/logs/${random.chance(0.3) ? c.knownEventId : hostileParam(random)}${random.chance(0.1) ? "/" : ""}`,
      headers: { ...json, ...keyHeader(c) },
      body: random.chance(0.3) ? JSON.stringify(validEvent(random)) : undefined,
    }),
  },
  export: {
    weight: 6,
    generate: (random, c) => ({
      family: "export",
      method: "GET",
      path: `/api/v1/logs/export${query(
        random,
        [...SEARCH_PARAMS, "format", "after_seq", "from_seq", "to_seq"],
        {
          format: () => random.pick(["csv", "ndjson", "bundle", "xml"]),
          after_seq: () => random.pick(["0", "-1", "9007199254740993", "1e3"]),
        },
      )}`,
      headers: keyHeader(c),
    }),
  },
  stats: {
    weight: 5,
    generate: (random, c) => ({
      family: "stats",
      method: "GET",
      path: `/api/v1/logs/stats${query(random, ["from", "to", "bucket", "tenant_id"], {
        bucket: () => random.pick(["hour", "day", "minute"]),
        from: () => encodeURIComponent(random.pick(["2000-01-01T00:00:00Z", "2026-01-01T00:00:00Z"])),
      })}`,
      headers: keyHeader(c),
    }),
  },
  history: {
    weight: 5,
    generate: (random, c) => ({
      family: "history",
      method: "GET",
      path: `/api/v1/resources/${random.chance(0.5) ? "invoice" : hostileParam(random)}/${hostileParam(random)}/history${query(random, ["limit", "cursor", "tenant_id"])}`,
      headers: keyHeader(c),
    }),
  },
  cleanup: {
    weight: 3,
    generate: (random, c) => ({
      family: "cleanup",
      method: "DELETE",
      // Tenant B only, and never a `before` that would delete anything stored by this run.
      path: `/api/v1/logs/cleanup?tenant_id=${c.otherTenantId}&before=${random.chance(0.5) ? encodeURIComponent("1990-01-01T00:00:00Z") : hostileParam(random)}${random.chance(0.5) ? `&dry_run=${hostileParam(random)}` : ""}`,
      headers: bearer(random.chance(0.8) ? c.tenantAdminToken : c.adminToken),
    }),
  },
  "auth-token": {
    weight: 6,
    generate: (random) => {
      const form = random.chance(0.3);
      const fields: Record<string, unknown> = {
        grant_type: random.pick(["password", "refresh_token", "client_credentials", hostileString(random)]),
        username: random.chance(0.5) ? "admin@localhost" : hostileJsonValue(random),
        password: hostileJsonValue(random),
        refresh_token: hostileJsonValue(random),
      };
      const body = form
        ? Object.entries(fields)
            .map(([k, v]) => `${k}=${typeof v === "string" ? percentEncode(v) : hostileParam(random)}`)
            .join("&")
        : random.chance(0.8)
          ? JSON.stringify(fields)
          : hostileJsonText(random, () => fields);
      return {
        family: "auth-token",
        method: "POST",
        path: random.pick(["/api/v1/auth/token", "/api/v1/auth/revoke"]),
        headers: { "Content-Type": form ? "application/x-www-form-urlencoded" : "application/json" },
        body,
      };
    },
  },
  "forged-credentials": {
    weight: 6,
    generate: (random) => {
      const header = random.pick([
        () => ({ "X-API-Key": `vgl_${random.hex(20)}` }),
        () => ({ "X-API-Key": "x".repeat(random.pick([1, 5000])) }),
        () => ({
          Authorization: "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.",
        }),
        () => ({
          Authorization: `Bearer ${Buffer.from('{"alg":"HS256","kid":"../../x"}').toString("base64url")}.e30.${random.hex(32)}`,
        }),
        () => ({ Authorization: `Basic ${random.hex(10)}` }),
        () => ({ Authorization: "Bearer" }),
        () => ({ Authorization: `Bearer ${"a.".repeat(2000)}` }),
      ])();
      return {
        family: "forged-credentials",
        method: random.pick(["GET", "POST"]),
        path: random.pick([
          "/api/v1/logs",
          "/api/v1/logs/bulk",
          "/api/v1/tenants",
          "/api/v1/logs/export",
          "/api/v1/logs/stats",
        ]),
        headers: { ...json, ...header },
        body: JSON.stringify(validEvent(random)),
      };
    },
  },
  "admin-writes": {
    weight: 6,
    generate: (random, c) => {
      const target = random.pick([
        { method: "POST", path: "/api/v1/tenants" },
        {
          method: "PATCH",
          path: `/api/v1/tenants/${random.chance(0.5) ? c.otherTenantId : hostileParam(random)}`,
        },
        { method: "GET", path: `/api/v1/tenants${query(random, ["name", "status", "limit"])}` },
        { method: "GET", path: `/api/v1/tenants/${hostileParam(random)}` },
        {
          method: "POST",
          path: `/api/v1/tenants/${random.chance(0.6) ? c.otherTenantId : hostileParam(random)}/keys`,
        },
        {
          method: "POST",
          path: `/api/v1/tenants/${random.chance(0.6) ? c.otherTenantId : hostileParam(random)}/users`,
        },
        { method: "DELETE", path: `/api/v1/tenants/${c.otherTenantId}/keys/${hostileParam(random)}` },
      ]);
      const body: Record<string, unknown> = {};
      for (const field of [
        "name",
        "status",
        "retention_days",
        "scopes",
        "email",
        "password",
        "role",
        "archive",
        "viewer_origins",
      ])
        if (random.chance(0.5)) body[field] = hostileJsonValue(random);
      return {
        family: "admin-writes",
        ...target,
        // Status changes of real tenants are left out: suspending tenant B would only turn later cases into 403s.
        headers: { ...json, ...bearer(random.chance(0.7) ? c.adminToken : c.tenantAdminToken) },
        body: target.method === "GET" || target.method === "DELETE" ? undefined : JSON.stringify(body),
      };
    },
  },
  "openapi-routes": {
    weight: 10,
    generate: (random, c, routes) => {
      const route = random.pick(routes);
      const path = route.path.replace(/\{[^}]+\}/g, () =>
        random.chance(0.3) ? c.tenantId : hostileParam(random),
      );
      const queryNames = route.queryParameters.length ? route.queryParameters : ["x"];
      const safeMethod = route.method === "delete" || route.method === "patch" ? "get" : route.method;
      return {
        family: "openapi-routes",
        method: safeMethod.toUpperCase(),
        path: `${path}${query(random, queryNames)}`,
        headers: { ...json, ...(random.chance(0.5) ? keyHeader(c) : bearer(c.adminToken)) },
        body: safeMethod === "get" ? undefined : JSON.stringify(hostileJsonValue(random)),
      };
    },
  },
  "stream-upgrade": {
    weight: 5,
    generate: (random, c) => {
      const token = random.pick([
        c.tenantKey,
        c.adminToken,
        `vgl_${random.hex(20)}`,
        "",
        hostileString(random).replace(/[^\x21-\x7e]/g, ""),
      ]);
      return {
        family: "stream-upgrade",
        method: "GET",
        path: `/api/v1/logs/stream${query(
          random,
          ["since", "tenant_id", "user_id", "action", "severity", "resource_type", "q"],
          {
            since: () => random.pick(["0", "-1", "1e400", "99999999999999999999"]),
          },
        )}`,
        headers: {
          "Sec-WebSocket-Protocol": random.chance(0.8)
            ? `vigil.v1, bearer.${token}`
            : hostileString(random).replace(/[^\x20-\x7e]/g, ""),
        },
        upgrade: true,
      };
    },
  },
  "unknown-routes": {
    weight: 2,
    generate: (random, c) => ({
      family: "unknown-routes",
      method: random.pick(["GET", "POST", "OPTIONS", "HEAD", "PUT", "TRACE"]),
      path: random.pick([
        "/",
        "/api",
        "/api/v1",
        "/api/v2/logs",
        `/api/v1/${hostileParam(random)}`,
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/docs",
        "/console",
      ]),
      headers: keyHeader(c),
    }),
  },
};

/** Picks a family by weight and generates its case. */
export function generateCase(random: Random, credentials: FuzzCredentials, routes: OpenApiRoute[]): FuzzCase {
  const entries = Object.values(FAMILIES);
  let roll = random.next() * entries.reduce((sum, entry) => sum + entry.weight, 0);
  for (const entry of entries) {
    roll -= entry.weight;
    if (roll < 0) return entry.generate(random, credentials, routes);
  }
  return entries[0]!.generate(random, credentials, routes);
}

/** The api's documented routes, from its own OpenAPI document. */
export function routesFromOpenApi(document: {
  paths?: Record<string, Record<string, { parameters?: Array<{ in: string; name: string }> }>>;
}): OpenApiRoute[] {
  const routes: OpenApiRoute[] = [];
  for (const [path, operations] of Object.entries(document.paths ?? {}))
    for (const [method, operation] of Object.entries(operations))
      routes.push({
        method,
        path,
        queryParameters: (operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
      });
  return routes;
}
