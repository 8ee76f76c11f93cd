// Stats, resource history, cleanup and retention against the real PostgreSQL. Stats are checked
// against a direct GROUP BY over the events table for random windows, before and after cleanup.

import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import {
  eventStats,
  resolveStatsWindow,
  type StatsParams,
  statsQuery,
} from "@vigil/shared/query/event-stats";
import { resourceHistory } from "@vigil/shared/query/resource-history";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { decodeEventMessage } from "@vigil/shared/queue/event-message";
import { cleanupEvents, deleteEventsBatchQuery } from "@vigil/shared/retention/cleanup-events";
import { sweepRetention } from "@vigil/shared/retention/retention-sweep";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { prng, sampleEvent, seedEvents } from "./seed-events.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();

const STATS = "0190a0a0-0000-7000-8000-000000000051";
const NEIGHBOUR = "0190a0a0-0000-7000-8000-000000000052";
const HISTORY = "0190a0a0-0000-7000-8000-000000000053";
const CLEAN = "0190a0a0-0000-7000-8000-000000000054";
const KEEP = "0190a0a0-0000-7000-8000-000000000055";
const SHORT = "0190a0a0-0000-7000-8000-000000000056";
const LONG = "0190a0a0-0000-7000-8000-000000000057";

let pipeline: TestPipeline;

/** The `n` of a `select count(*)::int as n …` statement. */
async function countOf(rows: PromiseLike<{ n: number }[]>): Promise<number> {
  return (await rows)[0]!.n;
}

/** `count` events of one tenant at random times in [NOW - spanMs, NOW), stored in time order. */
function randomEvents(
  tenantId: string,
  count: number,
  spanMs: number,
  seed: number,
  offsetMs = 0,
): NormalizedEvent[] {
  const random = prng(seed);
  const times = Array.from({ length: count }, () => NOW - offsetMs - Math.floor(random() * spanMs)).sort(
    (a, b) => a - b,
  );
  return times.map((at, index) => sampleEvent(tenantId, index + seed * 100_000, new Date(at)));
}

async function oracleStats(tenantId: string, from: Date, to: Date, bucket: "hour" | "day") {
  const admin = pipeline.database.admin;
  const where = admin`tenant_id = ${tenantId} and occurred_at >= ${from} and occurred_at < ${to}`;
  const group = async (column: string) =>
    Object.fromEntries(
      (
        await admin<
          { key: string; n: number }[]
        >`select ${admin(column)} as key, count(*)::int as n from events where ${where} group by 1`
      ).map((row) => [row.key, row.n]),
    );
  const total = (
    await admin<{ total: number }[]>`select count(*)::int as total from events where ${where}`
  )[0]!.total;
  const series = await admin<{ bucket: Date; n: number }[]>`
    select date_trunc(${bucket}, occurred_at, 'UTC') as bucket, count(*)::int as n from events where ${where} group by 1 order by 1`;
  const users = await admin<{ user_id: string; count: number }[]>`
    select user_id, count(*)::int as count from events where ${where} and user_id is not null group by 1 order by 2 desc, 1 asc limit 10`;
  const types = await admin<{ resource_type: string; count: number }[]>`
    select resource_type, count(*)::int as count from events where ${where} group by 1 order by 2 desc, 1 asc limit 10`;
  return {
    total,
    by_action_type: await group("action_type"),
    by_severity: await group("severity"),
    by_outcome: await group("outcome"),
    series: series.map((row) => ({ bucket: row.bucket.toISOString(), count: row.n })),
    top_users: users,
    top_resource_types: types,
  };
}

async function expectStatsMatch(tenantId: string, params: StatsParams) {
  const stats = await eventStats(pipeline.database.db, tenantScope(tenantId), params, new Date(NOW));
  const oracle = await oracleStats(tenantId, new Date(stats.from), new Date(stats.to), stats.bucket);
  const nonZero = (counts: Record<string, number>) =>
    Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
  expect(stats.total).toBe(oracle.total);
  expect(nonZero(stats.by_action_type)).toEqual(oracle.by_action_type);
  expect(nonZero(stats.by_severity)).toEqual(oracle.by_severity);
  expect(nonZero(stats.by_outcome)).toEqual(oracle.by_outcome);
  expect(stats.top_resource_types).toEqual(oracle.top_resource_types);
  expect(stats.top_users).toEqual(oracle.top_users);
  expect(stats.timeseries.filter((point) => point.count > 0)).toEqual(oracle.series);
  expect(stats.timeseries.reduce((sum, point) => sum + point.count, 0)).toBe(oracle.total);
  return stats;
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  for (const [id, retention] of [
    [STATS, 365],
    [NEIGHBOUR, 365],
    [HISTORY, 365],
    [CLEAN, 365],
    [KEEP, 365],
    [SHORT, 30],
    [LONG, 365],
  ] as const) {
    await pipeline.database
      .admin`insert into tenants (id, name, retention_days) values (${id}, ${`t-${id.slice(-2)}`}, ${retention})`;
  }
  await seedEvents(pipeline.database.db, randomEvents(STATS, 4000, 20 * DAY, 1));
  await seedEvents(pipeline.database.db, randomEvents(NEIGHBOUR, 1000, 20 * DAY, 2));
  await seedEvents(pipeline.database.db, randomEvents(CLEAN, 2000, 10 * DAY, 3));
  await seedEvents(pipeline.database.db, randomEvents(KEEP, 500, 10 * DAY, 4));
}, 120_000);
afterAll(async () => pipeline?.close());

describe("stats", () => {
  test("equal a direct GROUP BY over the events for random windows (hour and day buckets, unaligned edges)", async () => {
    const random = prng(99);
    for (let round = 0; round < 8; round++) {
      const a = NOW - Math.floor(random() * 21 * DAY);
      const b = NOW - Math.floor(random() * 21 * DAY);
      const [from, to] = [Math.min(a, b), Math.max(a, b) + 1];
      const bucket = round % 2 ? "hour" : "day";
      await expectStatsMatch(STATS, {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        bucket,
      });
    }
    // Inside a single hour, and the default window (last 30 days).
    await expectStatsMatch(STATS, {
      from: new Date(NOW - 2 * DAY + 60_000).toISOString(),
      to: new Date(NOW - 2 * DAY + 1_800_000).toISOString(),
      bucket: "hour",
    });
    const all = await expectStatsMatch(STATS, { bucket: "day" });
    expect(all.total).toBe(4000);
    expect(all.timeseries).toHaveLength(31);
  });

  test("the SQL reads rollups for whole hours and raw rows only at the edges", () => {
    const window = resolveStatsWindow({
      from: "2026-01-01T10:30:00Z",
      to: "2026-01-02T08:15:00Z",
      bucket: "hour",
    });
    expect(window.hoursFrom.toISOString()).toBe("2026-01-01T11:00:00.000Z");
    expect(window.hoursTo.toISOString()).toBe("2026-01-02T08:00:00.000Z");
    const compiled = statsQuery(tenantScope(STATS), window).compile();
    expect(compiled.sql).toContain("from event_rollups_hourly");
    expect(compiled.sql).toContain("where tenant_id = $1 and bucket >= $2 and bucket < $3");
    expect(compiled.sql).toContain("((occurred_at >= $5 and occurred_at < $6)");
    expect(compiled.sql).toContain("group by grouping sets");
    expect(compiled.parameters).toEqual([
      STATS,
      window.hoursFrom,
      window.hoursTo,
      STATS,
      window.from,
      window.hoursFrom,
      window.hoursTo,
      window.to,
    ]);
  });

  test("bad parameters are refused naming them", async () => {
    const scope = tenantScope(STATS);
    await expect(
      eventStats(pipeline.database.db, scope, {
        from: new Date(NOW - 60 * DAY).toISOString(),
        bucket: "hour",
      }),
    ).rejects.toMatchObject({ errors: [{ path: "bucket" }] });
    await expect(
      eventStats(pipeline.database.db, scope, { from: "2020-01-01T00:00:00Z", bucket: "day" }),
    ).rejects.toMatchObject({ errors: [{ path: "from" }] });
  });
});

describe("resource history", () => {
  test("in seq order, with a field-level diff per event, paged by cursor", async () => {
    const base = { resource_type: "invoice", resource_id: "inv/42 ü" };
    const at = (minutes: number) => new Date(NOW - DAY + minutes * 60_000);
    await seedEvents(pipeline.database.db, [
      sampleEvent(HISTORY, 1, at(1), {
        ...base,
        action_type: "CREATE",
        before_state: null,
        after_state: { status: "draft", lines: [{ sku: "a" }] },
      }),
      sampleEvent(HISTORY, 2, at(2), { resource_type: "invoice", resource_id: "other" }),
      sampleEvent(HISTORY, 3, at(3), {
        ...base,
        action_type: "UPDATE",
        before_state: { status: "draft", lines: [{ sku: "a" }] },
        after_state: { status: "sent", lines: [{ sku: "b" }, { sku: "c" }], to: "x@y" },
      }),
      sampleEvent(HISTORY, 4, at(4), {
        ...base,
        action_type: "DELETE",
        before_state: { status: "sent" },
        after_state: null,
      }),
    ]);
    const scope = tenantScope(HISTORY);
    const first = await resourceHistory(pipeline.database.db, scope, base, { limit: 2 });
    expect(first.data.map((entry) => entry.seq)).toEqual([1, 3]);
    // jsonb keeps keys shorter-first, so "lines" comes before "status".
    expect(first.data[0]!.diff).toEqual({
      added: [
        { path: "lines", value: [{ sku: "a" }] },
        { path: "status", value: "draft" },
      ],
      removed: [],
      changed: [],
    });
    expect(first.data[1]!.diff).toEqual({
      added: [
        { path: "lines[1]", value: { sku: "c" } },
        { path: "to", value: "x@y" },
      ],
      removed: [],
      changed: [
        { path: "lines[0].sku", old: "a", new: "b" },
        { path: "status", old: "draft", new: "sent" },
      ],
    });
    const second = await resourceHistory(pipeline.database.db, scope, base, {
      limit: 2,
      cursor: first.next_cursor!,
    });
    expect(second.data.map((entry) => [entry.seq, entry.diff.removed])).toEqual([
      [4, [{ path: "status", value: "sent" }]],
    ]);
    expect(second.next_cursor).toBeNull();
    // Another tenant sees nothing; the cursor does not carry over to another resource.
    expect(
      (await resourceHistory(pipeline.database.db, tenantScope(STATS), base, { limit: 10 })).data,
    ).toEqual([]);
    await expect(
      resourceHistory(
        pipeline.database.db,
        scope,
        { ...base, resource_id: "other" },
        { limit: 2, cursor: first.next_cursor! },
      ),
    ).rejects.toMatchObject({ code: "INVALID_CURSOR" });
  });
});

describe("cleanup", () => {
  const recorder = () => ({ queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) });

  test("dry run counts, the real run removes exactly that tenant's rows before the cutoff, and the log still verifies", async () => {
    const db = pipeline.database.db;
    const admin = pipeline.database.admin;
    const before = new Date(NOW - 5 * DAY + 1234);
    const countBefore = (tenantId: string) =>
      countOf(
        admin`select count(*)::int as n from events where tenant_id = ${tenantId} and occurred_at < ${before}`,
      );
    const expected = await countBefore(CLEAN);
    const keepBefore = await countBefore(KEEP);
    expect(expected).toBeGreaterThan(500);

    const context = { db, recorder: recorder(), actor: "user:cleanup-test", now: new Date(NOW) };
    const dry = await cleanupEvents(context, tenantScope(CLEAN), {
      before: before.toISOString(),
      dry_run: true,
    });
    expect(dry).toEqual({ deleted: expected, dry_run: true, before: before.toISOString() });
    expect(await countBefore(CLEAN)).toBe(expected);

    const done = await cleanupEvents(context, tenantScope(CLEAN), {
      before: before.toISOString(),
      dry_run: false,
    });
    expect(done.deleted).toBe(expected);
    expect(await countBefore(CLEAN)).toBe(0);
    const remaining = await countOf(admin`select count(*)::int as n from events where tenant_id = ${CLEAN}`);
    expect(remaining).toBe(2000 - expected);
    expect(await countBefore(KEEP)).toBe(keepBefore);
    const ids = await countOf(admin`select count(*)::int as n from event_ids where tenant_id = ${CLEAN}`);
    expect(ids).toBe(remaining);

    // Rollups still equal what remains; verification anchors at the first remaining row.
    await expectStatsMatch(CLEAN, {
      bucket: "hour",
      from: new Date(NOW - 12 * DAY).toISOString(),
      to: new Date(NOW).toISOString(),
    });
    const report = await verifyTenantLog(db, tenantScope(CLEAN));
    expect(report).toMatchObject({ ok: true, checked: remaining, first_seq: expected + 1, last_seq: 2000 });

    // The cleanup itself went into the tenant's log (via the queue).
    const messages = await pipeline.queue.receive(10, 2, 30);
    const recorded = messages
      .flatMap((message) => decodeEventMessage(message.Body!).events)
      .find((event) => event.action === "vigil.events.cleanup");
    expect(recorded).toMatchObject({
      tenant_id: CLEAN,
      action_type: "DELETE",
      user_id: "user:cleanup-test",
      metadata: { before: before.toISOString(), matching: expected },
    });
    await pipeline.queue.deleteMessages(messages.map((message) => message.ReceiptHandle!));
  });

  test("the batch statement is tenant-scoped and bounded, and a future cutoff is refused", async () => {
    const compiled = deleteEventsBatchQuery(
      tenantScope(CLEAN),
      new Date("2026-01-01T00:00:00Z"),
      5000,
    ).compile();
    expect(compiled.sql).toContain("where tenant_id = $1 and occurred_at < $2");
    expect(compiled.sql).toContain("limit $3");
    expect(compiled.sql).toContain("delete from event_ids i using gone g where i.tenant_id = $4");
    expect(compiled.parameters).toEqual([CLEAN, new Date("2026-01-01T00:00:00Z"), 5000, CLEAN, CLEAN]);
    const context = { db: pipeline.database.db, recorder: recorder(), actor: "user:x" };
    await expect(
      cleanupEvents(context, tenantScope(CLEAN), {
        before: new Date(Date.now() + DAY).toISOString(),
        dry_run: true,
      }),
    ).rejects.toMatchObject({ errors: [{ path: "before" }] });
  });
});

describe("retention", () => {
  test("drops a month no tenant still needs, deletes the rest in batches, and records it in the tenant's log", async () => {
    const admin = pipeline.database.admin;
    const db = pipeline.database.db;
    // SHORT keeps 30 days: one month of its rows is alone in its partition (dropped whole); rows
    // 45 days old share a month with LONG's rows (deleted row by row); 10-day-old rows stay.
    const old = randomEvents(SHORT, 300, 5 * DAY, 5, 100 * DAY);
    const middle = randomEvents(SHORT, 200, DAY, 6, 45 * DAY);
    const fresh = randomEvents(SHORT, 100, DAY, 7, 10 * DAY);
    await seedEvents(db, [...old, ...middle, ...fresh]);
    await seedEvents(db, randomEvents(LONG, 100, DAY, 8, 45 * DAY));
    const oldMonth = old.at(-1)!.occurred_at.slice(0, 7).replace("-", "_");
    const partitionsOf = async () =>
      (
        await admin<
          { relname: string }[]
        >`select relname from pg_class where relname like 'events_p%' and relkind = 'r'`
      ).map((row) => row.relname);
    // The old rows may straddle two months; the newest of them decides which partition must go.
    const oldMonths = new Set(
      old.map((event) => `events_p${event.occurred_at.slice(0, 7).replace("-", "_")}`),
    );
    const middleMonths = new Set(
      middle.map((event) => `events_p${event.occurred_at.slice(0, 7).replace("-", "_")}`),
    );
    expect(await partitionsOf()).toContain(`events_p${oldMonth}`);

    // The partition step must not have fallen back to row deletes because of an error.
    const warnings: unknown[] = [];
    const logger = {
      warn: (...args: unknown[]) => warnings.push(args),
      info: () => {},
      error: (...args: unknown[]) => warnings.push(args),
    };
    const sweep = () =>
      sweepRetention({
        logger: logger as never,
        db,
        recorder: { queue: pipeline.queue, isSensitiveKey: sensitiveKeyMatcher([]) },
        now: () => new Date(NOW),
      });
    const rowsIn = async (partition: string) =>
      (await admin.unsafe(`select count(*)::int as n from ${partition}`))[0]!.n as number;
    const report = await sweep();
    expect(report.ran).toBe(true);
    // Other tenants keep up to 10 years, so they could still back-fill that month: emptied, kept.
    for (const month of oldMonths)
      if (!middleMonths.has(month)) expect(report.partitionsTruncated).toContain(month);
    expect(report.partitionsDropped).toEqual([]);
    expect(await partitionsOf()).toContain(`events_p${oldMonth}`);
    expect(await rowsIn(`events_p${oldMonth}`)).toBe(0);
    expect(report.tenants).toEqual([
      { tenantId: SHORT, before: new Date(NOW - 30 * DAY).toISOString(), deleted: 500 },
    ]);

    const n = await countOf(admin`select count(*)::int as n from events where tenant_id = ${SHORT}`);
    expect(n).toBe(100);
    const longRows = await countOf(admin`select count(*)::int as n from events where tenant_id = ${LONG}`);
    expect(longRows).toBe(100);
    const ids = await countOf(admin`select count(*)::int as n from event_ids where tenant_id = ${SHORT}`);
    expect(ids).toBe(100);
    const rolled = await countOf(
      admin`select coalesce(sum(event_count), 0)::int as n from event_rollups_hourly where tenant_id = ${SHORT}`,
    );
    expect(rolled).toBe(100);
    expect(await verifyTenantLog(db, tenantScope(SHORT))).toMatchObject({
      ok: true,
      checked: 100,
      first_seq: 501,
    });

    const messages = await pipeline.queue.receive(10, 2, 30);
    const recorded = messages
      .flatMap((message) => decodeEventMessage(message.Body!).events)
      .filter((event) => event.action === "vigil.events.retention");
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({
      tenant_id: SHORT,
      user_id: "system:retention",
      metadata: { deleted: 500, retention_days: 30 },
    });
    await pipeline.queue.deleteMessages(messages.map((message) => message.ReceiptHandle!));

    // Once the month lies beyond every tenant's retention, the partition itself is dropped.
    await admin`update tenants set retention_days = 60`;
    const second = await sweep();
    expect(second.partitionsDropped).toContain(`events_p${oldMonth}`);
    expect(await partitionsOf()).not.toContain(`events_p${oldMonth}`);
    expect(second.tenants.find((tenant) => tenant.tenantId === SHORT)).toBeUndefined();
    expect(await verifyTenantLog(db, tenantScope(SHORT))).toMatchObject({ ok: true, checked: 100 });
    expect(warnings).toEqual([]);
  });
});
