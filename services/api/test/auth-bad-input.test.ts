// Hostile input to the auth and admin endpoints: each case below answered 500 (or stored a mangled
// name) before; now it is a 4xx problem+json naming the field, nothing is stored, and the api stays up.
import { createTestPipeline, type RunningService, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { adminToken, createTenant, uniqueName } from "./auth-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
let admin: string;
let tenantId: string;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  admin = await adminToken(api.url);
  tenantId = (await createTenant(api.url, admin)).id;
});
afterAll(async () => pipeline?.close());

const NUL = "a\u0000b";
const LONE_SURROGATE = "a\ud800b";
const form = (body: string) => ({
  rawBody: body,
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});

interface Case {
  name: string;
  path: () => string;
  init: () => Parameters<typeof requestJson>[1];
  status: number;
  field: string;
}

const cases: Case[] = [
  ...[NUL, LONE_SURROGATE, "   "].map((username) => ({
    name: `login username ${JSON.stringify(username)}`,
    path: () => "/api/v1/auth/token",
    init: () => ({ body: { grant_type: "password", username, password: "whatever-password" } }),
    status: 422,
    field: "username",
  })),
  {
    name: "login username with U+0000, form-encoded",
    path: () => "/api/v1/auth/token",
    init: () => form("grant_type=password&username=a%00b&password=x"),
    status: 422,
    field: "username",
  },
  ...[NUL, LONE_SURROGATE].map((name) => ({
    name: `API key name ${JSON.stringify(name)}`,
    path: () => `/api/v1/tenants/${tenantId}/keys`,
    init: () => ({ token: admin, body: { name, scopes: ["read"] } }),
    status: 422,
    field: "name",
  })),
  ...[NUL, LONE_SURROGATE].map((email) => ({
    name: `user email ${JSON.stringify(email)}`,
    path: () => `/api/v1/tenants/${tenantId}/users`,
    init: () => ({
      token: admin,
      body: { email: `${email}@example.test`, password: "long-enough-password", role: "auditor" },
    }),
    status: 422,
    field: "email",
  })),
  ...[NUL, LONE_SURROGATE].map((name) => ({
    name: `tenant name ${JSON.stringify(name)}`,
    path: () => "/api/v1/tenants",
    init: () => ({ token: admin, body: { name } }),
    status: 422,
    field: "name",
  })),
  {
    name: "tenant rename to a lone surrogate",
    path: () => `/api/v1/tenants/${tenantId}`,
    init: () => ({ method: "PATCH", token: admin, body: { name: LONE_SURROGATE } }),
    status: 422,
    field: "name",
  },
  {
    name: "tenant list filter name=a%00b",
    path: () => "/api/v1/tenants?name=a%00b",
    init: () => ({ token: admin }),
    status: 400,
    field: "name",
  },
  ...["not-a-uuid", "a%00b", "x".repeat(300)].flatMap((bad) => [
    {
      name: `tenant id ${bad.slice(0, 20)}`,
      path: () => `/api/v1/tenants/${bad}`,
      init: () => ({ token: admin }),
      status: 400,
      field: "id",
    },
    {
      name: `tenant id ${bad.slice(0, 20)} in keys`,
      path: () => `/api/v1/tenants/${bad}/keys`,
      init: () => ({ token: admin, body: { scopes: ["read"] } }),
      status: 400,
      field: "id",
    },
    {
      name: `tenant id ${bad.slice(0, 20)} in users`,
      path: () => `/api/v1/tenants/${bad}/users`,
      init: () => ({ token: admin }),
      status: 400,
      field: "id",
    },
    {
      name: `key id ${bad.slice(0, 20)}`,
      path: () => `/api/v1/tenants/${tenantId}/keys/${bad}`,
      init: () => ({ method: "DELETE", token: admin }),
      status: 400,
      field: "key_id",
    },
  ]),
  ...["zz", "a%00b", "00000000-0000-0000-0000-00000000000g"].map((bad) => ({
    name: `platform admin's tenant_id=${bad}`,
    path: () => `/api/v1/logs?tenant_id=${bad}`,
    init: () => ({ token: admin }),
    status: 400,
    field: "tenant_id",
  })),
];

test.each(cases)("$name → $status naming `$field`", async ({ path, init, status, field }) => {
  const response = await requestJson(`${api.url}${path()}`, init());
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  expect(response.body.errors?.map((error: { path: string }) => error.path)).toContain(field);
});

test("nothing was stored under a mangled name, and the api is still up", async () => {
  const names = await pipeline.database.admin<{ name: string }[]>`
    select name from tenants where name like ${"a%b"} union all select name from api_keys where name like ${"a%b"}`;
  expect(names).toEqual([]);
  expect((await requestJson(`${api.url}/healthz`)).status).toBe(200);
});

test("a username longer than an event's resource_id is an ordinary failed login (401), audited", async () => {
  const username = `${uniqueName("x".repeat(280))}@example.test`;
  const response = await requestJson(`${api.url}/api/v1/auth/token`, {
    body: { grant_type: "password", username, password: "whatever-password" },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(401);
  expect(response.body.code).toBe("INVALID_CREDENTIAL");
});
