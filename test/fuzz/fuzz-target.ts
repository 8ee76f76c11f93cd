// Prepares a running pipeline for fuzzing: two tenants, a key, a platform admin and a tenant admin
// through the real api (as an operator would), one stored event, and the api's route list.
import { randomBytes } from "node:crypto";
import type { TestPipeline } from "@vigil/testkit/isolated-pipeline";
import type { RunningService } from "@vigil/testkit/services";
import type { FuzzTarget } from "./fuzz-runner.ts";
import { routesFromOpenApi } from "./request-cases.ts";

/** The testkit's platform admin (VIGIL_ADMIN_EMAIL default, VIGIL_ADMIN_PASSWORD from testkit's env). */
const ADMIN = { username: "admin@localhost", password: "admin-password-for-tests" };

/**
 * Limits raised so hostile requests reach the code behind the limiters; the limiters themselves
 * still run on every request.
 */
export const FUZZ_SERVICE_ENV: Record<string, string> = {
  RATE_LIMIT_PER_KEY_RPS: "1000000",
  RATE_LIMIT_PER_KEY_BURST: "1000000",
  RATE_LIMIT_PER_TENANT_RPS: "1000000",
  RATE_LIMIT_PER_TENANT_BURST: "1000000",
  VIGIL_LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
  VIGIL_LOGIN_MAX_FAILURES_PER_IP: "1000000",
  VIGIL_AUTH_MAX_FAILURES_PER_IP: "1000000",
  STREAM_UPGRADES_PER_MINUTE_PER_IP: "1000000",
  STREAM_UPGRADES_PER_MINUTE_PER_CREDENTIAL: "1000000",
};

async function call(url: string, init: { method?: string; token?: string; key?: string; body?: unknown }) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  if (init.key) headers["X-API-Key"] = init.key;
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const body = (await response.json().catch(() => null)) as Record<string, any>;
  if (!response.ok) throw new Error(`fuzz setup: ${url} answered ${response.status} ${JSON.stringify(body)}`);
  return body;
}

export async function prepareFuzzTarget(
  pipeline: TestPipeline,
  services: { api: RunningService; streamer: RunningService; worker: RunningService },
  maxRssMb = { api: 700, streamer: 400, worker: 500 },
): Promise<FuzzTarget> {
  const api = services.api.url;
  const login = async (username: string, password: string) =>
    (await call(`${api}/api/v1/auth/token`, { body: { grant_type: "password", username, password } }))
      .access_token as string;
  const adminToken = await login(ADMIN.username, ADMIN.password);
  const tenantA = await call(`${api}/api/v1/tenants`, {
    token: adminToken,
    body: { name: `fuzz-a-${randomBytes(3).toString("hex")}` },
  });
  const tenantB = await call(`${api}/api/v1/tenants`, {
    token: adminToken,
    body: { name: `fuzz-b-${randomBytes(3).toString("hex")}` },
  });
  const key = await call(`${api}/api/v1/tenants/${tenantA.id}/keys`, {
    token: adminToken,
    body: { name: "fuzz key", scopes: ["ingest", "read"] },
  });
  const email = `fuzz-admin-${randomBytes(3).toString("hex")}@example.test`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  await call(`${api}/api/v1/tenants/${tenantB.id}/users`, {
    token: adminToken,
    body: { email, password, role: "tenant_admin" },
  });
  const known = await call(`${api}/api/v1/logs?wait=true`, {
    key: key.api_key,
    body: { action_type: "CREATE", resource_type: "invoice", resource_id: "known", user_id: "fuzz" },
  });
  const openapi = await call(`${api}/openapi.json`, {});
  const admin = pipeline.database.admin;
  return {
    apiUrl: api,
    streamerUrl: services.streamer.url,
    credentials: {
      tenantKey: key.api_key,
      tenantId: tenantA.id,
      adminToken,
      tenantAdminToken: await login(email, password),
      otherTenantId: tenantB.id,
      knownEventId: known.id,
    },
    routes: routesFromOpenApi(openapi),
    processes: [
      { name: "api", pid: services.api.pid, maxRssMb: maxRssMb.api },
      { name: "streamer", pid: services.streamer.pid, maxRssMb: maxRssMb.streamer },
      { name: "worker", pid: services.worker.pid, maxRssMb: maxRssMb.worker },
    ],
    storedCount: async (ids) => {
      if (ids.length === 0) return { distinct: 0, rows: 0 };
      const [row] = await admin<{ distinct: number; rows: number }[]>`
        select count(distinct id)::int as distinct, count(*)::int as rows
        from events where tenant_id = ${tenantA.id} and id = any(${ids}::uuid[])`;
      return row ?? { distinct: 0, rows: 0 };
    },
  };
}
