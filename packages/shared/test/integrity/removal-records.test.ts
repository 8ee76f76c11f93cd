// Removal records against the real PostgreSQL: cleanup and retention record every run of seqs they
// delete, so a tenant's log still verifies when back-dated events put the removed rows in the middle
// of the seq range; rows deleted without a record (at the start, middle or end) and forged or
// overlapping records are each reported.

import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { cleanupEvents, deleteEventsBefore } from "@vigil/shared/retention/cleanup-events";
import { sweepRetention } from "@vigil/shared/retention/retention-sweep";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { prng, sampleEvent, seedEvents } from "../query/seed-events.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;
const NOW = Date.now();

const BACKDATED = "0190a0a0-0000-7000-8000-0000000000a1";
const SMALL_BATCHES = "0190a0a0-0000-7000-8000-0000000000a2";
const ALL_GONE = "0190a0a0-0000-7000-8000-0000000000a3";
const SHORT = "0190a0a0-0000-7000-8000-0000000000a4";
const TAMPERED = "0190a0a0-0000-7000-8000-0000000000a5";
const FORGED = "0190a0a0-0000-7000-8000-0000000000a6";

let pipeline: TestPipeline;

/**
 * `count` events in seq order; each is back-dated to `oldAt` with probability `oldShare` (and then
 * falls in the cleanup or retention window), otherwise dated a few minutes ago.
 */
function interleaved(tenantId: string, count: number, seed: number, oldAt: number, oldShare = 0.4) {
  const random = prng(seed);
  const events: NormalizedEvent[] = [];
  const oldSeqs: number[] = [];
  for (let index = 0; index < count; index++) {
    const old = random() < oldShare;
    if (old) oldSeqs.push(index + 1);
    const at = old ? oldAt + index * MINUTE : NOW - 60 * MINUTE + index * 1000;
    events.push(sampleEvent(tenantId, index + seed * 10_000, new Date(at)));
  }
  return { events, oldSeqs };
}

/** Maximal runs of consecutive numbers, as [from, to]. */
function runsOf(seqs: number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const seq of [...seqs].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && last[1] === seq - 1) last[1] = seq;
    else runs.push([seq, seq]);
  }
  return runs;
}

async function removalRecords(tenantId: string) {
  return pipeline.database.admin<{ from_seq: number; to_seq: number; reason: string }[]>`
    select from_seq::int, to_seq::int, reason from event_removed_ranges where tenant_id = ${tenantId} order by from_seq`;
}

const cleanupContext = () => ({
  db: pipeline.database.db,
  recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
  actor: "user:removal-test",
  now: new Date(NOW),
});

const problemsOf = async (tenantId: string) =>
  (await verifyTenantLog(pipeline.database.db, tenantScope(tenantId))).problems.map((p) => [
    p.problem,
    p.seq,
  ]);

beforeAll(async () => {
  pipeline = await createTestPipeline();
  for (const [id, retention] of [
    [BACKDATED, 365],
    [SMALL_BATCHES, 365],
    [ALL_GONE, 365],
    [SHORT, 30],
    [TAMPERED, 365],
    [FORGED, 365],
  ] as const) {
    await pipeline.database.admin`
      insert into tenants (id, name, retention_days) values (${id}, ${`r-${id.slice(-2)}`}, ${retention})`;
  }
}, 120_000);
afterAll(async () => pipeline?.close());

describe("cleanup with back-dated events", () => {
  test("removes seqs from the middle of the range, records each run, and the log verifies", async () => {
    const { events, oldSeqs } = interleaved(BACKDATED, 800, 1, NOW - 20 * DAY);
    await seedEvents(pipeline.database.db, events);
    // The removed rows are not a prefix of the seq range: an anchor at the first remaining row would
    // have reported them as gaps.
    expect(Math.max(...oldSeqs)).toBeGreaterThan(800 - 10);
    expect(oldSeqs[0]).toBeLessThan(5);

    const done = await cleanupEvents(cleanupContext(), tenantScope(BACKDATED), {
      before: new Date(NOW - 10 * DAY).toISOString(),
      dry_run: false,
    });
    expect(done.deleted).toBe(oldSeqs.length);
    const records = await removalRecords(BACKDATED);
    // One batch: the records are exactly the maximal runs of the removed seqs.
    expect(records.map((r) => [r.from_seq, r.to_seq])).toEqual(runsOf(oldSeqs));
    expect(new Set(records.map((r) => r.reason))).toEqual(new Set(["cleanup"]));
    expect(records.length).toBeGreaterThan(100);

    const report = await verifyTenantLog(pipeline.database.db, tenantScope(BACKDATED));
    expect(report).toMatchObject({
      ok: true,
      problems: [],
      checked: 800 - oldSeqs.length,
      removed: oldSeqs.length,
      last_seq: 800,
    });
  });

  test("runs split across batches are recorded piecewise and still verify", async () => {
    const { events, oldSeqs } = interleaved(SMALL_BATCHES, 600, 2, NOW - 20 * DAY, 0.7);
    await seedEvents(pipeline.database.db, events);
    const deleted = await deleteEventsBefore(
      pipeline.database.db,
      tenantScope(SMALL_BATCHES),
      new Date(NOW - 10 * DAY),
      {
        batchSize: 37,
      },
    );
    expect(deleted).toBe(oldSeqs.length);
    const records = await removalRecords(SMALL_BATCHES);
    expect(records.reduce((sum, r) => sum + r.to_seq - r.from_seq + 1, 0)).toBe(oldSeqs.length);
    // Some run was cut at a batch edge: more records than maximal runs.
    expect(records.length).toBeGreaterThan(runsOf(oldSeqs).length);
    expect(await verifyTenantLog(pipeline.database.db, tenantScope(SMALL_BATCHES))).toMatchObject({
      ok: true,
      removed: oldSeqs.length,
    });
  });

  test("a log whose every row was removed verifies against the head", async () => {
    await seedEvents(
      pipeline.database.db,
      Array.from({ length: 25 }, (_, i) => sampleEvent(ALL_GONE, i, new Date(NOW - 20 * DAY + i * MINUTE))),
    );
    await deleteEventsBefore(pipeline.database.db, tenantScope(ALL_GONE), new Date(NOW - 10 * DAY));
    expect(await verifyTenantLog(pipeline.database.db, tenantScope(ALL_GONE))).toMatchObject({
      ok: true,
      checked: 0,
      removed: 25,
      first_seq: null,
    });
    // Without its record the same empty log is a dropped history.
    await pipeline.database.admin`delete from event_removed_ranges where tenant_id = ${ALL_GONE}`;
    expect(await problemsOf(ALL_GONE)).toEqual([["head_mismatch", 25]]);
  });
});

describe("retention", () => {
  test("a truncated partition records the runs of its back-dated rows, and the log verifies", async () => {
    const { events, oldSeqs } = interleaved(SHORT, 300, 3, NOW - 100 * DAY, 0.5);
    await seedEvents(pipeline.database.db, events);
    const warnings: unknown[] = [];
    const logger = {
      warn: (...args: unknown[]) => warnings.push(args),
      error: (...args: unknown[]) => warnings.push(args),
      info: () => {},
    };
    const report = await sweepRetention({
      db: pipeline.database.db,
      recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
      logger: logger as never,
      now: () => new Date(NOW),
    });
    expect(warnings).toEqual([]);
    const oldMonth = `events_p${events[(oldSeqs.at(-1) ?? 0) - 1]!.occurred_at.slice(0, 7).replace("-", "_")}`;
    expect(report.partitionsTruncated).toContain(oldMonth);
    expect(report.tenants).toEqual([expect.objectContaining({ tenantId: SHORT, deleted: oldSeqs.length })]);

    // A run crossing a month edge is recorded once per partition, so compare the seqs covered.
    const records = await removalRecords(SHORT);
    expect(
      records.flatMap((r) => Array.from({ length: r.to_seq - r.from_seq + 1 }, (_, i) => r.from_seq + i)),
    ).toEqual(oldSeqs);
    expect(records.length).toBeGreaterThan(50);
    expect(new Set(records.map((r) => r.reason))).toEqual(new Set(["retention"]));
    expect(await verifyTenantLog(pipeline.database.db, tenantScope(SHORT))).toMatchObject({
      ok: true,
      checked: 300 - oldSeqs.length,
      removed: oldSeqs.length,
    });
  });
});

describe("deletions without a record, and bad records", () => {
  test("rows deleted directly at the start, middle and end are each reported, also after a real cleanup", async () => {
    const admin = pipeline.database.admin;
    // Seq order equals time order here: cleanup removes seq 1..10, a recorded prefix.
    await seedEvents(
      pipeline.database.db,
      Array.from({ length: 40 }, (_, i) =>
        sampleEvent(TAMPERED, i, new Date((i < 10 ? NOW - 20 * DAY : NOW - DAY) + i * MINUTE)),
      ),
    );
    await deleteEventsBefore(pipeline.database.db, tenantScope(TAMPERED), new Date(NOW - 19 * DAY));
    expect(await verifyTenantLog(pipeline.database.db, tenantScope(TAMPERED))).toMatchObject({
      ok: true,
      first_seq: 11,
      removed: 10,
    });

    // The new oldest rows, one in the middle and the newest, gone without a record.
    await admin`delete from events where tenant_id = ${TAMPERED} and seq in (11, 12, 20, 40)`;
    expect(await problemsOf(TAMPERED)).toEqual([
      ["seq_gap", 13],
      ["seq_gap", 21],
      ["head_mismatch", 40],
    ]);
    const report = await verifyTenantLog(pipeline.database.db, tenantScope(TAMPERED));
    expect(report.problems[0]!.detail).toBe("seq 11..12 missing without a removal record");

    // With no removal record at all, the oldest rows missing is reported as lost history.
    await admin`delete from event_removed_ranges where tenant_id = ${TAMPERED}`;
    const bare = await verifyTenantLog(pipeline.database.db, tenantScope(TAMPERED));
    expect(bare.problems[0]).toMatchObject({
      problem: "seq_gap",
      seq: 13,
      detail: "history before seq 13 missing without a removal record",
    });
  });

  test("a forged record with the wrong chain hash, and records overlapping stored rows, are reported", async () => {
    const admin = pipeline.database.admin;
    await seedEvents(
      pipeline.database.db,
      Array.from({ length: 30 }, (_, i) => sampleEvent(FORGED, i, new Date(NOW - DAY + i * MINUTE))),
    );
    await admin`delete from events where tenant_id = ${FORGED} and seq between 10 and 12`;
    await admin`
      insert into event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason)
      values (${FORGED}, 10, 12, ${"f".repeat(64)}, 'cleanup')`;
    const forged = await verifyTenantLog(pipeline.database.db, tenantScope(FORGED));
    expect(forged).toMatchObject({ ok: false, removed: 3 });
    expect(forged.problems).toEqual([
      expect.objectContaining({
        problem: "chain_mismatch",
        seq: 13,
        detail: "chain hash does not follow from the removal record ending at seq 12",
      }),
    ]);

    // A record claiming rows that are still stored.
    await admin`
      insert into event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason)
      values (${FORGED}, 20, 21, ${"0".repeat(64)}, 'retention')`;
    expect(await problemsOf(FORGED)).toEqual([
      ["chain_mismatch", 13],
      ["removal_record_mismatch", 20],
    ]);
  });

  test("the service role may add records for its own tenant only, and never change or remove one", async () => {
    const db = pipeline.database.db;
    const insert = (tenantId: string) =>
      db.withTenant(
        FORGED,
        (tx) => tx`
        insert into event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason)
        values (${tenantId}, 1000, 1000, ${"0".repeat(64)}, 'cleanup')`,
      );
    await expect(insert(TAMPERED)).rejects.toMatchObject({ code: "42501" }); // row-level security
    await expect(
      db.withTenant(
        FORGED,
        (tx) => tx`update event_removed_ranges set last_chain_hash = 'x' where tenant_id = ${FORGED}`,
      ),
    ).rejects.toMatchObject({ code: "42501" });
    await expect(
      db.withTenant(FORGED, (tx) => tx`delete from event_removed_ranges where tenant_id = ${FORGED}`),
    ).rejects.toMatchObject({ code: "42501" });
    await expect(
      db.withTenant(
        FORGED,
        (tx) => tx`insert into event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason)
        values (${FORGED}, 5, 4, ${"0".repeat(64)}, 'cleanup')`,
      ),
    ).rejects.toMatchObject({ code: "23514" }); // an empty range
  });
});
