// The API-key cache against the real PostgreSQL: what it serves from memory and when it stops. A
// revocation made with triggers switched off (superuser, replica mode) sends no NOTIFY, which
// isolates the two backstops: nothing is cached before the LISTEN is in place, and an entry
// expires after its TTL. (The NOTIFY path itself is tested through two api processes in
// services/api/test/api-key-cache.test.ts.)
import { ApiKeyCache } from "@vigil/shared/auth/api-key-cache";
import { hashApiKey } from "@vigil/shared/auth/api-keys";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
beforeAll(async () => {
  pipeline = await createTestPipeline();
});
afterAll(async () => pipeline?.close());

async function silentlyRevoke(key: string) {
  await pipeline.database.admin.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update api_keys set revoked_at = now() where key_hash = ${hashApiKey(key)}`;
  });
}

test("a cached key is served until its TTL, then looked up again", async () => {
  const cache = new ApiKeyCache(pipeline.database.db.sql, 400);
  await cache.start();
  try {
    const { tenant, key } = await pipeline.createTenantWithKey(["ingest"]);
    const principal = await cache.authenticate(key);
    expect(principal).toMatchObject({ tenantId: tenant.id, tenantStatus: "active", scopes: ["ingest"] });
    await silentlyRevoke(key);
    expect(await cache.authenticate(key)).toEqual(principal);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await cache.authenticate(key)).toBeNull();
  } finally {
    await cache.stop();
  }
});

test("nothing is cached before the LISTEN is in place, nor after stop", async () => {
  const cache = new ApiKeyCache(pipeline.database.db.sql, 60_000);
  const { key } = await pipeline.createTenantWithKey(["ingest"]);
  expect(await cache.authenticate(key)).not.toBeNull();
  await silentlyRevoke(key);
  expect(await cache.authenticate(key)).toBeNull();

  await cache.start();
  const second = await pipeline.createTenantWithKey(["read"]);
  expect(await cache.authenticate(second.key)).not.toBeNull();
  await cache.stop();
  await silentlyRevoke(second.key);
  expect(await cache.authenticate(second.key)).toBeNull();
});

test("made-up and malformed keys are refused without being cached", async () => {
  const cache = new ApiKeyCache(pipeline.database.db.sql);
  await cache.start();
  try {
    expect(await cache.authenticate(`vgl_${"A".repeat(40)}`)).toBeNull();
    expect(await cache.authenticate("not-a-key")).toBeNull();
  } finally {
    await cache.stop();
  }
});
