// Top users from the per-user hourly rollups (whole hours) plus raw edge hours must equal a GROUP BY
// over the events for every window: ragged edges, events exactly on hour boundaries, windows
// inside one hour or empty, hostile user ids (empty, 256 characters, unicode look-alikes, quotes);
// and stay equal after duplicates are re-sent, after cleanup (also racing back-dated ingest), after
// archive deletion, after an erasure of user_id, after the partition function empties a month,
// and after a backfill.
import { randomBytes, randomUUID } from "node:crypto";
import { archiveAndDeleteEventsBefore } from "@vigil/shared/archive/archive-events";
import type { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { run } from "@vigil/shared/db/database";
import * as userRollups from "@vigil/shared/db/migrations/20261207T1013_user_rollups";
import * as userRollupsDaily from "@vigil/shared/db/migrations/20261207T1013_user_rollups_daily";
import * as userRollupsErasure from "@vigil/shared/db/migrations/20261207T1013_user_rollups_erasure";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { eventStats, topUsersQuery } from "@vigil/shared/query/event-stats";
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
/** A whole UTC hour three days back: the events lie around it. */
const BASE = Math.floor(NOW / HOUR) * HOUR - 3 * DAY;
/** The UTC midnight nearest after BASE: windows on and around whole days. */
const DAY_START = Math.ceil(BASE / DAY) * DAY;

const HOSTILE_USERS = [
  "",
  " ",
  "x".repeat(256),
  "é".repeat(256),
  "e\u0301", // "é" as e + combining accent: another string
  "é",
  "😀".repeat(128),
  "\u202Eevil",
  "User-A",
  "user-a",
  "null",
  "user'); drop table events;--",
  "user-1",
  "user-2",
];

let pipeline: TestPipeline;
let storage: ArchiveStorage;
const bucket = `vigil-topusers-${randomBytes(4).toString("hex")}`;

/** Events of `tenantId` spread over [from, from + spanMs), users drawn with skewed weights (some none). */
function eventsOf(
  tenantId: string,
  count: number,
  from: number,
  spanMs: number,
  seed: number,
): NormalizedEvent[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, index) => {
    // Every 7th event sits exactly on an hour boundary, or a millisecond either side of one.
    const onBoundary = index % 7 === 0;
    const at = onBoundary
      ? Math.floor((from + random() * spanMs) / HOUR) * HOUR + ((index % 3) - 1)
      : from + Math.floor(random() * spanMs);
    const pick = Math.floor(random() ** 2 * (HOSTILE_USERS.length + 1));
    return sampleEvent(tenantId, seed * 100_000 + index, new Date(Math.max(from, at)), {
      user_id: pick === HOSTILE_USERS.length ? null : HOSTILE_USERS[pick]!,
    });
  });
}

const store = (events: NormalizedEvent[]) => storeRetryingDeadlocks(pipeline.database.db, events);

async function topUsers(tenantId: string, from: number, to: number) {
  const rows = await pipeline.database.db.withTenant(tenantId, (tx) =>
    run(tx, topUsersQuery(tenantScope(tenantId), new Date(from), new Date(to))),
  );
  return rows.map((row) => ({ user_id: row.user_id, count: Number(row.count) }));
}

async function oracleTopUsers(tenantId: string, from: number, to: number) {
  return pipeline.database.admin<{ user_id: string; count: number }[]>`
    select user_id, count(*)::int as count from events
    where tenant_id = ${tenantId} and occurred_at >= ${new Date(from)} and occurred_at < ${new Date(to)}
      and user_id is not null
    group by 1 order by 2 desc, 1 asc limit 10`;
}

async function expectTopUsersMatch(tenantId: string, from: number, to: number) {
  const expected = await oracleTopUsers(tenantId, from, to);
  expect(
    await topUsers(tenantId, from, to),
    `window ${new Date(from).toISOString()}..${new Date(to).toISOString()}`,
  ).toEqual([...expected]);
  return expected;
}

/** Every (hour, user) and (day, user) count of the rollups equals the events', none is negative. */
async function expectRollupEqualsEvents(tenantId: string) {
  const admin = pipeline.database.admin;
  const rolled = await admin<{ bucket: Date; user_id: string; n: number }[]>`
    select bucket, user_id, event_count::int as n from event_user_rollups_hourly
    where tenant_id = ${tenantId} and event_count <> 0 order by 1, 2`;
  const raw = await admin<{ bucket: Date; user_id: string; n: number }[]>`
    select date_trunc('hour', occurred_at, 'UTC') as bucket, user_id, count(*)::int as n from events
    where tenant_id = ${tenantId} and user_id is not null group by 1, 2 order by 1, 2`;
  expect([...rolled]).toEqual([...raw]);
  const rolledDays = await admin<{ day: Date; user_id: string; n: number }[]>`
    select day, user_id, event_count::int as n from event_user_rollups_daily
    where tenant_id = ${tenantId} and event_count <> 0 order by 1, 2`;
  const rawDays = await admin<{ day: Date; user_id: string; n: number }[]>`
    select date_trunc('day', occurred_at, 'UTC') as day, user_id, count(*)::int as n from events
    where tenant_id = ${tenantId} and user_id is not null group by 1, 2 order by 1, 2`;
  expect([...rolledDays]).toEqual([...rawDays]);
  const [negative] = await admin<{ n: number }[]>`
    select (select count(*) from event_user_rollups_hourly where tenant_id = ${tenantId} and event_count < 0)::int
      + (select count(*) from event_user_rollups_daily where tenant_id = ${tenantId} and event_count < 0)::int as n`;
  expect(negative!.n).toBe(0);
}

/** Windows with ragged edges, exact hour and day edges, inside one hour, straddling one boundary, empty. */
function windows(seed: number): Array<[number, number]> {
  const random = prng(seed);
  const list: Array<[number, number]> = [
    [BASE, BASE + 3 * HOUR],
    [BASE + 1, BASE + 3 * HOUR + 1],
    [BASE - 1, BASE + 2 * HOUR],
    [BASE + 10 * 60_000, BASE + 20 * 60_000],
    [BASE - 10 * 60_000, BASE + 10 * 60_000],
    [BASE + HOUR - 1, BASE + HOUR + 1],
    [BASE + 5 * HOUR, BASE + 5 * HOUR],
    [BASE - 2 * DAY, BASE + 2 * DAY],
    [DAY_START - DAY, DAY_START + DAY],
    [DAY_START - DAY + 1, DAY_START + DAY - 1],
    [DAY_START - 3 * HOUR - 1, DAY_START + HOUR + 1],
    [DAY_START - HOUR, DAY_START],
  ];
  for (let round = 0; round < 10; round++) {
    const a = BASE - DAY + Math.floor(random() * 2 * DAY);
    const b = BASE - DAY + Math.floor(random() * 2 * DAY);
    list.push([Math.min(a, b), Math.max(a, b) + 1]);
  }
  return list;
}

async function expectAllWindowsMatch(tenantId: string, seed: number) {
  for (const [from, to] of windows(seed)) await expectTopUsersMatch(tenantId, from, to);
  await expectRollupEqualsEvents(tenantId);
}

const newTenant = (options: { retentionDays?: number; archive?: boolean } = {}) =>
  insertRollupTenant(pipeline.database.admin, "topusers", { ...options, bucket });

beforeAll(async () => {
  pipeline = await createTestPipeline();
  storage = await emulatorArchiveStorage(pipeline.sqsEndpoint, bucket);
}, 120_000);
afterAll(async () => pipeline?.close());

describe("top users from the per-user rollups", () => {
  test("equal a GROUP BY over the events for every window shape, with hostile user ids and re-sent duplicates", async () => {
    const tenant = await newTenant();
    const neighbour = await newTenant();
    const events = eventsOf(tenant, 1500, BASE - DAY, 2 * DAY, 1);
    for (let start = 0; start < events.length; start += 300) await store(events.slice(start, start + 300));
    await store(eventsOf(neighbour, 300, BASE - DAY, 2 * DAY, 2));
    await expectAllWindowsMatch(tenant, 10);
    const whole = await expectTopUsersMatch(tenant, BASE - 2 * DAY, BASE + 2 * DAY);
    // The hostile ids are counted as themselves, empty string included; null is never a user.
    expect(whole.map((row) => row.user_id)).toContain("");
    expect(whole.map((row) => row.user_id)).toContain(" ");

    // Re-sent: exact duplicates are skipped, a changed payload under a stored id is a conflict;
    // neither counts again.
    const resent = await store([
      ...events.slice(0, 200),
      { ...events[200]!, user_id: "someone-else", payload_hash: "f".repeat(64) },
    ]);
    expect(resent).toMatchObject({ stored: 0, duplicates: 200, conflicts: 1 });
    await expectAllWindowsMatch(tenant, 11);

    // The verb answers the same as the statement, and the neighbour's users never leak in.
    const stats = await eventStats(
      pipeline.database.db,
      tenantScope(tenant),
      {
        from: new Date(BASE - DAY + 1234).toISOString(),
        to: new Date(BASE + 5 * HOUR + 17).toISOString(),
        bucket: "hour",
      },
      new Date(NOW),
    );
    expect(stats.top_users).toEqual([
      ...(await oracleTopUsers(tenant, BASE - DAY + 1234, BASE + 5 * HOUR + 17)),
    ]);
    const [mixed] = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from event_user_rollups_hourly where tenant_id = ${neighbour}`;
    expect(mixed!.n).toBeGreaterThan(0);
    const scoped = await pipeline.database.db.withTenant(
      tenant,
      (tx) =>
        tx<
          { n: number }[]
        >`select (select count(*) from event_user_rollups_hourly where tenant_id = ${neighbour})::int
            + (select count(*) from event_user_rollups_daily where tenant_id = ${neighbour})::int as n`,
    );
    expect(scoped[0]!.n).toBe(0);
  });

  test("stay equal after cleanup with ragged cutoffs, and while cleanup races back-dated ingest", async () => {
    const tenant = await newTenant();
    const events = eventsOf(tenant, 1200, BASE - DAY, 2 * DAY, 3);
    for (let start = 0; start < events.length; start += 400) await store(events.slice(start, start + 400));
    // A cutoff inside an hour, then one exactly on an hour boundary.
    await deleteEventsBefore(pipeline.database.db, tenantScope(tenant), new Date(BASE - 12 * HOUR + 1234), {
      batchSize: 97,
    });
    await expectAllWindowsMatch(tenant, 12);
    await deleteEventsBefore(pipeline.database.db, tenantScope(tenant), new Date(BASE - 6 * HOUR), {
      batchSize: 97,
    });
    await expectAllWindowsMatch(tenant, 13);
    // Emptied hours leave no user rows behind once pruned.
    const [left] = await pipeline.database.admin<{ n: number }[]>`
      select (select count(*) from event_user_rollups_hourly where tenant_id = ${tenant} and bucket < ${new Date(BASE - 6 * HOUR)})::int
        + (select count(*) from event_user_rollups_daily where tenant_id = ${tenant} and day < ${new Date(Math.floor((BASE - 6 * HOUR) / DAY) * DAY)})::int as n`;
    expect(left!.n).toBe(0);

    // Back-dated events into the very hours being cleaned, stored while the cleanup runs.
    const late = eventsOf(tenant, 600, BASE - 6 * HOUR, 8 * HOUR, 4);
    const ingest = (async () => {
      for (let start = 0; start < late.length; start += 25) await store(late.slice(start, start + 25));
    })();
    const cleanup = deleteEventsBefore(
      pipeline.database.db,
      tenantScope(tenant),
      new Date(BASE - 2 * HOUR + 555),
      {
        batchSize: 13,
      },
    );
    await Promise.all([ingest, cleanup]);
    await expectAllWindowsMatch(tenant, 14);
  });

  test("stay equal after archive deletion", async () => {
    const tenant = await newTenant({ archive: true });
    const events = eventsOf(tenant, 800, BASE - DAY, 2 * DAY, 5);
    await store(events);
    const before = new Date(BASE - 3 * HOUR + 4321);
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
  });

  test("erasing an event's user_id takes it off the rollups; the erased id is not kept there", async () => {
    const tenant = await newTenant();
    const events = eventsOf(tenant, 300, BASE - DAY, 2 * DAY, 8);
    const lone = sampleEvent(tenant, 999_999, new Date(BASE + 17 * 60_000), {
      user_id: "erase-me@example.com",
    });
    await store([...events, lone]);
    const erase = (id: string, fields: string[]) =>
      pipeline.database.db.withTenant(
        tenant,
        (tx) =>
          tx<
            { seq: number }[]
          >`select seq from vigil_erase_event(${id}::uuid, ${fields}::text[], 'user:test')`,
      );
    // Other fields only: the user still counts. Then user_id: it no longer does, twice is a no-op.
    const withUser = events.find((event) => event.user_id === "User-A")!;
    expect(await erase(withUser.id, ["ip_address", "metadata"])).toHaveLength(1);
    await expectAllWindowsMatch(tenant, 18);
    const second = events.filter((event) => event.user_id === "User-A")[1]!;
    expect(await erase(second.id, ["user_id"])).toHaveLength(1);
    expect(await erase(second.id, ["user_id"])).toHaveLength(0);
    expect(await erase(lone.id, ["user_id", "session_id"])).toHaveLength(1);
    await expectAllWindowsMatch(tenant, 19);
    const [kept] = await pipeline.database.admin<{ n: number }[]>`
      select (select count(*) from event_user_rollups_hourly where user_id = 'erase-me@example.com')::int
        + (select count(*) from event_user_rollups_daily where user_id = 'erase-me@example.com')::int as n`;
    expect(kept!.n).toBe(0);
  });

  test("the statement reads raw events only in the two partial edge hours", () => {
    const from = new Date("2026-01-01T10:30:00Z");
    const to = new Date("2026-01-04T08:15:00Z");
    const compiled = topUsersQuery(tenantScope(randomUUID()), from, to).compile();
    const at = (iso: string) => new Date(iso);
    expect(compiled.parameters.slice(1, 3)).toEqual([at("2026-01-02T00:00:00Z"), at("2026-01-04T00:00:00Z")]);
    expect(compiled.parameters.slice(4, 8)).toEqual([
      at("2026-01-01T11:00:00Z"),
      at("2026-01-02T00:00:00Z"),
      at("2026-01-04T00:00:00Z"),
      at("2026-01-04T08:00:00Z"),
    ]);
    expect(compiled.parameters.slice(9)).toEqual([
      from,
      at("2026-01-01T11:00:00Z"),
      at("2026-01-04T08:00:00Z"),
      to,
    ]);
    expect(compiled.sql).toContain("from event_user_rollups_daily");
    expect(compiled.sql).toContain("from event_user_rollups_hourly");
    // Inside one hour: nothing from the rollups, the whole window from the events.
    const inside = topUsersQuery(tenantScope(randomUUID()), from, at("2026-01-01T10:45:00Z")).compile();
    expect(inside.parameters.slice(1, 3)).toEqual([from, from]);
    expect(inside.parameters.slice(9)).toEqual([from, from, from, at("2026-01-01T10:45:00Z")]);
  });

  test("the partition function removes the user counts of the month it empties", async () => {
    const old = await newTenant({ retentionDays: 30 });
    const longAgo = NOW - 100 * DAY;
    await store(eventsOf(old, 200, longAgo, 2 * DAY, 6));
    const month = new Date(longAgo).toISOString().slice(0, 7);
    const countIn = async () =>
      (
        await pipeline.database.admin<{ n: number }[]>`
          select (select count(*) from event_user_rollups_hourly where tenant_id = ${old})::int
            + (select count(*) from event_user_rollups_daily where tenant_id = ${old})::int as n`
      )[0]!.n;
    expect(await countIn()).toBeGreaterThan(0);
    const emptied = await pipeline.database.admin<{ partition_name: string }[]>`
      select partition_name from vigil_drop_expired_event_partitions()`;
    expect(emptied.map((row) => row.partition_name)).toContain(`events_p${month.replace("-", "_")}`);
    expect(await countIn()).toBe(0);
    await expectRollupEqualsEvents(old);
  });

  test("the migration backfills the rollups from the events present (down, then up again)", async () => {
    const tenant = await newTenant();
    await store(eventsOf(tenant, 500, BASE - DAY, 2 * DAY, 7));
    const client = postgres(pipeline.database.adminUrl, { max: 1, onnotice: () => {} });
    const db = new Kysely<unknown>({ dialect: new PostgresJSDialect({ postgres: client }) });
    try {
      await db.transaction().execute(async (tx) => {
        await userRollupsErasure.down(tx);
        await userRollupsDaily.down(tx);
        await userRollups.down(tx);
        await userRollups.up(tx);
        await userRollupsDaily.up(tx);
        await userRollupsErasure.up(tx);
      });
    } finally {
      await db.destroy();
    }
    await expectAllWindowsMatch(tenant, 17);
    // The service role still reaches the new table, under its tenant's policy only.
    expect(await topUsers(tenant, BASE - DAY, BASE + DAY)).toEqual([
      ...(await oracleTopUsers(tenant, BASE - DAY, BASE + DAY)),
    ]);
  });
});
