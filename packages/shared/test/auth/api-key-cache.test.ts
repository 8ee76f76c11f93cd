// The API-key cache against the real PostgreSQL: what it serves from memory and when it stops. A
// revocation made with triggers switched off (superuser, replica mode) sends no NOTIFY, which
// isolates the two backstops: nothing is cached before the LISTEN is in place, and an entry
// expires after its TTL. Unknown keys are remembered too, and user changes are passed on to the
// token verifier instead of emptying the key cache. (The NOTIFY path itself is tested through two
// api processes in services/api/test/api-key-cache.test.ts.)
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

test("a made-up key is remembered as unknown (no second lookup) until a key or tenant change empties the cache", async () => {
  const cache = new ApiKeyCache(pipeline.database.db.sql);
  await cache.start();
  try {
    const { tenant } = await pipeline.createTenantWithKey(["read"]);
    const madeUp = `vgl_${"A".repeat(40)}`;
    expect(await cache.authenticate(madeUp)).toBeNull();
    expect(await cache.authenticate("not-a-key")).toBeNull();
    // The key now exists (inserted by hand, which announces nothing): the cache still answers from memory.
    await pipeline.database.admin`
      insert into api_keys (id, tenant_id, name, prefix, key_hash, scopes)
      values (gen_random_uuid(), ${tenant.id}, 'planted', 'vgl_AAAAAAAA', ${hashApiKey(madeUp)}, '{read}')`;
    expect(await cache.authenticate(madeUp)).toBeNull();
    // Any key or tenant change is announced and empties the cache, unknown keys included.
    await pipeline.database.admin`update tenants set name = name || '-x' where id = ${tenant.id}`;
    await expect.poll(() => cache.authenticate(madeUp), { timeout: 2_000 }).not.toBeNull();
  } finally {
    await cache.stop();
  }
});

test("a user change reaches onUsersChanged listeners and leaves the key cache alone", async () => {
  const cache = new ApiKeyCache(pipeline.database.db.sql, 60_000);
  let announced = 0;
  cache.onUsersChanged(() => announced++);
  await cache.start();
  try {
    const { tenant, key } = await pipeline.createTenantWithKey(["read"]);
    const principal = await cache.authenticate(key);
    await silentlyRevoke(key);
    const before = announced;
    const [user] = await pipeline.database.admin<{ id: string }[]>`
      insert into users (id, tenant_id, email, password_hash, role)
      values (gen_random_uuid(), ${tenant.id}, ${`u-${tenant.id}@example.test`}, 'x', 'auditor') returning id`;
    await pipeline.database.admin`update users set status = 'disabled' where id = ${user!.id}`;
    await expect.poll(() => announced, { timeout: 2_000 }).toBeGreaterThan(before);
    expect(await cache.authenticate(key)).toEqual(principal);
  } finally {
    await cache.stop();
  }
});
