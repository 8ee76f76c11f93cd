// Stream upgrades are limited before work: per client IP and per credential (token buckets), and an
// address that keeps presenting bad credentials is refused before any lookup. Each refusal is a 429
// problem+json with Retry-After on the upgrade request. The streamer trusts one proxy hop here, so
// the test plays several client addresses through X-Forwarded-For.
import { createTestPipeline, type RunningService, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { openStream, StreamRefused } from "./stream-client.ts";

let pipeline: TestPipeline;
let streamer: RunningService;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  streamer = await pipeline.start("streamer", {
    VIGIL_TRUSTED_PROXY_HOPS: "1",
    STREAM_UPGRADES_PER_MINUTE_PER_IP: "5",
    STREAM_UPGRADES_PER_MINUTE_PER_CREDENTIAL: "3",
    VIGIL_AUTH_MAX_FAILURES_PER_IP: "4",
  });
});
afterAll(async () => pipeline?.close());

/** Opens (and closes again) a stream as `ip`; the upgrade's HTTP status and, if refused, the problem code. */
async function upgrade(token: string, ip: string) {
  return openStream(streamer.url, { token, headers: { "X-Forwarded-For": `203.0.113.200, ${ip}` } }).then(
    (client) => {
      client.close();
      return { status: 101, code: undefined };
    },
    (error: unknown) => {
      if (!(error instanceof StreamRefused)) throw error;
      return { status: error.status, code: error.body.code };
    },
  );
}

test("one credential may open only so many streams a minute, from any address", async () => {
  const { key } = await pipeline.createTenantWithKey(["read"]);
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await upgrade(key, `198.51.100.${i + 1}`)).status);
  expect(statuses).toEqual([101, 101, 101, 429]);
  const other = await pipeline.createTenantWithKey(["read"]);
  expect((await upgrade(other.key, "198.51.100.9")).status).toBe(101);
});

test("one address may attempt only so many upgrades a minute, whatever the credential", async () => {
  const keys = await Promise.all(Array.from({ length: 6 }, () => pipeline.createTenantWithKey(["read"])));
  const results = [];
  for (const { key } of keys) results.push(await upgrade(key, "198.51.100.50"));
  expect(results.map((result) => result.status)).toEqual([101, 101, 101, 101, 101, 429]);
  expect(results[5]!.code).toBe("RATE_LIMITED");
  expect((await upgrade(keys[5]!.key, "198.51.100.51")).status).toBe(101);
});

test("an address that keeps presenting bad credentials is refused before any lookup, even with a good one", async () => {
  const { key } = await pipeline.createTenantWithKey(["read"]);
  const attacker = "198.51.100.77";
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await upgrade(`vgl_${"x".repeat(39)}${i}`, attacker)).status);
  expect(statuses).toEqual([401, 401, 401, 401]);
  // While the streamer's role cannot read api_keys, any lookup would fail: a 429 proves none was made.
  await pipeline.database.admin`revoke select on api_keys from vigil_app`;
  try {
    const refused = await upgrade(key, attacker);
    expect([refused.status, refused.code]).toEqual([429, "RATE_LIMITED"]);
  } finally {
    await pipeline.database.admin`grant select on api_keys to vigil_app`;
  }
  expect((await upgrade(key, "198.51.100.78")).status).toBe(101);
});
