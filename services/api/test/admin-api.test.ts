// Admin API (spec §5) and the role table (spec §4), over HTTP to the real api and worker: tenants,
// keys and users; every cell of the role table, allowed and denied; API-key secrecy and revocation;
// bad inputs; and Vigil's own audit trail in the system tenant.

import { SYSTEM_TENANT_ID } from "@vigil/shared/tenants/tenants";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  adminToken,
  createKey,
  createTenant,
  createUser,
  PLATFORM_ADMIN,
  uniqueName,
} from "./auth-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
let admin: string;
/** Every plaintext secret handed out in this file: none may appear in the database, logs or error bodies. */
const secrets: string[] = [PLATFORM_ADMIN.password];

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api");
  await pipeline.start("worker");
  admin = await adminToken(api.url);
});
afterAll(async () => pipeline?.close());

const url = (path: string) => `${api.url}${path}`;
type Auth = { key?: string; token?: string };

describe("the role table (spec §4), cell by cell", () => {
  type Principal = "admin" | "tenant_admin" | "auditor" | "key:ingest" | "key:read";
  /** any: own and other tenants · own: own tenant only · yes: allowed (not tenant-bound) · no: refused. */
  type Cell = "any" | "own" | "yes" | "no";
  interface Action {
    name: string;
    cells: Record<Principal, Cell>;
    /** Requests that exercise the action against `tenantId`. */
    requests: (tenantId: string) => Array<{ method: string; path: string; body?: unknown }>;
  }
  const before = new Date(Date.now() - 400 * 86_400_000).toISOString();
  const ROLE_TABLE: Action[] = [
    {
      name: "post events",
      cells: { admin: "any", tenant_admin: "own", auditor: "no", "key:ingest": "own", "key:read": "no" },
      requests: (tenantId) => [
        {
          method: "POST",
          path: "/api/v1/logs",
          body: { tenant_id: tenantId, action_type: "CREATE", resource_type: "doc", resource_id: "d1" },
        },
        {
          method: "POST",
          path: "/api/v1/logs/bulk",
          body: [{ tenant_id: tenantId, action_type: "VIEW", resource_type: "doc", resource_id: "d1" }],
        },
      ],
    },
    {
      name: "read, search, export, stats",
      cells: { admin: "any", tenant_admin: "own", auditor: "own", "key:ingest": "no", "key:read": "own" },
      requests: (tenantId) => [
        { method: "GET", path: `/api/v1/logs?tenant_id=${tenantId}` },
        { method: "GET", path: `/api/v1/logs?q=doc&tenant_id=${tenantId}` },
        { method: "GET", path: `/api/v1/logs/export?format=ndjson&tenant_id=${tenantId}` },
        { method: "GET", path: `/api/v1/logs/stats?tenant_id=${tenantId}` },
        { method: "GET", path: `/api/v1/resources/doc/d1/history?tenant_id=${tenantId}` },
      ],
    },
    {
      name: "cleanup, retention, own keys and users",
      cells: { admin: "any", tenant_admin: "own", auditor: "no", "key:ingest": "no", "key:read": "no" },
      requests: (tenantId) => [
        {
          method: "DELETE",
          path: `/api/v1/logs/cleanup?before=${before}&dry_run=true&tenant_id=${tenantId}`,
        },
        { method: "PATCH", path: `/api/v1/tenants/${tenantId}`, body: { retention_days: 400 } },
        { method: "GET", path: `/api/v1/tenants/${tenantId}/keys` },
        {
          method: "POST",
          path: `/api/v1/tenants/${tenantId}/keys`,
          body: { name: "role-table", scopes: ["read"] },
        },
        { method: "GET", path: `/api/v1/tenants/${tenantId}/users` },
        {
          method: "POST",
          path: `/api/v1/tenants/${tenantId}/users`,
          body: {
            email: `${uniqueName("rt")}@example.test`,
            password: "role-table-password",
            role: "auditor",
          },
        },
      ],
    },
    {
      name: "tenants",
      cells: { admin: "yes", tenant_admin: "no", auditor: "no", "key:ingest": "no", "key:read": "no" },
      requests: (tenantId) => [
        { method: "GET", path: "/api/v1/tenants" },
        { method: "POST", path: "/api/v1/tenants", body: { name: uniqueName("rt-tenant") } },
        { method: "GET", path: `/api/v1/tenants/${tenantId}` },
        { method: "PATCH", path: `/api/v1/tenants/${tenantId}`, body: { status: "active" } },
      ],
    },
  ];

  let own: string;
  let other: string;
  let principals: Record<Principal, Auth>;
  beforeAll(async () => {
    own = (await createTenant(url(""), admin)).id;
    other = (await createTenant(url(""), admin)).id;
    principals = {
      admin: { token: admin },
      tenant_admin: { token: (await createUser(api.url, admin, own, "tenant_admin")).token },
      auditor: { token: (await createUser(api.url, admin, own, "auditor")).token },
      "key:ingest": { key: (await createKey(api.url, admin, own, ["ingest"])).key },
      "key:read": { key: (await createKey(api.url, admin, own, ["read"])).key },
    };
  });

  const cases = ROLE_TABLE.flatMap((action) =>
    (Object.keys(action.cells) as Principal[]).map((principal) => ({
      action: action.name,
      principal,
      cell: action.cells[principal],
    })),
  );
  test.each(cases)("$action × $principal = $cell", async ({ action, principal, cell }) => {
    const row = ROLE_TABLE.find((candidate) => candidate.name === action)!;
    const targets: Array<{ tenant: string; allowed: boolean }> = [
      { tenant: own, allowed: cell !== "no" },
      { tenant: other, allowed: cell === "any" || cell === "yes" },
    ];
    for (const { tenant, allowed } of targets) {
      for (const request of row.requests(tenant)) {
        const response = await requestJson(url(request.path), {
          method: request.method,
          body: request.body,
          ...principals[principal],
        });
        const label = `${principal} ${request.method} ${request.path} (${tenant === own ? "own" : "other"} tenant): ${JSON.stringify(response.body).slice(0, 200)}`;
        if (allowed) expect(response.status, label).toBeLessThan(300);
        else expect(response.status, label).toBe(403);
      }
    }
  });
});

describe("tenants", () => {
  test("create, list with filters, get, suspend (ingest 403) and reactivate", async () => {
    const name = uniqueName("Acme Corp");
    const created = await requestJson(url("/api/v1/tenants"), {
      token: admin,
      body: { name, retention_days: 90 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name, status: "active", retention_days: 90 });
    const id = created.body.id;
    expect((await requestJson(url(`/api/v1/tenants/${id}`), { token: admin })).body).toEqual(created.body);
    expect((await requestJson(url("/api/v1/tenants"), { token: admin, body: { name } })).status).toBe(409);

    const byName = await requestJson(
      url(`/api/v1/tenants?name=${encodeURIComponent(name.slice(0, 12).toLowerCase())}`),
      { token: admin },
    );
    expect(byName.body.data.map((tenant: { id: string }) => tenant.id)).toContain(id);

    const { key } = await createKey(api.url, admin, id, ["ingest", "read"]);
    secrets.push(key);
    const event = { action_type: "CREATE", resource_type: "doc", resource_id: "x" };
    expect((await requestJson(url("/api/v1/logs"), { key, body: event })).status).toBe(202);

    const suspended = await requestJson(url(`/api/v1/tenants/${id}`), {
      method: "PATCH",
      token: admin,
      body: { status: "suspended" },
    });
    expect(suspended.status).toBe(200);
    expect(suspended.body.status).toBe("suspended");
    const refused = await requestJson(url("/api/v1/logs"), { key, body: event });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("TENANT_NOT_ACTIVE");
    const bySuspended = await requestJson(url("/api/v1/tenants?status=suspended"), { token: admin });
    expect(bySuspended.body.data.every((tenant: { status: string }) => tenant.status === "suspended")).toBe(
      true,
    );
    expect(bySuspended.body.data.map((tenant: { id: string }) => tenant.id)).toContain(id);

    await requestJson(url(`/api/v1/tenants/${id}`), {
      method: "PATCH",
      token: admin,
      body: { status: "inactive" },
    });
    expect((await requestJson(url("/api/v1/logs"), { key, body: event })).status).toBe(403);
    await requestJson(url(`/api/v1/tenants/${id}`), {
      method: "PATCH",
      token: admin,
      body: { status: "active" },
    });
    expect((await requestJson(url("/api/v1/logs"), { key, body: event })).status).toBe(202);
    expect(
      (await requestJson(url(`/api/v1/tenants/00000000-0000-4000-8000-00000000abcd`), { token: admin }))
        .status,
    ).toBe(404);
  });
});

describe("API keys", () => {
  test("the key is shown once; the list shows prefix, scopes and last use; the database holds only a hash", async () => {
    const tenant = await createTenant(api.url, admin);
    const created = await requestJson(url(`/api/v1/tenants/${tenant.id}/keys`), {
      token: admin,
      body: { name: "ci", scopes: ["read"] },
    });
    expect(created.status).toBe(201);
    const plaintext: string = created.body.api_key;
    secrets.push(plaintext);
    expect(plaintext).toMatch(/^vgl_[0-9A-Za-z]{40}$/);
    expect(created.body).toMatchObject({
      name: "ci",
      scopes: ["read"],
      prefix: plaintext.slice(0, 12),
      last_used_at: null,
    });

    expect((await requestJson(url("/api/v1/logs"), { key: plaintext })).status).toBe(200);
    const listed = await requestJson(url(`/api/v1/tenants/${tenant.id}/keys`), { token: admin });
    expect(listed.status).toBe(200);
    const entry = listed.body.data.find((key: { id: string }) => key.id === created.body.id);
    expect(entry).toMatchObject({ prefix: plaintext.slice(0, 12), scopes: ["read"], revoked_at: null });
    expect(entry.last_used_at).not.toBeNull();
    expect(JSON.stringify(listed.body)).not.toContain(plaintext);
    expect(entry.api_key).toBeUndefined();
  });

  test("an ingest-only key gets 403 on every read path; a revoked key gets 401 on the next request", async () => {
    const tenant = await createTenant(api.url, admin);
    const ingest = await createKey(api.url, admin, tenant.id, ["ingest"]);
    secrets.push(ingest.key);
    for (const path of [
      "/api/v1/logs",
      "/api/v1/logs/export",
      "/api/v1/logs/stats",
      "/api/v1/resources/doc/1/history",
      "/api/v1/logs/00000000-0000-4000-8000-000000000001",
    ]) {
      const response = await requestJson(url(path), { key: ingest.key });
      expect(response.status, path).toBe(403);
    }
    expect(
      (
        await requestJson(url("/api/v1/logs"), {
          key: ingest.key,
          body: { action_type: "VIEW", resource_type: "doc", resource_id: "1" },
        })
      ).status,
    ).toBe(202);

    const revoked = await requestJson(url(`/api/v1/tenants/${tenant.id}/keys/${ingest.id}`), {
      method: "DELETE",
      token: admin,
    });
    expect(revoked.status).toBe(204);
    const after = await requestJson(url("/api/v1/logs"), {
      key: ingest.key,
      body: { action_type: "VIEW", resource_type: "doc", resource_id: "1" },
    });
    expect(after.status).toBe(401);
    expect(JSON.stringify(after.body)).not.toContain(ingest.key);
    const listed = await requestJson(url(`/api/v1/tenants/${tenant.id}/keys`), { token: admin });
    expect(listed.body.data[0].revoked_at).not.toBeNull();
    // Revoking through another tenant's path finds nothing.
    const other = await createTenant(api.url, admin);
    expect(
      (
        await requestJson(url(`/api/v1/tenants/${other.id}/keys/${ingest.id}`), {
          method: "DELETE",
          token: admin,
        })
      ).status,
    ).toBe(404);
  });
});

describe("users", () => {
  test("tenant admins manage their own tenant's users; emails are unique; passwords are stored as scrypt hashes", async () => {
    const tenant = await createTenant(api.url, admin);
    const tenantAdmin = await createUser(api.url, admin, tenant.id, "tenant_admin");
    secrets.push(tenantAdmin.password);
    const auditorEmail = `${uniqueName("aud")}@example.test`;
    const created = await requestJson(url(`/api/v1/tenants/${tenant.id}/users`), {
      token: tenantAdmin.token,
      body: { email: auditorEmail.toUpperCase(), password: "auditor-password-1", role: "auditor" },
    });
    secrets.push("auditor-password-1");
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      email: auditorEmail,
      role: "auditor",
      tenant_id: tenant.id,
      status: "active",
    });
    expect(created.body.password_hash).toBeUndefined();
    const duplicate = await requestJson(url(`/api/v1/tenants/${tenant.id}/users`), {
      token: tenantAdmin.token,
      body: { email: auditorEmail, password: "another-password-1", role: "tenant_admin" },
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.errors[0].path).toBe("email");

    const listed = await requestJson(url(`/api/v1/tenants/${tenant.id}/users`), { token: tenantAdmin.token });
    expect(listed.body.data.map((user: { email: string }) => user.email).sort()).toEqual(
      [auditorEmail, tenantAdmin.email].sort(),
    );
    const [row] = await pipeline.database.admin<
      { password_hash: string }[]
    >`select password_hash from users where email = ${auditorEmail}`;
    expect(row!.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
  });
});

describe("bad inputs are 4xx problem+json naming the field", () => {
  test.each([
    {
      name: "malformed JSON",
      method: "POST",
      path: () => "/api/v1/tenants",
      raw: '{"name":',
      status: 400,
      field: "(body)",
    },
    {
      name: "unknown field",
      method: "POST",
      path: () => "/api/v1/tenants",
      body: { name: "x", plan: "gold" },
      status: 422,
      field: "plan",
    },
    {
      name: "empty name",
      method: "POST",
      path: () => "/api/v1/tenants",
      body: { name: "" },
      status: 422,
      field: "name",
    },
    {
      name: "retention out of range",
      method: "POST",
      path: () => "/api/v1/tenants",
      body: { name: "x", retention_days: 0 },
      status: 422,
      field: "retention_days",
    },
    {
      name: "bad status enum",
      method: "PATCH",
      path: (t: string) => `/api/v1/tenants/${t}`,
      body: { status: "paused" },
      status: 422,
      field: "status",
    },
    {
      name: "empty patch",
      method: "PATCH",
      path: (t: string) => `/api/v1/tenants/${t}`,
      body: {},
      status: 422,
      field: "(body)",
    },
    {
      name: "bad UUID in path",
      method: "PATCH",
      path: () => "/api/v1/tenants/not-a-uuid",
      body: { status: "active" },
      status: 400,
      field: "id",
    },
    {
      name: "bad UUID in path (get)",
      method: "GET",
      path: () => "/api/v1/tenants/123",
      status: 400,
      field: "id",
    },
    {
      name: "bad status filter",
      method: "GET",
      path: () => "/api/v1/tenants?status=paused",
      status: 400,
      field: "status",
    },
    {
      name: "unknown list parameter",
      method: "GET",
      path: () => "/api/v1/tenants?owner=me",
      status: 400,
      field: "owner",
    },
    {
      name: "bad scope enum",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/keys`,
      body: { scopes: ["write"] },
      status: 422,
      field: "scopes.0",
    },
    {
      name: "no scopes",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/keys`,
      body: { scopes: [] },
      status: 422,
      field: "scopes",
    },
    {
      name: "key: unknown field",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/keys`,
      body: { scopes: ["read"], expires: 1 },
      status: 422,
      field: "expires",
    },
    {
      name: "bad key id",
      method: "DELETE",
      path: (t: string) => `/api/v1/tenants/${t}/keys/nope`,
      status: 400,
      field: "key_id",
    },
    {
      name: "bad tenant id for keys",
      method: "GET",
      path: () => "/api/v1/tenants/zzz/keys",
      status: 400,
      field: "id",
    },
    {
      name: "bad role enum",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/users`,
      body: { email: "a@b.test", password: "long-enough-pw", role: "admin" },
      status: 422,
      field: "role",
    },
    {
      name: "bad email",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/users`,
      body: { email: "nope", password: "long-enough-pw", role: "auditor" },
      status: 422,
      field: "email",
    },
    {
      name: "short password",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/users`,
      body: { email: "a@b.test", password: "short", role: "auditor" },
      status: 422,
      field: "password",
    },
    {
      name: "not JSON",
      method: "POST",
      path: (t: string) => `/api/v1/tenants/${t}/users`,
      raw: "email=a",
      contentType: "text/plain",
      status: 415,
      field: "Content-Type",
    },
    {
      name: "body too large",
      method: "POST",
      path: () => "/api/v1/tenants",
      body: { name: "x".repeat(70_000) },
      status: 413,
      field: "(body)",
    },
  ])("$name → $status", async ({ method, path, body, raw, contentType, status, field }) => {
    const tenant = SYSTEM_TENANT_ID;
    const response = await requestJson(url(path(tenant)), {
      method,
      token: admin,
      ...(raw !== undefined
        ? { rawBody: raw, headers: { "Content-Type": contentType ?? "application/json" } }
        : { body }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body.request_id).toBe(response.headers.get("x-request-id"));
    expect(response.body.errors.map((error: { path: string }) => error.path)).toContain(field);
  });
});

describe("Vigil audits itself in the system tenant", () => {
  test("admin writes and logins (success and failure) are events a platform admin can search", async () => {
    const name = uniqueName("audited");
    const tenant = await createTenant(api.url, admin, name);
    const key = await createKey(api.url, admin, tenant.id, ["read"]);
    secrets.push(key.key);
    await requestJson(url(`/api/v1/tenants/${tenant.id}/keys/${key.id}`), { method: "DELETE", token: admin });
    const failed = await requestJson(url("/api/v1/auth/token"), {
      headers: { "User-Agent": "audit-test/1.0" },
      body: { grant_type: "password", username: "intruder@example.test", password: "guess-guess-guess" },
    });
    expect(failed.status).toBe(401);

    const search = (query: string) =>
      requestJson(url(`/api/v1/logs?tenant_id=${SYSTEM_TENANT_ID}&${query}`), { token: admin });
    const [adminUser] = await pipeline.database.admin<
      { id: string }[]
    >`select id from users where role = 'admin'`;
    const created = await eventually(
      async () => (await search(`action=tenant.create&resource_id=${tenant.id}`)).body.data?.[0],
    );
    expect(created).toMatchObject({
      tenant_id: SYSTEM_TENANT_ID,
      action_type: "CREATE",
      resource_type: "tenant",
      user_id: `user:${adminUser!.id}`,
      ip_address: "127.0.0.1",
      outcome: "success",
    });
    expect(created.after_state).toMatchObject({ name });
    const keyEvents = await eventually(async () => {
      const page = (await search(`resource_type=api_key&resource_id=${key.id}`)).body.data;
      return page?.length === 2 ? page : null;
    });
    expect(keyEvents.map((event: { action: string }) => event.action).sort()).toEqual([
      "api_key.create",
      "api_key.revoke",
    ]);
    expect(JSON.stringify(keyEvents)).not.toContain(key.key);

    const failure = await eventually(
      async () =>
        (await search("action=auth.login_failed&outcome=failure&resource_id=intruder@example.test")).body
          .data?.[0],
    );
    expect(failure).toMatchObject({
      user_id: "login:intruder@example.test",
      user_agent: "audit-test/1.0",
      severity: "WARNING",
    });
    expect(failure.metadata.reason).toBe("unknown_account");
    const success = await eventually(
      async () => (await search(`action=auth.login&user_id=user:${adminUser!.id}`)).body.data?.[0],
    );
    expect(success).toMatchObject({
      outcome: "success",
      resource_type: "session",
      metadata: expect.objectContaining({ email: PLATFORM_ADMIN.email }),
    });

    // Tenant-bound credentials cannot read the system tenant.
    const tenantAdmin = await createUser(api.url, admin, tenant.id, "tenant_admin");
    expect(
      (await requestJson(url(`/api/v1/logs?tenant_id=${SYSTEM_TENANT_ID}`), { token: tenantAdmin.token }))
        .status,
    ).toBe(403);
  });
});

describe("no secret leaves the api", () => {
  test("no plaintext key or password is in the database, the api's log output or an error body", async () => {
    const dump = await pipeline.database.admin<{ dump: string }[]>`
      select concat_ws(' ',
        (select coalesce(string_agg(row_to_json(k)::text, ' '), '') from api_keys k),
        (select coalesce(string_agg(row_to_json(u)::text, ' '), '') from users u),
        (select coalesce(string_agg(row_to_json(r)::text, ' '), '') from refresh_tokens r),
        (select coalesce(string_agg(row_to_json(e)::text, ' '), '') from events e)) as dump`;
    const key = secrets.find((secret) => secret.startsWith("vgl_"))!;
    // An error body for a bad credential does not echo it either.
    const bad = await requestJson(url("/api/v1/logs"), { key: `${key.slice(0, -1)}X` });
    expect(bad.status).toBe(401);
    expect(secrets.length).toBeGreaterThan(4);
    for (const secret of secrets) {
      expect(dump[0]!.dump).not.toContain(secret);
      expect(api.output()).not.toContain(secret);
      expect(JSON.stringify(bad.body)).not.toContain(secret.slice(4));
    }
    expect(api.output()).toContain('"msg":"request"'); // the output was captured
  });
});

test("the OpenAPI document describes the auth and admin routes from the same schemas", async () => {
  const document = await requestJson(url("/openapi.json"));
  expect(document.status).toBe(200);
  for (const path of [
    "/api/v1/auth/token",
    "/api/v1/auth/revoke",
    "/.well-known/jwks.json",
    "/api/v1/tenants",
    "/api/v1/tenants/{id}",
    "/api/v1/tenants/{id}/keys",
    "/api/v1/tenants/{id}/keys/{key_id}",
    "/api/v1/tenants/{id}/users",
  ]) {
    expect(Object.keys(document.body.paths), path).toContain(path);
  }
  const userBody =
    document.body.paths["/api/v1/tenants/{id}/users"].post.requestBody.content["application/json"].schema;
  expect(JSON.stringify(userBody)).toContain("tenant_admin");
  expect(Object.keys(document.body.paths["/api/v1/auth/token"].post.requestBody.content)).toContain(
    "application/x-www-form-urlencoded",
  );
});
