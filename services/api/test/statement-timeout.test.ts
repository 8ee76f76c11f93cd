// A statement cancelled by DATABASE_STATEMENT_TIMEOUT_MS is answered 504 TIMEOUT with a problem
// document (never a bare 500), and the api keeps serving. The slow statement is made deterministic
// by holding a lock the api's key lookup must wait for (statement_timeout covers lock waits).
import { createTestPipeline, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
beforeAll(async () => {
  pipeline = await createTestPipeline();
});
afterAll(async () => pipeline?.close());

test("a query cancelled by statement_timeout is a 504 TIMEOUT problem, and the api recovers", async () => {
  const api = await pipeline.start("api", { DATABASE_STATEMENT_TIMEOUT_MS: "500" });
  const { key } = await pipeline.createTenantWithKey(["read"]);
  const locker = await pipeline.database.admin.reserve();
  try {
    await locker`begin`;
    await locker`lock table api_keys in access exclusive mode`;
    const started = Date.now();
    const response = await requestJson(`${api.url}/api/v1/logs`, { key });
    expect(response.status).toBe(504);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body.code).toBe("TIMEOUT");
    expect(response.body.request_id).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    await locker`rollback`;
    locker.release();
  }
  const after = await requestJson(`${api.url}/api/v1/logs`, { key });
  expect(after.status).toBe(200);
});
