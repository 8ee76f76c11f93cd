// Archives over HTTP against the real api process and the emulator's S3: tenant admins turn archiving
// on through the tenant settings route (bad bucket names and prefixes are 4xx naming the field); a
// cleanup archives before it deletes; GET /archives lists, POST /archives/restore brings events back
// with their seq and hash (twice never doubles), GET /archives/restored reads them. Tenant B can
// never list or restore tenant A's archives; hostile bodies, forged tokens and a tampered object
// are refused without restoring anything.
import { randomBytes } from "node:crypto";
import type { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import {
  createTestPipeline,
  queuedEvent,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { emulatorArchiveStorage } from "../../../packages/shared/test/archive/emulator-archive-storage.ts";
import { adminToken, createKey, createTenant, createUser } from "../../api/test/auth-fixtures.ts";

const DAY = 86_400_000;
const NOW = Date.now();
const OLD = 300;

let pipeline: TestPipeline;
let api: RunningService;
let storage: ArchiveStorage;
const bucket = `vigil-archive-${randomBytes(4).toString("hex")}`;
let tenantA: { id: string };
let tenantB: { id: string };
let adminA: string;
let adminB: string;
let platformAdmin: string;
let auditorA: string;
let readA: string;
let readB: string;
const hashesA = new Map<number, string>();

const patchArchive = (token: string, tenantId: string, archive: unknown) =>
  requestJson(`${api.url}/api/v1/tenants/${tenantId}`, { method: "PATCH", token, body: { archive } });
const restore = (credential: { token?: string; key?: string }, body: unknown, query = "") =>
  requestJson(`${api.url}/api/v1/archives/restore${query}`, { ...credential, body });

async function seed(tenantId: string) {
  await storeEvents(pipeline.database.db, [
    ...Array.from({ length: OLD }, (_, i) =>
      queuedEvent(tenantId, {
        occurred_at: new Date(NOW - 10 * DAY + i * 1000).toISOString(),
        resource_id: `inv-${i}`,
        after_state: { status: "approved", amount: i },
      }),
    ),
    ...Array.from({ length: 10 }, () => queuedEvent(tenantId)),
  ]);
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  storage = await emulatorArchiveStorage(pipeline.sqsEndpoint, bucket);
  api = await pipeline.start("api", { ARCHIVE_S3_BUCKET: bucket, ARCHIVE_S3_ENDPOINT: pipeline.sqsEndpoint });
  const admin = await adminToken(api.url);
  tenantA = await createTenant(api.url, admin);
  tenantB = await createTenant(api.url, admin);
  adminA = (await createUser(api.url, admin, tenantA.id, "tenant_admin")).token;
  adminB = (await createUser(api.url, admin, tenantB.id, "tenant_admin")).token;
  auditorA = (await createUser(api.url, admin, tenantA.id, "auditor")).token;
  platformAdmin = admin;
  readA = (await createKey(api.url, admin, tenantA.id, ["read"])).key;
  readB = (await createKey(api.url, admin, tenantB.id, ["read"])).key;
  await seed(tenantA.id);
  await seed(tenantB.id);
  for (const row of await pipeline.database.admin<{ seq: string; hash: string }[]>`
    select seq, hash from events where tenant_id = ${tenantA.id} and seq <= ${OLD}`)
    hashesA.set(Number(row.seq), row.hash);
}, 60_000);
afterAll(async () => {
  storage?.close();
  await pipeline?.close();
});

describe("archive settings", () => {
  test("tenant admins turn archiving on; the prefix is normalised; another tenant's admin may not", async () => {
    const on = await patchArchive(adminA, tenantA.id, { enabled: true, prefix: "audit" });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body.archive).toEqual({ enabled: true, bucket: null, prefix: "audit/" });
    expect((await patchArchive(adminB, tenantA.id, { enabled: false })).status).toBe(403);
    expect((await patchArchive(adminA, tenantA.id, { bucket: bucket })).body.archive.bucket).toBe(bucket);
  });

  test("invalid bucket names and prefixes are 4xx naming the field; nothing changes", async () => {
    for (const name of [
      "ab",
      "a".repeat(64),
      "Upper-Case",
      "under_score",
      "-leading",
      "trailing-",
      "two..dots",
      "192.168.1.20",
      "xn--punycode",
      "sthree-bucket",
      "bucket-s3alias",
      "bucket--ol-s3",
      "with space",
      "nul\u0000byte",
      42,
    ]) {
      const refused = await patchArchive(adminA, tenantA.id, { bucket: name });
      expect(refused.status, String(name)).toBeGreaterThanOrEqual(400);
      expect(refused.status).toBeLessThan(500);
      expect(refused.body.errors?.[0]?.path, String(name)).toBe("archive.bucket");
    }
    for (const prefix of ["/abs", "../up", "a/../b", "a//b", "bad\u0000", "emoji-😀", "x".repeat(300)]) {
      const refused = await patchArchive(adminA, tenantA.id, { prefix });
      expect(refused.status, prefix).toBeGreaterThanOrEqual(400);
      expect(refused.body.errors?.[0]?.path, prefix).toBe("archive.prefix");
    }
    for (const [body, path] of [
      [{ enabled: "yes" }, "archive.enabled"],
      [{ region: "eu" }, "archive.region"],
      [{}, "archive"],
      ["on", "archive"],
    ] as const) {
      const refused = await patchArchive(adminA, tenantA.id, body);
      expect(refused.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(refused.body.errors?.[0]?.path, JSON.stringify(body)).toBe(path);
    }
    const [row] = await pipeline.database.admin<{ archive_bucket: string; archive_prefix: string }[]>`
      select archive_bucket, archive_prefix from tenants where id = ${tenantA.id}`;
    expect(row).toEqual({ archive_bucket: bucket, archive_prefix: "audit/" });
  });
});

describe("cleanup, list and restore over HTTP", () => {
  test("a cleanup archives before it deletes; the archive is listed for its tenant only", async () => {
    // One archived event was erased first (spec §13): archived with its marker, checked by its chain link.
    const [fifth] = await pipeline.database.admin<{ id: string }[]>`
      select id from events where tenant_id = ${tenantA.id} and seq = 5`;
    const erased = await requestJson(`${api.url}/api/v1/logs/${fifth!.id}/erasure`, {
      token: adminA,
      body: { reason: "GDPR request 42" },
    });
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    const before = new Date(NOW - 5 * DAY).toISOString();
    const done = await requestJson(`${api.url}/api/v1/logs/cleanup?before=${before}`, {
      method: "DELETE",
      token: adminA,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.deleted).toBe(OLD);
    expect(await storage.list(bucket, `audit/${tenantA.id}/events/`)).toHaveLength(1);

    const listed = await requestJson(`${api.url}/api/v1/archives`, { key: readA });
    expect(listed.status).toBe(200);
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).toMatchObject({
      from_seq: 1,
      to_seq: OLD,
      event_count: OLD,
      reason: "cleanup",
      bucket,
      restored: 0,
    });
    expect(listed.body.data[0].object_key).toMatch(new RegExp(`^audit/${tenantA.id}/events/`));
    // Stored as S3 users expect: NDJSON (also sent with Content-Encoding: gzip, which fauxqs 1.9
    // does not keep, so it is not asserted here); the manifest as JSON.
    const { HeadObjectCommand, S3Client } = await import("@aws-sdk/client-s3");
    const client = new S3Client({
      region: "us-east-1",
      endpoint: pipeline.sqsEndpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: "vigil", secretAccessKey: "vigil" },
    });
    const head = (key: string) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect((await head(listed.body.data[0].object_key)).ContentType).toBe("application/x-ndjson");
    expect((await head(listed.body.data[0].manifest_key)).ContentType).toBe("application/json");
    client.destroy();
    // Tenant B: none of A's archives, whether it asks plainly or names A.
    expect((await requestJson(`${api.url}/api/v1/archives`, { key: readB })).body.data).toEqual([]);
    const named = await requestJson(`${api.url}/api/v1/archives?tenant_id=${tenantA.id}`, { token: adminB });
    expect(named.status).toBe(403);
    expect(named.body.code).toBe("TENANT_MISMATCH");
  });

  test("restore needs a tenant admin of that tenant; B can never restore A's archive", async () => {
    const range = { from_seq: 1, to_seq: OLD };
    expect((await restore({ key: readA }, range)).status).toBe(403);
    // Auditors read the list but may not restore; platform admins must name the tenant.
    expect((await requestJson(`${api.url}/api/v1/archives`, { token: auditorA })).body.data).toHaveLength(1);
    expect((await restore({ token: auditorA }, range)).status).toBe(403);
    const unnamed = await requestJson(`${api.url}/api/v1/archives`, { token: platformAdmin });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.errors?.[0]?.path).toBe("tenant_id");
    const named = await requestJson(`${api.url}/api/v1/archives?tenant_id=${tenantA.id}`, {
      token: platformAdmin,
    });
    expect(named.body.data).toHaveLength(1);
    const own = await restore({ token: adminB }, range);
    expect(own.status).toBe(404); // B's own tenant has no archives
    const namingA = await restore({ token: adminB }, range, `?tenant_id=${tenantA.id}`);
    expect(namingA.status).toBe(403);
    // A token whose payload was edited to name tenant B (signature no longer matches) is refused.
    const [header, payload, signature] = adminA.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, tenant_id: tenantB.id })).toString("base64url")}.${signature}`;
    expect((await restore({ token: forged }, range)).status).toBe(401);
    expect((await restore({ token: `${header}.${payload}.` }, range)).status).toBe(401);
    const count = await pipeline.database.admin<
      { n: number }[]
    >`select count(*)::int as n from restored_events`;
    expect(count[0]!.n).toBe(0);
  });

  test("hostile restore bodies are 4xx naming the field", async () => {
    const cases: Array<[unknown, string]> = [
      [{ from_seq: 10, to_seq: 5 }, "to_seq"],
      [{ from_seq: 0, to_seq: 5 }, "from_seq"],
      [{ from_seq: -1, to_seq: 5 }, "from_seq"],
      [{ from_seq: 1.5, to_seq: 5 }, "from_seq"],
      [{ from_seq: "1", to_seq: 5 }, "from_seq"],
      [{ from_seq: 2 ** 60, to_seq: 2 ** 61 }, "from_seq"],
      [{ from_seq: 1 }, "to_seq"],
      [{ to_seq: 1 }, "from_seq"],
      [{}, "from_seq"],
      [{ from_seq: 1, to_seq: 2, from: "2026-01-01T00:00:00Z" }, "from"],
      [{ from: "yesterday", to: "2026-01-01T00:00:00Z" }, "from"],
      [{ from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }, "to"],
      [{ from: "0000-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }, "from"],
      [{ from: "2026-01-01T00:00:00", to: "2026-02-01T00:00:00Z" }, "from"],
      [{ from_seq: 1, to_seq: 2, tenant_id: tenantB.id }, "tenant_id"],
      [[1, 2], "(body)"],
    ];
    for (const [body, path] of cases) {
      const refused = await restore({ token: adminA }, body);
      expect(refused.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(refused.status, JSON.stringify(body)).toBeLessThan(500);
      expect(refused.body.errors?.[0]?.path, JSON.stringify(body)).toBe(path);
    }
    const raw = (text: string) =>
      fetch(`${api.url}/api/v1/archives/restore`, {
        method: "POST",
        headers: { Authorization: `Bearer ${adminA}`, "Content-Type": "application/json" },
        body: text,
      });
    expect((await raw('{"from_seq":1e400,"to_seq":2}')).status).toBeLessThan(500);
    expect((await raw("{not json")).status).toBe(400);
    expect((await raw(`{"from_seq":1,"to_seq":2,"pad":"${"x".repeat(10_000)}"}`)).status).toBe(413);
    for (const query of [
      "from_seq=-1",
      "to_seq=abc",
      "limit=0",
      "limit=5000",
      "from_seq=9&to_seq=2",
      "user_id=%00",
      "from=yesterday",
      "resource_id=",
      "tenant_id=not-a-uuid",
      "sort=seq",
    ]) {
      const listed = await requestJson(`${api.url}/api/v1/archives/restored?${query}`, { key: readA });
      expect(listed.status, query).toBe(400);
    }
    expect((await requestJson(`${api.url}/api/v1/archives?after_seq=-5`, { key: readA })).status).toBe(400);
  });

  test("restore brings back the events with their seq and hash; again never doubles; B reads none", async () => {
    // Two restores of the same range at once: each event restored by exactly one of them.
    const [first, second] = await Promise.all([
      restore({ token: adminA }, { from_seq: 1, to_seq: OLD + 10 }),
      restore({ token: adminA }, { from_seq: 1, to_seq: OLD }),
    ]);
    expect(first!.status, JSON.stringify(first!.body)).toBe(200);
    expect(second!.status, JSON.stringify(second!.body)).toBe(200);
    expect(first!.body.restored + second!.body.restored).toBe(OLD);
    for (const done of [first!, second!])
      expect(done.body).toMatchObject({
        already_restored: OLD - done.body.restored,
        objects: 1,
        from_seq: 1,
        to_seq: OLD,
      });
    const again = await restore({ token: adminA }, { from_seq: 1, to_seq: OLD });
    expect(again.body).toMatchObject({ restored: 0, already_restored: OLD });
    const read = await requestJson(`${api.url}/api/v1/archives/restored?limit=1000`, { key: readA });
    expect(read.status).toBe(200);
    expect(read.body.data).toHaveLength(OLD);
    for (const event of read.body.data) {
      expect(event.hash).toBe(hashesA.get(event.seq));
      expect(event).not.toHaveProperty("salt");
    }
    expect(read.body.data[7]).toMatchObject({ seq: 8, resource_id: "inv-7", after_state: { amount: 7 } });
    expect(read.body.data[4]).toMatchObject({
      seq: 5,
      after_state: null,
      erased: { fields: expect.any(Array) },
    });
    const page = await requestJson(`${api.url}/api/v1/archives/restored?from_seq=100&limit=10`, {
      key: readA,
    });
    expect(page.body.data.map((e: { seq: number }) => e.seq)).toEqual([
      100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
    ]);
    expect(page.body.next_from_seq).toBe(110);
    const byResource = await requestJson(`${api.url}/api/v1/archives/restored?resource_id=inv-7`, {
      key: readA,
    });
    expect(byResource.body.data.map((e: { seq: number }) => e.seq)).toEqual([8]);
    const window = `from=${new Date(NOW - 10 * DAY + 10_000).toISOString()}&to=${new Date(NOW - 10 * DAY + 13_000).toISOString()}`;
    const byTime = await requestJson(`${api.url}/api/v1/archives/restored?${window}`, { key: readA });
    expect(byTime.body.data.map((e: { seq: number }) => e.seq)).toEqual([11, 12, 13]);
    expect((await requestJson(`${api.url}/api/v1/archives/restored`, { key: readB })).body.data).toEqual([]);
    expect((await requestJson(`${api.url}/api/v1/archives`, { key: readA })).body.data[0].restored).toBe(OLD);
  });

  test("a tampered object is refused (502) and nothing of it is restored", async () => {
    const [key] = await storage.list(bucket, `audit/${tenantA.id}/events/`);
    const before = await pipeline.database.admin<
      { n: number }[]
    >`select count(*)::int as n from restored_events`;
    await pipeline.database.admin`delete from restored_events where tenant_id = ${tenantA.id} and seq > 200`;
    await storage.put(bucket, key!, Buffer.from("not what was archived"), {
      contentType: "application/x-ndjson",
    });
    const refused = await restore({ token: adminA }, { from_seq: 1, to_seq: OLD });
    expect(refused.status).toBe(502);
    expect(refused.body.code).toBe("ARCHIVE_INVALID");
    const after = await pipeline.database.admin<
      { n: number }[]
    >`select count(*)::int as n from restored_events`;
    expect(after[0]!.n).toBe(before[0]!.n - 100);
  });

  test("with archive storage unreachable, a cleanup of an archive-enabled tenant is a 503 and deletes nothing", async () => {
    const unreachable = await pipeline.start("api", {
      ARCHIVE_S3_BUCKET: bucket,
      ARCHIVE_S3_ENDPOINT: "http://127.0.0.1:9", // discard port: nothing listens
    });
    expect((await patchArchive(adminB, tenantB.id, { enabled: true })).status).toBe(200);
    const done = await requestJson(
      `${unreachable.url}/api/v1/logs/cleanup?before=${new Date(NOW - 5 * DAY).toISOString()}`,
      { method: "DELETE", token: adminB },
    );
    expect(done.status).toBe(503);
    expect(done.body.code).toBe("ARCHIVE_UNAVAILABLE");
    expect(JSON.stringify(done.body)).not.toContain("vigil:"); // no credentials in the problem
    const [left] = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from events where tenant_id = ${tenantB.id}`;
    expect(left!.n).toBeGreaterThanOrEqual(OLD + 10);
    await unreachable.stop();
  });

  test("the OpenAPI document lists the archive routes", async () => {
    const doc = await requestJson(`${api.url}/openapi.json`);
    for (const path of ["/api/v1/archives", "/api/v1/archives/restore", "/api/v1/archives/restored"])
      expect(doc.body.paths).toHaveProperty([path]);
    expect(doc.body.paths["/api/v1/archives/restore"].post.requestBody).toBeDefined();
  });
});

describe("edge attacks: one past each limit, NUL bytes, huge numbers, deep nesting", () => {
  const raw = (path: string, token: string, text: string, method = "POST") =>
    fetch(`${api.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: text,
    }).then(async (response) => ({ status: response.status, body: await response.json() }));

  test("restore and settings bodies: 1e400, NUL, unsafe integers, deep nesting are 4xx naming the field", async () => {
    const restorePath = "/api/v1/archives/restore";
    for (const [text, path] of [
      ['{"from_seq":1e400,"to_seq":2}', "from_seq"],
      ['{"from_seq":1,"to_seq":1e400}', "to_seq"],
      [`{"from_seq":1,"to_seq":${Number.MAX_SAFE_INTEGER + 1}}`, "to_seq"],
      ['{"from":"2026-01-01T00:00:00Z\\u0000","to":"2026-02-01T00:00:00Z"}', "from"],
      ['{"from_seq":1,"to_seq":2,"x\\u0000":1}', "x\u0000"],
      [`${"[".repeat(1500)}${"]".repeat(1500)}`, "(body)"],
    ] as const) {
      const refused = await raw(restorePath, adminA, text);
      expect(refused.status, text.slice(0, 60)).toBeGreaterThanOrEqual(400);
      expect(refused.status, text.slice(0, 60)).toBeLessThan(500);
      expect(refused.body.errors?.[0]?.path, text.slice(0, 60)).toBe(path);
    }
    // 100,000 deep is past the 4 KiB restore body cap and the 64 KiB settings cap: 413, never a 5xx.
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect((await raw(restorePath, adminA, deep)).status).toBe(413);
    expect((await raw(`/api/v1/tenants/${tenantA.id}`, adminA, `{"archive":${deep}}`, "PATCH")).status).toBe(
      413,
    );
    // 20,000 deep fits under the settings cap: refused as a wrong shape, naming archive.
    const nested = await raw(
      `/api/v1/tenants/${tenantA.id}`,
      adminA,
      `{"archive":${"[".repeat(20_000)}${"]".repeat(20_000)}}`,
      "PATCH",
    );
    expect(nested.status).toBe(422);
    expect(nested.body.errors?.[0]?.path).toBe("archive");
    const prefixAt = await patchArchive(adminA, tenantA.id, { prefix: "p".repeat(256) });
    expect(prefixAt.status, JSON.stringify(prefixAt.body)).toBe(200);
    const prefixPast = await patchArchive(adminA, tenantA.id, { prefix: "p".repeat(257) });
    expect(prefixPast.status).toBe(422);
    expect(prefixPast.body.errors?.[0]?.path).toBe("archive.prefix");
    expect((await patchArchive(adminA, tenantA.id, { prefix: "audit" })).status).toBe(200);
  });

  test("query limits one past the edge, forged after_seq and NUL params are 400 naming the param", async () => {
    for (const route of ["/api/v1/archives", "/api/v1/archives/restored"]) {
      expect((await requestJson(`${api.url}${route}?limit=1000`, { key: readA })).status).toBe(200);
      const past = await requestJson(`${api.url}${route}?limit=1001`, { key: readA });
      expect(past.status, route).toBe(400);
      expect(past.body.errors?.[0]?.path, route).toBe("limit");
    }
    const beyond = await requestJson(`${api.url}/api/v1/archives?after_seq=${Number.MAX_SAFE_INTEGER}`, {
      key: readA,
    });
    expect(beyond.status).toBe(200);
    expect(beyond.body).toEqual({ data: [], next_after_seq: null });
    for (const [query, path] of [
      [`after_seq=${Number.MAX_SAFE_INTEGER + 1}`, "after_seq"],
      ["after_seq=1e400", "after_seq"],
      ["after_seq=%00", "after_seq"],
      ["after_seq=1&cursor=forged", "cursor"],
    ] as const) {
      const refused = await requestJson(`${api.url}/api/v1/archives?${query}`, { key: readA });
      expect(refused.status, query).toBe(400);
      expect(refused.body.errors?.[0]?.path, query).toBe(path);
    }
    for (const [query, path] of [
      [`from_seq=${Number.MAX_SAFE_INTEGER + 1}`, "from_seq"],
      ["to_seq=1e400", "to_seq"],
      ["action=a%00b", "action"],
      [`user_id=${"u".repeat(257)}`, "user_id"],
    ] as const) {
      const refused = await requestJson(`${api.url}/api/v1/archives/restored?${query}`, { key: readA });
      expect(refused.status, query).toBe(400);
      expect(refused.body.errors?.[0]?.path, query).toBe(path);
    }
  });

  test("a range over 500,000 archived events is a 422 naming to_seq (or to); a missing object is never a 500", async () => {
    const tenantC = await createTenant(api.url, platformAdmin);
    const adminC = (await createUser(api.url, platformAdmin, tenantC.id, "tenant_admin")).token;
    const insert = (toSeq: number) => pipeline.database.admin`
      insert into event_archives (tenant_id, from_seq, to_seq, event_count, min_occurred_at, max_occurred_at,
        bucket, object_key, manifest_key, sha256, bytes, events_sha256, last_chain_hash, reason)
      values (${tenantC.id}, 1, ${toSeq}, ${toSeq}, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z',
        ${bucket}, ${`gone/${tenantC.id}`}, ${`gone/${tenantC.id}.manifest`}, 'x', 1, 'x', 'x', 'cleanup')`;
    await insert(500_001);
    const bySeq = await restore({ token: adminC }, { from_seq: 1, to_seq: 500_001 });
    expect(bySeq.status).toBe(422); // VALIDATION_FAILED
    expect(bySeq.body.errors?.[0]?.path).toBe("to_seq");
    const byTime = await restore(
      { token: adminC },
      { from: "2025-12-31T00:00:00Z", to: "2026-01-03T00:00:00Z" },
    );
    expect(byTime.status).toBe(422);
    expect(byTime.body.errors?.[0]?.path).toBe("to");
    await pipeline.database.admin`delete from event_archives where tenant_id = ${tenantC.id}`;
    await insert(500_000);
    const atCap = await restore({ token: adminC }, { from_seq: 1, to_seq: 500_000 });
    expect(atCap.status, JSON.stringify(atCap.body)).toBeGreaterThanOrEqual(400);
    expect(atCap.status, JSON.stringify(atCap.body)).not.toBe(500);
    await pipeline.database.admin`delete from event_archives where tenant_id = ${tenantC.id}`;
  });
});
