// Stats with bucket=day read whole UTC days from event_rollups_daily, the whole hours of the two
// edge days from event_rollups_hourly and raw events only for the partial edge hours. They must
// equal a GROUP BY over the events for every window: ragged edges, events exactly on hour and day
// boundaries, windows inside one hour or empty, hostile resource types; and stay equal after
// duplicates are re-sent, after cleanup (also racing back-dated ingest), after archive deletion,
// after an erasure, after the partition function empties a month, and after a backfill.
import { randomBytes, randomUUID } from "node:crypto";
import { archiveAndDeleteEventsBefore } from "@vigil/shared/archive/archive-events";
import type { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { run } from "@vigil/shared/db/database";
import * as statsRollupsDaily from "@vigil/shared/db/migrations/20261207T1015_stats_rollups_daily";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { eventStats, resolveStatsWindow, statsQuery } from "@vigil/shared/query/event-stats";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { deleteEventsBefore, pruneEmptyRollupsQuery } from "@vigil/shared/retention/cleanup-events";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { Kysely } from "kysely";
import { PostgresJSDialect } from "kysely-postgres-js";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { emulatorArchiveStorage } from "../archive/emulator-archive-storage.ts";
import { insertRollupTenant, prng, sampleEvent, storeRetryingDeadlocks } from "./seed-events.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();
/** A whole UTC hour four days back: the events lie around it. */
const BASE = Math.floor(NOW / HOUR) * HOUR - 4 * DAY;
/** The UTC midnight nearest after BASE. */
const DAY_START = Math.ceil(BASE / DAY) * DAY;

const HOSTILE_RESOURCE_TYPES = [
  "",
  " ",
  "x".repeat(256),
  "e\u0301",
  "é",
  "\u202Eevil",
  "Invoice",
  "invoice",
  "null",
  "doc'); drop table events;--",
  "a",
  "b",
  "c",
];

let pipeline: TestPipeline;
let storage: ArchiveStorage;
const bucket = `vigil-statsdaily-${randomBytes(4).toString("hex")}`;

/** Events over [from, from + spanMs); every 7th on an hour (or day) boundary or 1 ms either side. */
function eventsOf(
  tenantId: string,
  count: number,
  from: number,
  spanMs: number,
  seed: number,
): NormalizedEvent[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, index) => {
    const step = index % 14 === 0 ? DAY : HOUR;
    const at =
      index % 7 === 0
        ? Math.floor((from + random() * spanMs) / step) * step + ((index % 3) - 1)
        : from + Math.floor(random() * spanMs);
    const pick = Math.floor(random() ** 2 * HOSTILE_RESOURCE_TYPES.length);
    return sampleEvent(tenantId, seed * 100_000 + index, new Date(Math.max(from, at)), {
      resource_type: HOSTILE_RESOURCE_TYPES[pick]!,
    });
  });
}

const store = (events: NormalizedEvent[]) => storeRetryingDeadlocks(pipeline.database.db, events);

type Row = { dimension: string; value: string; count: number };
const sorted = (rows: readonly Row[]) =>
  rows
    .map((row) => ({ dimension: row.dimension, value: row.value, count: Number(row.count) }))
    .filter((row) => row.count !== 0)
    .sort((a, b) => `${a.dimension}|${a.value}`.localeCompare(`${b.dimension}|${b.value}`));

async function statsRows(tenantId: string, from: number, to: number, bucketBy: "hour" | "day") {
  const window = resolveStatsWindow(
    { from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket: bucketBy },
    new Date(NOW),
  );
  return sorted(
    await pipeline.database.db.withTenant(tenantId, (tx) =>
      run(tx, statsQuery(tenantScope(tenantId), window)),
    ),
  );
}

/** The same rows straight from the events: counts per dimension, per UTC day, top 10 resource types. */
async function oracleRows(tenantId: string, from: number, to: number) {
  const rows = await pipeline.database.admin<Row[]>`
    with w as (
      select * from events
      where tenant_id = ${tenantId} and occurred_at >= ${new Date(from)} and occurred_at < ${new Date(to)}
    ), types as (
      select resource_type, count(*) as n, row_number() over (order by count(*) desc, resource_type) as rank
      from w group by 1
    )
    select 'action_type' as dimension, action_type as value, count(*)::int as count from w group by 2
    union all select 'severity', severity, count(*)::int from w group by 2
    union all select 'outcome', outcome, count(*)::int from w group by 2
    union all select 'resource_type', resource_type, n::int from types where rank <= 10
    union all select 'bucket', to_char(date_trunc('day', occurred_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.000"Z"'),
      count(*)::int from w group by 2`;
  return sorted(rows);
}

async function expectStatsMatch(tenantId: string, from: number, to: number) {
  const label = `window ${new Date(from).toISOString()}..${new Date(to).toISOString()}`;
  expect(await statsRows(tenantId, from, to, "day"), label).toEqual(await oracleRows(tenantId, from, to));
}

/** Every (day, combination) count of the daily rollup equals the events', none is negative. */
async function expectDailyEqualsEvents(tenantId: string) {
  const admin = pipeline.database.admin;
  const rolled = await admin`
    select day, action_type, severity, outcome, resource_type, event_count::int as n from event_rollups_daily
    where tenant_id = ${tenantId} and event_count <> 0 order by 1, 2, 3, 4, 5`;
  const raw = await admin`
    select date_trunc('day', occurred_at, 'UTC') as day, action_type, severity, outcome, resource_type, count(*)::int as n
    from events where tenant_id = ${tenantId} group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`;
  expect([...rolled]).toEqual([...raw]);
  const [negative] = await admin<{ n: number }[]>`
    select count(*)::int as n from event_rollups_daily where tenant_id = ${tenantId} and event_count < 0`;
  expect(negative!.n).toBe(0);
}

function windows(seed: number): Array<[number, number]> {
  const random = prng(seed);
  const list: Array<[number, number]> = [
    [BASE, BASE + 3 * HOUR],
    [BASE + 1, BASE + 3 * HOUR + 1],
    [BASE + 10 * 60_000, BASE + 20 * 60_000],
    [BASE + 5 * HOUR, BASE + 5 * HOUR],
    [BASE - 3 * DAY, BASE + 3 * DAY],
    [DAY_START - DAY, DAY_START + DAY],
    [DAY_START - DAY + 1, DAY_START + DAY - 1],
    [DAY_START - 2 * DAY - 1, DAY_START + DAY + 1],
    [DAY_START - 3 * HOUR - 1, DAY_START + HOUR + 1],
    [DAY_START - HOUR, DAY_START],
  ];
  for (let round = 0; round < 8; round++) {
    const a = BASE - 3 * DAY + Math.floor(random() * 6 * DAY);
    const b = BASE - 3 * DAY + Math.floor(random() * 6 * DAY);
    list.push([Math.min(a, b), Math.max(a, b) + 1]);
  }
  return list;
}

async function expectAllWindowsMatch(tenantId: string, seed: number) {
  for (const [from, to] of windows(seed)) await expectStatsMatch(tenantId, from, to);
  await expectDailyEqualsEvents(tenantId);
}

const newTenant = (options: { retentionDays?: number; archive?: boolean } = {}) =>
  insertRollupTenant(pipeline.database.admin, "statsdaily", { ...options, bucket });

beforeAll(async () => {
  pipeline = await createTestPipeline();
  storage = await emulatorArchiveStorage(pipeline.sqsEndpoint, bucket);
}, 120_000);
afterAll(async () => pipeline?.close());

describe("stats by day from the daily rollups", () => {
  test("equal a GROUP BY over the events for every window shape, with hostile resource types and re-sent duplicates", async () => {
    const tenant = await newTenant();
    const neighbour = await newTenant();
    const events = eventsOf(tenant, 1500, BASE - 3 * DAY, 6 * DAY, 1);
    for (let start = 0; start < events.length; start += 300) await store(events.slice(start, start + 300));
    await store(eventsOf(neighbour, 300, BASE - 3 * DAY, 6 * DAY, 2));
    await expectAllWindowsMatch(tenant, 10);

    const resent = await store([
      ...events.slice(0, 200),
      { ...events[200]!, resource_type: "someone-else", payload_hash: "f".repeat(64) },
    ]);
    expect(resent).toMatchObject({ stored: 0, duplicates: 200, conflicts: 1 });
    await expectAllWindowsMatch(tenant, 11);

    // The verb: bucket=day and bucket=hour agree on every total and breakdown.
    const params = {
      from: new Date(BASE - 2 * DAY + 1234).toISOString(),
      to: new Date(BASE + DAY + 17).toISOString(),
    };
    const byDay = await eventStats(
      pipeline.database.db,
      tenantScope(tenant),
      { ...params, bucket: "day" },
      new Date(NOW),
    );
    const byHour = await eventStats(
      pipeline.database.db,
      tenantScope(tenant),
      { ...params, bucket: "hour" },
      new Date(NOW),
    );
    const { timeseries: daySeries, bucket: _d, ...dayRest } = byDay;
    const { timeseries: hourSeries, bucket: _h, ...hourRest } = byHour;
    expect(dayRest).toEqual(hourRest);
    expect(daySeries.reduce((sum, point) => sum + point.count, 0)).toBe(byDay.total);
    expect(hourSeries.reduce((sum, point) => sum + point.count, 0)).toBe(byDay.total);

    // The neighbour's daily rows exist and stay invisible in this tenant's scope.
    const [mixed] = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from event_rollups_daily where tenant_id = ${neighbour}`;
    expect(mixed!.n).toBeGreaterThan(0);
    const scoped = await pipeline.database.db.withTenant(
      tenant,
      (tx) =>
        tx<
          { n: number }[]
        >`select count(*)::int as n from event_rollups_daily where tenant_id = ${neighbour}`,
    );
    expect(scoped[0]!.n).toBe(0);
  });

  test("stay equal after cleanup with ragged cutoffs, and while cleanup races back-dated ingest", async () => {
    const tenant = await newTenant();
    const events = eventsOf(tenant, 1200, BASE - 3 * DAY, 6 * DAY, 3);
    for (let start = 0; start < events.length; start += 400) await store(events.slice(start, start + 400));
    await deleteEventsBefore(pipeline.database.db, tenantScope(tenant), new Date(BASE - 2 * DAY + 1234), {
      batchSize: 97,
    });
    await expectAllWindowsMatch(tenant, 12);
    await deleteEventsBefore(pipeline.database.db, tenantScope(tenant), new Date(DAY_START - DAY), {
      batchSize: 97,
    });
    await expectAllWindowsMatch(tenant, 13);
    const [left] = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from event_rollups_daily where tenant_id = ${tenant} and day < ${new Date(DAY_START - DAY)}`;
    expect(left!.n).toBe(0);

    const late = eventsOf(tenant, 600, DAY_START - DAY - 6 * HOUR, DAY, 4);
    const ingest = (async () => {
      for (let start = 0; start < late.length; start += 25) await store(late.slice(start, start + 25));
    })();
    const cleanup = deleteEventsBefore(
      pipeline.database.db,
      tenantScope(tenant),
      new Date(DAY_START - 2 * HOUR + 555),
      {
        batchSize: 13,
      },
    );
    await Promise.all([ingest, cleanup]);
    await expectAllWindowsMatch(tenant, 14);
  });

  test("stay equal after archive deletion and after erasures (no stats dimension is erasable)", async () => {
    const tenant = await newTenant({ archive: true });
    const events = eventsOf(tenant, 800, BASE - 3 * DAY, 6 * DAY, 5);
    await store(events);
    const before = new Date(DAY_START - DAY + 3 * HOUR + 4321);
    const archived = await archiveAndDeleteEventsBefore(
      pipeline.database.db,
      { storage, maxEventsPerObject: 150 },
      tenantScope(tenant),
      { enabled: true, bucket, prefix: "" },
      before,
      "cleanup",
    );
    expect(archived.deleted).toBe(
      events.filter((event) => Date.parse(event.occurred_at) < before.getTime()).length,
    );
    await expectAllWindowsMatch(tenant, 15);
    await pipeline.database.db.withTenant(tenant, (tx) =>
      run(tx, pruneEmptyRollupsQuery(tenantScope(tenant), before)),
    );
    await expectAllWindowsMatch(tenant, 16);

    const kept = events.filter((event) => Date.parse(event.occurred_at) >= before.getTime());
    for (const event of kept.slice(0, 5)) {
      const erased = await pipeline.database.db.withTenant(
        tenant,
        (tx) =>
          tx<{ seq: number }[]>`
            select seq from vigil_erase_event(${event.id}::uuid, ${["user_id", "metadata"]}::text[], 'user:test')`,
      );
      expect(erased).toHaveLength(1);
    }
    await expectAllWindowsMatch(tenant, 17);
  });

  test("the statement reads daily rows for whole days, hourly rows around them, events only in the partial edge hours", () => {
    const tenant = randomUUID();
    const at = (iso: string) => new Date(iso);
    const window = resolveStatsWindow({
      from: "2026-01-01T10:30:00Z",
      to: "2026-01-04T08:15:00Z",
      bucket: "day",
    });
    const compiled = statsQuery(tenantScope(tenant), window).compile();
    expect(compiled.sql).toContain("from event_rollups_daily");
    expect(compiled.sql).toContain("from event_rollups_hourly");
    expect(compiled.parameters).toEqual([
      tenant,
      at("2026-01-02T00:00:00Z"),
      at("2026-01-04T00:00:00Z"),
      tenant,
      at("2026-01-01T11:00:00Z"),
      at("2026-01-02T00:00:00Z"),
      at("2026-01-04T00:00:00Z"),
      at("2026-01-04T08:00:00Z"),
      tenant,
      at("2026-01-01T10:30:00Z"),
      at("2026-01-01T11:00:00Z"),
      at("2026-01-04T08:00:00Z"),
      at("2026-01-04T08:15:00Z"),
    ]);
    // Inside one hour: nothing from the rollups, the whole window from the events.
    const inside = resolveStatsWindow({
      from: "2026-01-01T10:30:00Z",
      to: "2026-01-01T10:45:00Z",
      bucket: "day",
    });
    const one = statsQuery(tenantScope(tenant), inside).compile();
    const from = at("2026-01-01T10:30:00Z");
    expect(one.parameters).toEqual([
      tenant,
      from,
      from,
      tenant,
      from,
      from,
      from,
      from,
      tenant,
      from,
      from,
      from,
      at("2026-01-01T10:45:00Z"),
    ]);
    // bucket=hour keeps hourly resolution: no daily rows.
    const hourly = statsQuery(tenantScope(tenant), { ...window, bucket: "hour" }).compile();
    expect(hourly.sql).not.toContain("event_rollups_daily");
  });

  test("the partition function removes the daily counts of the month it empties", async () => {
    const old = await newTenant({ retentionDays: 30 });
    const longAgo = NOW - 100 * DAY;
    await store(eventsOf(old, 200, longAgo, 2 * DAY, 6));
    const month = new Date(longAgo).toISOString().slice(0, 7);
    const countIn = async () =>
      (
        await pipeline.database.admin<{ n: number }[]>`
          select count(*)::int as n from event_rollups_daily where tenant_id = ${old}`
      )[0]!.n;
    expect(await countIn()).toBeGreaterThan(0);
    const emptied = await pipeline.database.admin<{ partition_name: string }[]>`
      select partition_name from vigil_drop_expired_event_partitions()`;
    expect(emptied.map((row) => row.partition_name)).toContain(`events_p${month.replace("-", "_")}`);
    expect(await countIn()).toBe(0);
    // The latest body is kept: the per-user rollups of that month go too.
    const [users] = await pipeline.database.admin<{ n: number }[]>`
      select (select count(*) from event_user_rollups_hourly where tenant_id = ${old})::int
        + (select count(*) from event_user_rollups_daily where tenant_id = ${old})::int as n`;
    expect(users!.n).toBe(0);
    await expectDailyEqualsEvents(old);
  });

  test("the migration backfills the daily rollups from the hourly ones (down, then up again)", async () => {
    const tenant = await newTenant();
    await store(eventsOf(tenant, 500, BASE - 3 * DAY, 6 * DAY, 7));
    const client = postgres(pipeline.database.adminUrl, { max: 1, onnotice: () => {} });
    const db = new Kysely<unknown>({ dialect: new PostgresJSDialect({ postgres: client }) });
    try {
      await db.transaction().execute(async (tx) => {
        await statsRollupsDaily.down(tx);
        await statsRollupsDaily.up(tx);
      });
    } finally {
      await db.destroy();
    }
    await expectAllWindowsMatch(tenant, 18);
  });
});
