// API keys are cached per api replica, yet revocation and suspension must refuse the very next
// request on every replica. Two real api processes share one database: changes made through
// replica A are checked on replica B without waiting, with B's cache warmed first. A change made
// with triggers switched off shows that B really answers from its cache (so the refusals above
// come from the NOTIFY, not from a lookup), and that the next notification clears it.
import { createTestPipeline, type RunningService, requestJson, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, createKey, createTenant } from "./auth-fixtures.ts";

let pipeline: TestPipeline;
let replicaA: RunningService;
let replicaB: RunningService;
let admin: string;

const event = { action_type: "CREATE", resource_type: "doc", resource_id: "d-1" };

async function postOn(replica: RunningService, key: string) {
  return (await requestJson(`${replica.url}/api/v1/logs`, { key, body: event })).status;
}

/** A tenant with an ingest key that replica B has already authenticated (and so cached). */
async function warmedKey() {
  const tenant = await createTenant(replicaA.url, admin);
  const { id, key } = await createKey(replicaA.url, admin, tenant.id, ["ingest"]);
  expect(await postOn(replicaB, key)).toBe(202);
  expect(await postOn(replicaB, key)).toBe(202);
  return { tenantId: tenant.id, keyId: id, key };
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  [replicaA, replicaB] = await Promise.all([pipeline.start("api"), pipeline.start("api")]);
  admin = await adminToken(replicaA.url);
});
afterAll(async () => pipeline?.close());

describe("API keys cached per replica", () => {
  test("a key revoked on one replica is refused by another on the next request", async () => {
    const { tenantId, keyId, key } = await warmedKey();
    const revoked = await requestJson(`${replicaA.url}/api/v1/tenants/${tenantId}/keys/${keyId}`, {
      method: "DELETE",
      token: admin,
    });
    expect(revoked.status).toBeLessThan(300);
    const refused = await requestJson(`${replicaB.url}/api/v1/logs`, { key, body: event });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("INVALID_CREDENTIAL");
    expect(await postOn(replicaA, key)).toBe(401);
  });

  test("a tenant suspended on one replica has its ingest refused by another at once, and reactivation is as quick", async () => {
    const { tenantId, key } = await warmedKey();
    const setStatus = async (status: string) =>
      (
        await requestJson(`${replicaA.url}/api/v1/tenants/${tenantId}`, {
          method: "PATCH",
          token: admin,
          body: { status },
        })
      ).status;
    expect(await setStatus("suspended")).toBe(200);
    const refused = await requestJson(`${replicaB.url}/api/v1/logs`, { key, body: event });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("TENANT_NOT_ACTIVE");
    expect(await setStatus("active")).toBe(200);
    expect(await postOn(replicaB, key)).toBe(202);
  });

  test("the replica answers from its cache: a revocation that sends no NOTIFY is not seen until the next one", async () => {
    const { keyId, key } = await warmedKey();
    // Superuser only: replica mode skips triggers, so this revocation announces nothing.
    await pipeline.database.admin.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update api_keys set revoked_at = now() where id = ${keyId}`;
    });
    expect(await postOn(replicaB, key)).toBe(202);
    // Any change to a key or tenant (here: another tenant's name) empties every replica's cache.
    const other = await createTenant(replicaA.url, admin);
    const renamed = await requestJson(`${replicaA.url}/api/v1/tenants/${other.id}`, {
      method: "PATCH",
      token: admin,
      body: { name: `${other.name}-renamed` },
    });
    expect(renamed.status).toBe(200);
    expect(await postOn(replicaB, key)).toBe(401);
  });

  test("recording a key's last use does not empty the caches", async () => {
    const { keyId, key } = await warmedKey();
    await pipeline.database.admin.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update api_keys set revoked_at = now() where id = ${keyId}`;
    });
    // last_used_at changes alone fire no notification, so B keeps its (now stale) entry.
    await pipeline.database
      .admin`update api_keys set last_used_at = now() - interval '1 hour' where id = ${keyId}`;
    expect(await postOn(replicaB, key)).toBe(202);
  });
});
