// API keys are cached per api replica, yet revocation and suspension must bind the replica that made
// them before it answers, and every other replica as soon as the NOTIFY arrives (milliseconds). Two
// real api processes share one database: changes made through replica A are checked on A at once and
// on B within the delivery bound below, with B's cache warmed first. A change made
// with triggers switched off shows that B really answers from its cache (so the refusals above
// come from the NOTIFY, not from a lookup), and that the next notification clears it.
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, createKey, createTenant } from "./auth-fixtures.ts";

let pipeline: TestPipeline;
let replicaA: RunningService;
let replicaB: RunningService;
let admin: string;

const event = { action_type: "CREATE", resource_type: "doc", resource_id: "d-1" };

/** How long a NOTIFY may take to reach the other replica (it arrives in milliseconds when idle). */
const NOTIFY_DELIVERY_MS = 1000;

/** Polls replica B until it answers `status`, failing if that takes longer than a NOTIFY delivery. */
async function expectOnB(key: string, status: number) {
  const seen: number[] = [];
  const reached = await eventually(
    async () => {
      seen.push(await postOn(replicaB, key));
      return seen.at(-1) === status;
    },
    NOTIFY_DELIVERY_MS,
    10,
  ).then(
    () => true,
    () => false,
  );
  expect(reached, `replica B answered ${seen.join(", ")}`).toBe(true);
}

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

/** Superuser only: replica mode skips triggers, so this revocation announces nothing. */
async function silentlyRevoke(keyId: string) {
  await pipeline.database.admin.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update api_keys set revoked_at = now() where id = ${keyId}`;
  });
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
    // The replica that revoked refuses the very next request; the other within the NOTIFY's delivery.
    expect(await postOn(replicaA, key)).toBe(401);
    await expectOnB(key, 401);
    const refused = await requestJson(`${replicaB.url}/api/v1/logs`, { key, body: event });
    expect(refused.body.code).toBe("INVALID_CREDENTIAL");
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
    expect(await postOn(replicaA, key)).toBe(403);
    await expectOnB(key, 403);
    const refused = await requestJson(`${replicaB.url}/api/v1/logs`, { key, body: event });
    expect(refused.body.code).toBe("TENANT_NOT_ACTIVE");
    expect(await setStatus("active")).toBe(200);
    expect(await postOn(replicaA, key)).toBe(202);
    await expectOnB(key, 202);
  });

  test("the replica answers from its cache: a revocation that sends no NOTIFY is not seen until the next one", async () => {
    const { keyId, key } = await warmedKey();
    await silentlyRevoke(keyId);
    expect(await postOn(replicaB, key)).toBe(202);
    // Any change to a key or tenant (here: another tenant's name) empties every replica's cache.
    const other = await createTenant(replicaA.url, admin);
    const renamed = await requestJson(`${replicaA.url}/api/v1/tenants/${other.id}`, {
      method: "PATCH",
      token: admin,
      body: { name: `${other.name}-renamed` },
    });
    expect(renamed.status).toBe(200);
    await expectOnB(key, 401);
  });

  test("recording a key's last use does not empty the caches", async () => {
    const { keyId, key } = await warmedKey();
    await silentlyRevoke(keyId);
    // last_used_at changes alone fire no notification, so B keeps its (now stale) entry.
    await pipeline.database
      .admin`update api_keys set last_used_at = now() - interval '1 hour' where id = ${keyId}`;
    expect(await postOn(replicaB, key)).toBe(202);
  });
});
