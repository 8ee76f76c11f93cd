// The partial hours at a stats window's edges are read the cheaper of two exact ways: their own
// events, or the hour's rollup row minus the events of the rest of the hour. Which one is chosen
// must never change an answer: checked here against a GROUP BY over the events, including the case
// the choice is most tempted by, a window ending now while the rest of its last hour already holds
// events (clients may send an occurred_at a little in the future).
import { randomUUID } from "node:crypto";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { edgeReads, eventStats, resolveStatsWindow, topUsersQuery } from "@vigil/shared/query/event-stats";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sampleEvent } from "./seed-events.ts";

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** A fixed "now" 40 minutes into a UTC hour, three days back (inside the default retention). */
const HOUR_START = Math.floor(Date.now() / HOUR) * HOUR - 72 * HOUR;
const NOW = HOUR_START + 40 * MINUTE;

let pipeline: TestPipeline;
beforeAll(async () => {
  pipeline = await createTestPipeline();
}, 120_000);
afterAll(async () => pipeline?.close());

const iso = (ms: number) => new Date(ms).toISOString();
const windowOf = (from: number, to: number | undefined, now = NOW) =>
  resolveStatsWindow(
    { from: iso(from), ...(to === undefined ? {} : { to: iso(to) }), bucket: "day" },
    new Date(now),
  );

describe("stats edge hours", () => {
  test("each edge takes the shorter part of its hour; a window ending now takes the rest of its last hour", () => {
    // From 10 minutes into an hour: the 10 minutes before it are the cheaper read (rollup − rest).
    const early = edgeReads(windowOf(HOUR_START - 5 * HOUR + 10 * MINUTE, HOUR_START - HOUR + 10 * MINUTE));
    expect(early?.hours.map((hour) => hour.getTime())).toEqual([HOUR_START - 5 * HOUR]);
    expect(early?.rest).toEqual([
      [new Date(HOUR_START - 5 * HOUR), new Date(HOUR_START - 5 * HOUR + 10 * MINUTE)],
    ]);
    expect(early?.direct).toEqual([[new Date(HOUR_START - HOUR), new Date(HOUR_START - HOUR + 10 * MINUTE)]]);
    // Both edges in the later half of their hours, in the past: both read directly (the plain statement).
    expect(
      edgeReads(windowOf(HOUR_START - 5 * HOUR + 50 * MINUTE, HOUR_START - HOUR + 10 * MINUTE)),
    ).toBeNull();
    // Ending now: the end reads the rollup minus the (future) rest of the hour, however early in it.
    const open = edgeReads(windowOf(HOUR_START - 5 * HOUR + 50 * MINUTE, undefined, HOUR_START + MINUTE));
    expect(open?.hours.map((hour) => hour.getTime())).toEqual([HOUR_START]);
    expect(open?.rest).toEqual([[new Date(HOUR_START + MINUTE), new Date(HOUR_START + HOUR)]]);
    // No whole hour inside: the window is read from its own events.
    expect(edgeReads(windowOf(HOUR_START + MINUTE, HOUR_START + 30 * MINUTE))).toBeNull();
    // The compiled top-users statement names the rollup hour and subtracts the rest.
    const compiled = topUsersQuery(
      tenantScope(randomUUID()),
      new Date(HOUR_START - 5 * HOUR + 10 * MINUTE),
      new Date(NOW),
      true,
    ).compile();
    expect(compiled.sql).toContain("bucket in (");
    expect(compiled.sql).toContain("-1 as n");
  });

  test("answers equal a GROUP BY over the events, with events already stored after `now` in the last hour", async () => {
    const tenant = randomUUID();
    await pipeline.database
      .admin`insert into tenants (id, name) values (${tenant}, ${`edges-${tenant.slice(0, 8)}`})`;
    // Every 7 minutes over the six hours up to the end of NOW's hour, so every edge and the future
    // rest of the last hour (NOW .. HOUR_START + 1 h) all hold events; user ids cycle.
    const events = [];
    for (let at = HOUR_START - 5 * HOUR, index = 0; at < HOUR_START + HOUR; at += 7 * MINUTE, index++)
      events.push(sampleEvent(tenant, index, new Date(at), { user_id: `user-${index % 5}` }));
    await storeEvents(pipeline.database.db, events);
    const scope = tenantScope(tenant);
    const oracle = async (from: number, to: number) => {
      const [row] = await pipeline.database.admin<
        { total: number; users: Array<{ user_id: string; count: number }> }[]
      >`
        with w as (select * from events where tenant_id = ${tenant} and occurred_at >= ${new Date(from)} and occurred_at < ${new Date(to)}),
          u as (select user_id, count(*)::int as count from w group by 1 order by 2 desc, 1)
        select (select count(*)::int from w) as total, coalesce((select json_agg(u order by u.count desc, u.user_id) from u), '[]') as users`;
      return row!;
    };
    for (const [from, to] of [
      [HOUR_START - 5 * HOUR + 10 * MINUTE, undefined],
      [HOUR_START - 5 * HOUR + 50 * MINUTE, undefined],
      [HOUR_START - 5 * HOUR + 3 * MINUTE, HOUR_START - HOUR + 55 * MINUTE],
      [HOUR_START - 4 * HOUR, HOUR_START + 5 * MINUTE],
    ] as Array<[number, number | undefined]>) {
      const stats = await eventStats(
        pipeline.database.db,
        scope,
        { from: iso(from), ...(to === undefined ? {} : { to: iso(to) }), bucket: "day" },
        new Date(NOW),
      );
      const expected = await oracle(from, to ?? NOW);
      const label = `${iso(from)}..${to === undefined ? "now" : iso(to)}`;
      expect(stats.total, label).toBe(expected.total);
      expect(
        stats.timeseries.reduce((sum, bucket) => sum + bucket.count, 0),
        label,
      ).toBe(expected.total);
      expect(stats.top_users, label).toEqual(expected.users);
    }
  });
});
