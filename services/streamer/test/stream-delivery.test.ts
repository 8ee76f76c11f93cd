// The live stream against the real pipeline (api → SQS → worker → PostgreSQL → NOTIFY → streamer →
// ws clients): exact delivery per filter and tenant, a backfill/live seam without gap or duplicate,
// and resumption across a crashed and a gracefully restarted streamer.

import { EVENT_COLUMNS } from "@vigil/shared/query/event-rows";
import { STREAM_CLOSE_CODES } from "@vigil/shared/stream/stream-protocol";
import { createTestPipeline, type RunningService, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { openStream, type StreamClient } from "./stream-client.ts";
import { postEvents, storedCount, waitForStored } from "./stream-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
beforeAll(async () => {
  pipeline = await createTestPipeline();
  [api] = await Promise.all([pipeline.start("api"), pipeline.start("worker")]);
});
afterAll(async () => pipeline?.close());

/** Seqs of the tenant's stored events matching a SQL condition, in seq order: the expected stream. */
async function expectedSeqs(
  tenantId: string,
  where: (sql: TestPipeline["database"]["admin"]) => unknown,
): Promise<number[]> {
  const admin = pipeline.database.admin;
  const rows = await admin<
    { seq: number }[]
  >`select seq from events where tenant_id = ${tenantId} and ${where(admin) as never} order by seq`;
  return rows.map((row) => Number(row.seq));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

test("three subscribers with different filters each get exactly their tenant's matching events, in order, once", async () => {
  const streamer = await pipeline.start("streamer");
  const [a, b] = await Promise.all([pipeline.createTenantWithKey(), pipeline.createTenantWithKey()]);
  const everything = await openStream(streamer.url, { token: a.key, query: { since: 0 } });
  const severe = await openStream(streamer.url, {
    token: a.key,
    query: { severity: ["ERROR", "CRITICAL"], resource_type: "invoice" },
  });
  const failures = await openStream(streamer.url, {
    token: b.key,
    query: { since: 0, user_id: "user-3", outcome: "failure", action_type: "CREATE,DELETE" },
  });
  const clients = [everything, severe, failures];
  await Promise.all(clients.map((client) => client.waitFor(() => client.ready !== null)));

  const started = Date.now();
  await Promise.all([postEvents(api.url, a.key, 5000), postEvents(api.url, b.key, 5000)]);
  await Promise.all([
    waitForStored(pipeline.database.admin, a.tenant.id, 5000),
    waitForStored(pipeline.database.admin, b.tenant.id, 5000),
  ]);
  console.log(`10,000 events stored in ${Date.now() - started} ms`);

  const expected = {
    everything: await expectedSeqs(a.tenant.id, (sql) => sql`true`),
    severe: await expectedSeqs(
      a.tenant.id,
      (sql) => sql`severity in ('ERROR', 'CRITICAL') and resource_type = 'invoice'`,
    ),
    failures: await expectedSeqs(
      b.tenant.id,
      (sql) => sql`user_id = 'user-3' and outcome = 'failure' and action_type in ('CREATE', 'DELETE')`,
    ),
  };
  expect(expected.everything).toEqual(range(1, 5000));
  expect(expected.severe.length).toBeGreaterThan(100);
  expect(expected.failures.length).toBeGreaterThan(20);

  await everything.waitFor(() => everything.seqs.length >= expected.everything.length);
  await severe.waitFor(() => severe.seqs.length >= expected.severe.length);
  await failures.waitFor(() => failures.seqs.length >= expected.failures.length);
  await new Promise((resolve) => setTimeout(resolve, 300)); // anything extra (a duplicate) would arrive now

  expect(everything.seqs).toEqual(expected.everything);
  expect(severe.seqs).toEqual(expected.severe);
  expect(failures.seqs).toEqual(expected.failures);
  expect(everything.events.every((event) => event.tenant_id === a.tenant.id)).toBe(true);
  expect(
    severe.events.every(
      (event) =>
        event.tenant_id === a.tenant.id &&
        ["ERROR", "CRITICAL"].includes(event.severity) &&
        event.resource_type === "invoice",
    ),
  ).toBe(true);
  expect(
    failures.events.every((event) => event.tenant_id === b.tenant.id && event.user_id === "user-3"),
  ).toBe(true);
  // The stream carries the stored event itself (same shape as GET /api/v1/logs/{id}).
  expect(Object.keys(everything.events[0]!).sort()).toEqual([...EVENT_COLUMNS].sort());
  for (const client of clients) client.close();
});

test("subscribing with since in the middle of a burst: backfill and live meet with no gap and no duplicate", async () => {
  const streamer = await pipeline.start("streamer");
  const { tenant, key } = await pipeline.createTenantWithKey();
  const burst = postEvents(api.url, key, 4000, { parallel: 1 });
  // Join while events are still being stored: the backfill reads rows that keep arriving live.
  while ((await storedCount(pipeline.database.admin, tenant.id)) < 1000)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const client = await openStream(streamer.url, { token: key, query: { since: 500 } });
  await burst;
  await waitForStored(pipeline.database.admin, tenant.id, 4000);
  expect(await storedCount(pipeline.database.admin, tenant.id)).toBe(4000);
  await client.waitFor(() => client.seqs.length >= 3500);
  await new Promise((resolve) => setTimeout(resolve, 300));

  expect(client.seqs).toEqual(range(501, 4000));
  // `ready` marks the seam: what came before it was backfill, what came after, live.
  expect(client.ready).not.toBeNull();
  expect(client.ready!.seq).toBeGreaterThanOrEqual(1000);
  expect(client.ready!.afterEvents).toBe(client.ready!.seq - 500);
  client.close();
});

test("a SIGKILLed streamer loses nothing: reconnecting to a new one with the last seq seen continues exactly", async () => {
  const first = await pipeline.start("streamer");
  const { tenant, key } = await pipeline.createTenantWithKey();
  const before = await openStream(first.url, { token: key, query: { since: 0 } });
  const burst = postEvents(api.url, key, 4000, { parallel: 1 });
  await before.waitFor(() => before.seqs.length >= 800);
  await first.kill();
  const { code } = await before.closed;
  expect(code).toBe(1006); // no close frame: the process died

  const second = await pipeline.start("streamer");
  const after = await openStream(second.url, { token: key, query: { since: before.seqs.at(-1)! } });
  await burst;
  await waitForStored(pipeline.database.admin, tenant.id, 4000);
  await after.waitFor(() => before.seqs.length + after.seqs.length >= 4000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect([...before.seqs, ...after.seqs]).toEqual(range(1, 4000));

  // Graceful restart: an error message naming the reason, then the "reconnect" close code.
  const stopping = second.stop();
  const closed = await after.closed;
  expect(closed.code).toBe(STREAM_CLOSE_CODES.serviceRestart);
  expect(after.errors).toEqual([{ code: "SERVICE_RESTART", message: expect.stringContaining("since") }]);
  expect(await stopping).toBe(0);

  const third = await pipeline.start("streamer");
  const resumed: StreamClient = await openStream(third.url, {
    token: key,
    query: { since: after.seqs.at(-1)! },
  });
  await postEvents(api.url, key, 10, { start: 4000 });
  await resumed.waitFor(() => resumed.seqs.length >= 10);
  expect([...before.seqs, ...after.seqs, ...resumed.seqs]).toEqual(range(1, 4010));
  resumed.close();
});
