// Archive before deletion, against the real PostgreSQL and the emulator's S3: 50,000 events past
// retention are written to S3 (objects + manifest) and only then deleted; the manifest and every
// object check; restore brings back exactly those events with their original seq and hash, twice
// without doubling; the verifier passes before and after. A tenant whose archive cannot be written
// keeps its events, and the shared partition drop is skipped for that sweep.
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { checkArchivedObject, manifestPrefix, parseManifest } from "@vigil/shared/archive/archive-format";
import type { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { listArchives, restoreArchivedEvents } from "@vigil/shared/archive/restore-archives";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { createLogger } from "@vigil/shared/logging/logger";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { sweepRetention } from "@vigil/shared/retention/retention-sweep";
import { createCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { openCheckpoint, signerKey, verifierKeyOf } from "@vigil/verify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sampleEvent, seedEvents } from "../query/seed-events.ts";
import { emulatorArchiveStorage } from "./emulator-archive-storage.ts";

const DAY = 86_400_000;
const NOW = Date.now();
const ARCHIVED = "0190a0a0-0000-7000-8000-0000000000c1";
const PLAIN = "0190a0a0-0000-7000-8000-0000000000c2";
const NO_BUCKET = "0190a0a0-0000-7000-8000-0000000000c3";
const EXPIRED = 50_000;
const RECENT = 500;

let pipeline: TestPipeline;
let storage: ArchiveStorage;
const bucket = `vigil-archive-${randomBytes(4).toString("hex")}`;
/** seq → hash of ARCHIVED's expired events, read before they are deleted. */
const originalHashes = new Map<number, string>();
const timings: Record<string, number> = {};
const checkpointKey = { name: "archive-test", privateKeySeed: new Uint8Array(randomBytes(32)) };

const sweep = (archive = true) =>
  sweepRetention({
    db: pipeline.database.db,
    recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
    ...(archive ? { archive: { storage, maxEventsPerObject: 10_000 } } : {}),
  });

const count = async (table: string, tenantId: string) =>
  Number(
    (
      await pipeline.database.admin.unsafe(`select count(*)::int as n from ${table} where tenant_id = $1`, [
        tenantId,
      ])
    )[0]!.n,
  );

beforeAll(async () => {
  pipeline = await createTestPipeline();
  storage = await emulatorArchiveStorage(pipeline.sqsEndpoint, bucket);
  for (const [id, name, enabled, bucketName] of [
    [ARCHIVED, "archived", true, bucket],
    [PLAIN, "plain", false, null],
    [NO_BUCKET, "no-bucket", true, null],
  ] as const)
    await pipeline.database.admin`
      insert into tenants (id, name, retention_days, archive_enabled, archive_bucket, archive_prefix)
      values (${id}, ${name}, 30, ${enabled}, ${bucketName}, 'vigil/')`;
  const started = Date.now();
  // Expired events a minute apart, 40+ days ago; then recent ones that stay.
  const old = Array.from({ length: EXPIRED }, (_, i) =>
    sampleEvent(ARCHIVED, i, new Date(NOW - 80 * DAY + i * 60_000)),
  );
  const recent = Array.from({ length: RECENT }, (_, i) =>
    sampleEvent(ARCHIVED, EXPIRED + i, new Date(NOW - DAY + i * 1000)),
  );
  await seedEvents(pipeline.database.db, [...old, ...recent]);
  for (const tenant of [PLAIN, NO_BUCKET])
    await seedEvents(
      pipeline.database.db,
      Array.from({ length: 200 }, (_, i) => sampleEvent(tenant, i, new Date(NOW - 100 * DAY + i * 1000))),
    );
  timings.seed_ms = Date.now() - started;
  for (const row of await pipeline.database.admin<{ seq: string; hash: string }[]>`
    select seq, hash from events where tenant_id = ${ARCHIVED} and seq <= ${EXPIRED}`)
    originalHashes.set(Number(row.seq), row.hash);
  // A signed checkpoint covering the events to be archived: the manifest must carry it.
  const checkpointer = new Checkpointer(pipeline.database.db, {
    origin: "vigil.test",
    signer: await createCheckpointSigner([await signerKey(checkpointKey)]),
    anchors: [],
    logger: createLogger("test", "silent"),
  });
  await checkpointer.signTenant(tenantScope(ARCHIVED));
}, 120_000);
afterAll(async () => {
  storage?.close();
  await pipeline?.close();
  console.log("archive timings", timings);
});

describe("retention with archive on", () => {
  test("50,000 expired events are archived, then deleted; the log verifies before and after", async () => {
    expect((await verifyTenantLog(pipeline.database.db, tenantScope(ARCHIVED))).ok).toBe(true);
    const started = Date.now();
    const report = await sweep();
    timings.archive_ms = Date.now() - started;
    expect(report.archiveFailures).toEqual([NO_BUCKET]);
    // Some tenant's archive failed: no partition was emptied in this sweep.
    expect(report.partitionsDropped).toEqual([]);
    expect(report.partitionsTruncated).toEqual([]);
    expect(report.tenants).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tenantId: ARCHIVED, deleted: EXPIRED, archived: true }),
        expect.objectContaining({ tenantId: PLAIN, deleted: 200 }),
      ]),
    );
    expect(await count("events", ARCHIVED)).toBe(RECENT);
    // The tenant without a bucket keeps everything; nothing of it was archived either.
    expect(await count("events", NO_BUCKET)).toBe(200);
    expect(await count("event_archives", NO_BUCKET)).toBe(0);

    const records = await pipeline.database.admin<
      { from_seq: string; to_seq: string; archive_key: string }[]
    >`
      select from_seq, to_seq, archive_key from event_removed_ranges where tenant_id = ${ARCHIVED} order by from_seq`;
    expect(records.map((r) => [Number(r.from_seq), Number(r.to_seq)])).toEqual([
      [1, 10_000],
      [10_001, 20_000],
      [20_001, 30_000],
      [30_001, 40_000],
      [40_001, 50_000],
    ]);
    expect(records.every((r) => r.archive_key.startsWith(`vigil/${ARCHIVED}/events/`))).toBe(true);

    const after = await verifyTenantLog(pipeline.database.db, tenantScope(ARCHIVED));
    expect(after).toMatchObject({ ok: true, removed: EXPIRED, checked: RECENT, last_seq: EXPIRED + RECENT });
  });

  test("the bucket holds the objects and a manifest that checks: SHA-256, counts, hashes, roll-up", async () => {
    const manifests = await storage.list(bucket, manifestPrefix("vigil/", ARCHIVED));
    expect(manifests).toHaveLength(1);
    const manifest = parseManifest(await storage.get(bucket, manifests[0]!), manifests[0]!);
    expect(manifest).toMatchObject({
      tenant_id: ARCHIVED,
      reason: "retention",
      from_seq: 1,
      to_seq: EXPIRED,
    });
    expect(manifest.event_count).toBe(EXPIRED);
    // The checkpoint covering the range, which verifies with the signer's public key.
    expect(manifest.checkpoint?.tree_size).toBe(EXPIRED + RECENT);
    const opened = await openCheckpoint(manifest.checkpoint!.note, [await verifierKeyOf(checkpointKey)]);
    expect(opened.checkpoint.size).toBe(EXPIRED + RECENT);
    let events = 0;
    const sizes: number[] = [];
    for (const object of manifest.objects) {
      const bytes = await storage.get(bucket, object.key);
      sizes.push(bytes.length);
      const checked = checkArchivedObject(bytes, object, ARCHIVED);
      events += checked.length;
      for (const event of checked) expect(event.hash).toBe(originalHashes.get(event.seq));
    }
    expect(events).toBe(EXPIRED);
    timings.object_bytes_avg = Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length);

    // One flipped byte is caught, by SHA-256 before anything is parsed.
    const first = manifest.objects[0]!;
    const bytes = await storage.get(bucket, first.key);
    bytes[bytes.length - 10]! ^= 1;
    expect(() => checkArchivedObject(bytes, first, ARCHIVED)).toThrow(/SHA-256/);
    // An edited event whose object checksum was recomputed is caught by its hash.
    const lines = gunzipSync(await storage.get(bucket, first.key))
      .toString()
      .split("\n");
    lines[5] = lines[5]!.replace('"status":"approved"', '"status":"rejected"');
    const { gzipSync } = await import("node:zlib");
    const { sha256Hex } = await import("@vigil/shared/events/event-hash");
    const forged = gzipSync(lines.join("\n"));
    expect(() => checkArchivedObject(forged, { ...first, sha256: sha256Hex(forged) }, ARCHIVED)).toThrow(
      /seq 6: hash does not match/,
    );
  });

  test("restore brings back exactly the 50,000 with their seq and hash; twice never doubles", async () => {
    const context = { db: pipeline.database.db, storage, actor: "user:test" };
    const started = Date.now();
    const first = await restoreArchivedEvents(context, tenantScope(ARCHIVED), {
      from_seq: 1,
      to_seq: EXPIRED + RECENT,
    });
    timings.restore_ms = Date.now() - started;
    expect(first).toMatchObject({
      restored: EXPIRED,
      already_restored: 0,
      objects: 5,
      from_seq: 1,
      to_seq: EXPIRED,
    });
    const again = await restoreArchivedEvents(context, tenantScope(ARCHIVED), {
      from_seq: 1,
      to_seq: EXPIRED,
    });
    expect(again).toMatchObject({ restored: 0, already_restored: EXPIRED });
    const restored = await pipeline.database.admin<{ seq: string; hash: string }[]>`
      select seq, hash from restored_events where tenant_id = ${ARCHIVED} order by seq`;
    expect(restored).toHaveLength(EXPIRED);
    for (const row of restored) expect(row.hash).toBe(originalHashes.get(Number(row.seq)));
    expect(new Set(restored.map((r) => Number(r.seq))).size).toBe(EXPIRED);
    // The live log is untouched by a restore and still verifies.
    expect((await verifyTenantLog(pipeline.database.db, tenantScope(ARCHIVED))).ok).toBe(true);
    expect(await count("events", ARCHIVED)).toBe(RECENT);

    const listed = await listArchives(pipeline.database.db, tenantScope(ARCHIVED), { limit: 3 });
    expect(listed.data.map((r) => [r.from_seq, r.to_seq, r.restored])).toEqual([
      [1, 10_000, 10_000],
      [10_001, 20_000, 10_000],
      [20_001, 30_000, 10_000],
    ]);
    expect(listed.next_after_seq).toBe(30_000);
    // Another tenant sees none of it (RLS and the tenant predicate).
    expect((await listArchives(pipeline.database.db, tenantScope(PLAIN), { limit: 10 })).data).toEqual([]);
    await expect(
      restoreArchivedEvents(context, tenantScope(PLAIN), { from_seq: 1, to_seq: EXPIRED }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  test("a time-range restore brings back only the events of that window", async () => {
    const context = { db: pipeline.database.db, storage, actor: "user:test" };
    const from = new Date(NOW - 80 * DAY + 100 * 60_000).toISOString();
    const to = new Date(NOW - 80 * DAY + 200 * 60_000).toISOString();
    const result = await restoreArchivedEvents(context, tenantScope(ARCHIVED), { from, to });
    // Seqs 101..200 occurred in that window; all are already restored.
    expect(result).toMatchObject({
      restored: 0,
      already_restored: 100,
      from_seq: 101,
      to_seq: 200,
      objects: 1,
    });
  });

  test("the shared partition drop never empties a partition holding an archive-enabled tenant's rows", async () => {
    // NO_BUCKET's 200 events sit alone in a month beyond every tenant's retention.
    await pipeline.database.db.sql`select * from vigil_drop_expired_event_partitions()`;
    expect(await count("events", NO_BUCKET)).toBe(200);
    // The archive flag is what held it: without it, the same call empties that month.
    await pipeline.database.admin`update tenants set archive_enabled = false where id = ${NO_BUCKET}`;
    const emptied = await pipeline.database.db.sql<{ tenant_id: string | null }[]>`
      select tenant_id from vigil_drop_expired_event_partitions()`;
    expect(emptied.map((row) => row.tenant_id)).toContain(NO_BUCKET);
    expect(await count("events", NO_BUCKET)).toBe(0);
  });
});
