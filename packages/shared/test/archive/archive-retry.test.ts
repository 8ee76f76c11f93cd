// A retried or concurrent archive run never makes `pnpm vigil archive verify` (verifyArchiveBucket,
// what the CLI prints) count an event twice, and never loses or doubles one in the database:
// - a run that fails after its first object's rows are deleted (an erasure lands between reading and
//   deleting the second object) leaves a manifest whose later objects the retry writes again under a
//   new manifest: verify counts each seq once and does not flag the rewritten object;
// - a run that failed after its manifest, retried once more events have expired, writes a manifest
//   that covers the first: the first is reported superseded;
// - cleanup and retention of one tenant at the same moment (both past their manifests before either
//   deletes): the loser rolls back, its unrecorded objects either coincide byte for byte with the
//   winner's keys or are reported as overlapping; the recorded ranges plus the live rows hold every
//   seq exactly once, and restore brings back each once.
import { randomBytes, randomUUID } from "node:crypto";
import { archiveAndDeleteEventsBefore } from "@vigil/shared/archive/archive-events";
import type { ArchiveSettings } from "@vigil/shared/archive/archive-settings";
import { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { restoreArchivedEvents } from "@vigil/shared/archive/restore-archives";
import { verifyArchiveBucket } from "@vigil/shared/archive/verify-archive-bucket";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { eraseEvent } from "@vigil/shared/tlog/erase-event";
import { createTestPipeline, queuedEvent, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { emulatorArchiveStorage } from "./emulator-archive-storage.ts";

const DAY = 86_400_000;
const NOW = Date.now();
const PER_OBJECT = 100;
let pipeline: TestPipeline;
const bucket = `vigil-archive-${randomBytes(4).toString("hex")}`;
const settings: ArchiveSettings = { enabled: true, bucket, prefix: "" };

/** The real storage, with a hook that runs right after a manifest is written (before any row is deleted). */
class HookedStorage extends ArchiveStorage {
  afterManifest?: (key: string) => Promise<void>;
  override async put(...args: Parameters<ArchiveStorage["put"]>): Promise<void> {
    await super.put(...args);
    if (args[1].includes("/manifests/")) await this.afterManifest?.(args[1]);
  }
}
let storage: HookedStorage;

/** `count` events a minute apart, the i-th `(count - i)` minutes before 20 days ago. */
async function tenantWithEvents(count: number): Promise<string> {
  const tenantId = randomUUID();
  await pipeline.database.admin`
    insert into tenants (id, name, retention_days, archive_enabled, archive_bucket)
    values (${tenantId}, ${tenantId}, 30, true, ${bucket})`;
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: count }, (_, i) =>
      queuedEvent(tenantId, { occurred_at: cutoff(count - i).toISOString(), resource_id: `r-${i}` }),
    ),
  );
  return tenantId;
}
/** A cutoff that expires every event but the last `kept` (see tenantWithEvents). */
const cutoff = (kept: number) => new Date(NOW - 20 * DAY - kept * 60_000);

const run = (tenantId: string, before: Date, reason: "cleanup" | "retention" = "retention") =>
  archiveAndDeleteEventsBefore(
    pipeline.database.db,
    { storage, maxEventsPerObject: PER_OBJECT },
    tenantScope(tenantId),
    settings,
    before,
    reason,
  );

const verify = (tenantId: string) => verifyArchiveBucket(storage, { bucket, prefix: "", tenantId });

/** Recorded ranges and live rows: every seq 1..total exactly once across both. */
async function expectEachSeqOnce(tenantId: string, total: number) {
  const [row] = await pipeline.database.admin<{ n: number; distinct_seqs: number; max: number }[]>`
    select count(*)::int as n, count(distinct seq)::int as distinct_seqs, max(seq)::int as max from (
      select generate_series(from_seq, to_seq) as seq from event_archives where tenant_id = ${tenantId}
      union all
      select seq from events where tenant_id = ${tenantId} and seq <= ${total}) s`;
  expect(row).toEqual({ n: total, distinct_seqs: total, max: total });
}

async function restoreAll(tenantId: string, total: number) {
  const restored = await restoreArchivedEvents(
    { db: pipeline.database.db, storage, actor: "user:test" },
    tenantScope(tenantId),
    { from_seq: 1, to_seq: total },
  );
  const [row] = await pipeline.database.admin<{ n: number; distinct_seqs: number }[]>`
    select count(*)::int as n, count(distinct seq)::int as distinct_seqs from restored_events where tenant_id = ${tenantId}`;
  return { restored, rows: row! };
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  storage = await emulatorArchiveStorage(pipeline.sqsEndpoint, bucket, HookedStorage);
}, 60_000);
afterAll(async () => {
  storage?.close();
  await pipeline?.close();
});

describe("a retry never double-counts", () => {
  test("failed after the first object's delete: the retry's manifest re-names the rest; verify counts 300, not 500", async () => {
    const tenantId = await tenantWithEvents(300);
    // An erasure of seq 150 between the run's reads and its deletes: object 101-200 no longer matches.
    storage.afterManifest = async () => {
      storage.afterManifest = undefined;
      const [victim] = await pipeline.database.admin<{ id: string }[]>`
        select id from events where tenant_id = ${tenantId} and seq = 150`;
      await eraseEvent(
        {
          db: pipeline.database.db,
          recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
          actor: "user:test",
        },
        tenantScope(tenantId),
        victim!.id,
        { reason: "test" },
      );
    };
    await expect(run(tenantId, cutoff(0))).rejects.toMatchObject({ code: "CONFLICT" });
    await expectEachSeqOnce(tenantId, 300);
    expect((await run(tenantId, cutoff(0))).deleted).toBe(200);
    await expectEachSeqOnce(tenantId, 300);

    const report = await verify(tenantId);
    expect(report.problems).toEqual([]);
    // Two manifests (1-300 and 101-300) both name 201-300; 101-200 was rewritten with the erasure.
    expect(report).toMatchObject({
      ok: true,
      manifests: 2,
      objects: 3,
      events: 300,
      superseded_manifests: [],
    });
    const { restored, rows } = await restoreAll(tenantId, 300);
    expect(restored.restored).toBe(300);
    expect(rows).toEqual({ n: 300, distinct_seqs: 300 });
  });

  test("failed after its manifest, retried once more events expired: the first manifest is superseded", async () => {
    const tenantId = await tenantWithEvents(400);
    storage.afterManifest = async () => {
      storage.afterManifest = undefined;
      throw new Error("storage vanished after the manifest");
    };
    await expect(run(tenantId, cutoff(100))).rejects.toThrow("vanished");
    await expectEachSeqOnce(tenantId, 400);
    expect((await run(tenantId, cutoff(0))).deleted).toBe(400);
    const report = await verify(tenantId);
    expect(report).toMatchObject({ ok: true, manifests: 2, objects: 4, events: 400, unreferenced: [] });
    expect(report.superseded_manifests).toEqual([
      `${tenantId}/manifests/0000000000000001-0000000000000300.json`,
    ]);
    expect((await restoreAll(tenantId, 400)).rows).toEqual({ n: 400, distinct_seqs: 400 });
  });
});

describe("cleanup and retention of one tenant at the same moment", () => {
  test("the loser rolls back; its objects are the winner's bytes or reported overlapping; each seq once", async () => {
    const tenantId = await tenantWithEvents(300);
    // Both runs hold until both have written their objects and manifest, then both delete.
    let waiting = 0;
    let release!: () => void;
    const bothWritten = new Promise<void>((resolve) => {
      release = resolve;
    });
    storage.afterManifest = async () => {
      if (++waiting === 2) release();
      await bothWritten;
    };
    const outcomes = await Promise.allSettled([
      run(tenantId, cutoff(50), "cleanup"), // objects 1-100, 101-200, 201-250
      run(tenantId, cutoff(0), "retention"), // objects 1-100, 101-200, 201-300
    ]);
    storage.afterManifest = undefined;
    const failed = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({ code: "CONFLICT" });
    await expectEachSeqOnce(tenantId, 300);

    let report = await verify(tenantId);
    expect(report.problems).toEqual([]);
    // Two manifests, four distinct objects (1-100 and 101-200 written twice with the same bytes), 300 seqs.
    expect(report).toMatchObject({ ok: true, manifests: 2, objects: 4, events: 300 });
    expect(report.overlapping_objects).toHaveLength(1);
    expect(report.overlapping_objects[0]).toMatch(
      /\/events\/0000000000000201-000000000000(0250|0300)\.ndjson\.gz$/,
    );
    expect(report.superseded_manifests).toHaveLength(1);

    // The next sweep archives whatever the winner left; the database then names every seq once.
    await run(tenantId, cutoff(0));
    await expectEachSeqOnce(tenantId, 300);
    report = await verify(tenantId);
    expect(report).toMatchObject({ ok: true, events: 300 });
    const { restored, rows } = await restoreAll(tenantId, 300);
    expect(restored.restored).toBe(300);
    expect(rows).toEqual({ n: 300, distinct_seqs: 300 });
  });
});
