// The embedded archive bucket (`pnpm start`) and the exact PutObject requests Vigil's archive sends.
// The file-backed S3 endpoint of packages/devstack records each PutObject's headers and answers
// GetObjectLockConfiguration with an enabled rule for one bucket and "no configuration" for the
// other, so Object Lock, Content-Encoding, Content-Type, SSE and the Content-MD5 that S3 requires
// with Object Lock are asserted on the wire (fauxqs has no Object Lock and drops Content-Encoding).
// Then: objects survive a stop and a new start of the store (rows already deleted stay restorable),
// and with the store down an archive run fails and deletes nothing.
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { archiveAndDeleteEventsBefore } from "@vigil/shared/archive/archive-events";
import { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { restoreArchivedEvents } from "@vigil/shared/archive/restore-archives";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTestPipeline, queuedEvent, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type PutRecord, startArchiveBucketServer } from "../src/archive-bucket-server.ts";

const DAY = 86_400_000;
const LOCKED = "vigil-locked";
const PLAIN = "vigil-plain";
let pipeline: TestPipeline;
const root = mkdtempSync(path.join(tmpdir(), "vigil-archive-bucket-"));
const puts: PutRecord[] = [];

const storageAt = (endpoint: string) =>
  new ArchiveStorage({ region: "us-east-1", endpoint, sse: "AES256", objectLockDays: 30 });

async function tenantWithOldEvents(count: number) {
  const tenantId = randomUUID();
  await pipeline.database.admin`
    insert into tenants (id, name, retention_days, archive_enabled) values (${tenantId}, ${tenantId}, 30, true)`;
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: count }, (_, i) =>
      queuedEvent(tenantId, { occurred_at: new Date(Date.now() - 40 * DAY + i * 1000).toISOString() }),
    ),
  );
  return tenantId;
}

/** A PUT whose path is sent exactly as written. */
function rawPut(endpoint: string, rawPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${endpoint}/`, { method: "PUT", path: rawPath }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("error", reject);
    request.end("x");
  });
}

const remaining = async (tenantId: string) =>
  (
    await pipeline.database.admin<
      { n: number }[]
    >`select count(*)::int as n from events where tenant_id = ${tenantId}`
  )[0]!.n;

async function archive(endpoint: string, tenantId: string, bucket: string) {
  const storage = storageAt(endpoint);
  try {
    return await archiveAndDeleteEventsBefore(
      pipeline.database.db,
      { storage, maxEventsPerObject: 50 },
      tenantScope(tenantId),
      { enabled: true, bucket, prefix: "" },
      new Date(Date.now() - 30 * DAY),
      "retention",
    );
  } finally {
    storage.close();
  }
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
}, 60_000);
afterAll(async () => {
  await pipeline?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("PutObject as S3 receives it", () => {
  test("Object Lock headers only on a bucket with Object Lock; gzip, type, SSE and Content-MD5 always", async () => {
    const store = await startArchiveBucketServer({
      root,
      objectLockBuckets: new Set([LOCKED]),
      onPut: (record) => puts.push(record),
    });
    try {
      for (const bucket of [LOCKED, PLAIN]) await fetch(`${store.endpoint}/${bucket}`, { method: "PUT" });
      const locked = await tenantWithOldEvents(120);
      const plain = await tenantWithOldEvents(60);
      expect((await archive(store.endpoint, locked, LOCKED)).deleted).toBe(120);
      expect((await archive(store.endpoint, plain, PLAIN)).deleted).toBe(60);

      const lockedPuts = puts.filter((put) => put.bucket === LOCKED);
      // 120 events at 50 per object: 3 objects, then one manifest.
      expect(lockedPuts.map((put) => put.key.split("/")[1])).toEqual([
        "events",
        "events",
        "events",
        "manifests",
      ]);
      for (const put of puts) {
        const h = put.headers;
        const isObject = put.key.includes("/events/");
        expect(h["content-type"], put.key).toBe(isObject ? "application/x-ndjson" : "application/json");
        expect(h["content-encoding"], put.key).toBe(isObject ? "gzip" : undefined);
        expect(h["x-amz-server-side-encryption"], put.key).toBe("AES256");
        // S3 refuses an Object Lock PutObject without Content-MD5 or an x-amz-checksum-*: Vigil sends Content-MD5
        // (checked by this store against the body), and the SDK adds its own CRC32.
        expect(h["content-md5"], put.key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
        expect(h["x-amz-checksum-crc32"], put.key).toBeDefined();
        if (put.bucket === LOCKED) {
          expect(h["x-amz-object-lock-mode"], put.key).toBe("COMPLIANCE");
          const until = Date.parse(String(h["x-amz-object-lock-retain-until-date"]));
          expect(until - Date.now()).toBeGreaterThan(29 * DAY);
          expect(until - Date.now()).toBeLessThanOrEqual(30 * DAY);
        } else {
          expect(h["x-amz-object-lock-mode"], put.key).toBeUndefined();
          expect(h["x-amz-object-lock-retain-until-date"], put.key).toBeUndefined();
        }
      }
      // A body that does not match its Content-MD5 is refused (as S3 does): nothing stored.
      const refused = await fetch(`${store.endpoint}/${PLAIN}/x/torn.ndjson.gz`, {
        method: "PUT",
        headers: { "content-md5": createHash("md5").update("other").digest("base64") },
        body: "torn",
      });
      expect(refused.status).toBe(400);
      expect((await fetch(`${store.endpoint}/${PLAIN}/x/torn.ndjson.gz`)).status).toBe(404);
      // Keys and buckets that would leave the store's folder are refused (raw paths: fetch would normalise them).
      for (const hostile of [
        `/${PLAIN}/a/../../etc`,
        `/..%2F${PLAIN}/k`,
        `/${PLAIN}/a//b`,
        "/Bad_Bucket/k",
        `/${PLAIN}/%2E%2E/k`,
      ])
        expect(await rawPut(store.endpoint, hostile), hostile).toBe(400);
    } finally {
      await store.stop();
    }
  });
});

describe("the embedded archive bucket is on disk", () => {
  test("objects survive a stop and a new start; rows already deleted are restored from them", async () => {
    const first = await startArchiveBucketServer({ root });
    await fetch(`${first.endpoint}/vigil-archive`, { method: "PUT" });
    const tenantId = await tenantWithOldEvents(80);
    expect((await archive(first.endpoint, tenantId, "vigil-archive")).deleted).toBe(80);
    expect(await remaining(tenantId)).toBe(0);
    await first.stop();

    const second = await startArchiveBucketServer({ root });
    const storage = storageAt(second.endpoint);
    try {
      const keys = await storage.list("vigil-archive", `${tenantId}/`);
      expect(keys.filter((key) => key.includes("/events/"))).toHaveLength(2);
      const restored = await restoreArchivedEvents(
        { db: pipeline.database.db, storage, actor: "test" },
        tenantScope(tenantId),
        { from_seq: 1, to_seq: 80 },
      );
      expect(restored.restored).toBe(80);
    } finally {
      storage.close();
      await second.stop();
    }
  });

  test("with the store down (launcher gone), an archive run fails and deletes nothing", async () => {
    const store = await startArchiveBucketServer({ root });
    const endpoint = store.endpoint;
    await store.stop();
    const tenantId = await tenantWithOldEvents(30);
    await expect(archive(endpoint, tenantId, "vigil-archive")).rejects.toMatchObject({
      code: "ARCHIVE_UNAVAILABLE",
    });
    expect(await remaining(tenantId)).toBe(30);
  });
});

describe("hostile keys and paths", () => {
  test("NUL, encoded traversal, bad escapes and overlong keys are 400; nothing lands outside the bucket", async () => {
    const folder = mkdtempSync(path.join(tmpdir(), "vigil-archive-hostile-"));
    const store = await startArchiveBucketServer({ root: path.join(folder, "store") });
    try {
      expect((await fetch(`${store.endpoint}/${PLAIN}`, { method: "PUT" })).status).toBe(200);
      for (const hostile of [
        `/${PLAIN}/a%2F..%2F..%2Fescape`,
        `/${PLAIN}/a/%2e%2E/b`,
        `/${PLAIN}/%ZZ`,
        `/${PLAIN}/${"k".repeat(1025)}`,
        `/${PLAIN}/${"%C3%A9".repeat(100)}`,
        `/${PLAIN}%00/k`,
        `/.uploads/k`,
      ])
        expect(await rawPut(store.endpoint, hostile), hostile.slice(0, 60)).toBe(400);
      // A NUL or a backslash is an ordinary key character: stored under an encoded name, read back, listed as sent.
      expect(await rawPut(store.endpoint, `/${PLAIN}/nul%00byte`)).toBe(200);
      expect(await rawPut(store.endpoint, `/${PLAIN}/back%5C..%5Cslash`)).toBe(200);
      expect((await fetch(`${store.endpoint}/${PLAIN}/nul%00byte`)).status).toBe(200);
      const listed = await (await fetch(`${store.endpoint}/${PLAIN}?list-type=2`)).text();
      expect(listed).toContain("<Key>back\\..\\slash</Key>");
      // A key under another key (or a key that is another key's folder) is a 409, not a 500.
      expect(await rawPut(store.endpoint, `/${PLAIN}/nul%00byte/under`)).toBe(409);
      expect(await rawPut(store.endpoint, `/${PLAIN}/dir/file`)).toBe(200);
      expect(await rawPut(store.endpoint, `/${PLAIN}/dir`)).toBe(409);
      expect(readdirSync(folder)).toEqual(["store"]);
      expect(readdirSync(path.join(folder, "store")).sort()).toEqual([".uploads", PLAIN]);
    } finally {
      await store.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
