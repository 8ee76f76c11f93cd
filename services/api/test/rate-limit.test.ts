// Abuse limits: per-credential and per-tenant token buckets answer 429 with Retry-After, and a
// noisy tenant does not take another tenant's capacity. The api runs with tiny RATE_LIMIT_* values.

import { createApiKey } from "@vigil/shared/auth/api-keys";
import { createTestPipeline, type RunningService, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
let api: RunningService;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api", {
    RATE_LIMIT_PER_KEY_RPS: "1",
    RATE_LIMIT_PER_KEY_BURST: "5",
    RATE_LIMIT_PER_TENANT_RPS: "1",
    RATE_LIMIT_PER_TENANT_BURST: "8",
  });
});
afterAll(async () => pipeline?.close());

const list = (key: string) => requestJson(`${api.url}/api/v1/logs?limit=1`, { key });

test("a burst beyond a key's bucket gets 429 with Retry-After while another tenant keeps succeeding", async () => {
  const noisy = await pipeline.createTenantWithKey(["read"]);
  const quiet = await pipeline.createTenantWithKey(["read"]);
  const burst = await Promise.all(Array.from({ length: 12 }, () => list(noisy.key)));
  const limited = burst.filter((response) => response.status === 429);
  expect(burst.filter((response) => response.status === 200).length).toBeLessThanOrEqual(6);
  expect(limited.length).toBeGreaterThanOrEqual(6);
  for (const response of limited) {
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body.code).toBe("RATE_LIMITED");
  }
  // The noisy tenant is still being refused; the quiet one is served in full.
  const [stillNoisy, ...quietResponses] = await Promise.all([
    list(noisy.key),
    ...Array.from({ length: 5 }, () => list(quiet.key)),
  ]);
  expect(stillNoisy.status).toBe(429);
  expect(quietResponses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
});

test("the tenant bucket caps the sum of a tenant's keys", async () => {
  const tenant = await pipeline.createTenantWithKey(["read"]);
  const control = await pipeline.createTenantWithKey(["read"]);
  const extra = await createApiKey(pipeline.database.admin, {
    tenantId: tenant.tenant.id,
    name: "second",
    scopes: ["read"],
  });
  // 5 + 5 requests on two keys of one tenant: each key is within its burst of 5, the tenant's 8 is not.
  const responses = await Promise.all([
    ...Array.from({ length: 5 }, () => list(tenant.key)),
    ...Array.from({ length: 5 }, () => list(extra.key)),
  ]);
  const statuses = responses.map((response) => response.status);
  expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(2);
  const tenantLimited = responses.find((response) => response.status === 429)!;
  expect(tenantLimited.body.detail).toContain("tenant");
  expect((await list(control.key)).status).toBe(200);
});

test("after Retry-After the key is served again", async () => {
  const tenant = await pipeline.createTenantWithKey(["read"]);
  await Promise.all(Array.from({ length: 7 }, () => list(tenant.key)));
  const limited = await list(tenant.key);
  expect(limited.status).toBe(429);
  await new Promise((resolve) =>
    setTimeout(resolve, Number(limited.headers.get("retry-after")) * 1000 + 100),
  );
  expect((await list(tenant.key)).status).toBe(200);
});
