// A pinned viewer's stream (spec §11): a stream token carrying viewer pins delivers only events
// inside its pins, in backfill and live alike; a filter may narrow them but never widen them (a
// different value for a pinned field is refused before the upgrade). Real api, worker, streamer
// and PostgreSQL; the expected events are read back with SQL.
import { SigningKeyRing } from "@vigil/shared/auth/signing-keys";
import type { ViewerPins } from "@vigil/shared/viewer/viewer-pins";
import { signScopedToken } from "@vigil/shared/viewer/viewer-tokens";
import { createTestPipeline, type RunningService, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { openStream, type StreamClient, StreamRefused } from "./stream-client.ts";
import { postEvents, waitForStored } from "./stream-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
let streamer: RunningService;
let keys: SigningKeyRing;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  [api, streamer] = await Promise.all([
    pipeline.start("api"),
    pipeline.start("streamer"),
    pipeline.start("worker"),
  ]);
  keys = new SigningKeyRing(pipeline.database.admin, { accessTokenTtlSeconds: 900 });
});
afterAll(async () => pipeline?.close());

/** A stream token for `tenantId` carrying `pins`, signed like the console's. */
async function pinnedStreamToken(tenantId: string, pins: ViewerPins): Promise<string> {
  const { token } = await signScopedToken(
    keys,
    { VIGIL_JWT_ISSUER: "vigil", VIGIL_JWT_AUDIENCE: "vigil-api" },
    { kind: "stream", tenantId, subject: "user:pins-test", pins },
    300,
  );
  return token;
}

async function readyStream(token: string, query: Record<string, string>): Promise<StreamClient> {
  const client = await openStream(streamer.url, { token, query });
  await client.waitFor(() => client.ready !== null, 10_000);
  return client;
}

async function refusal(token: string, query: Record<string, string>) {
  return openStream(streamer.url, { token, query }).then(
    (client) => {
      client.close();
      return { status: 101, path: undefined };
    },
    (error: unknown) =>
      error instanceof StreamRefused
        ? { status: error.status, path: error.body.errors?.[0]?.path }
        : Promise.reject(error),
  );
}

test("a pinned stream delivers only events inside its pins, backfill and live; a filter narrows, never widens", async () => {
  const { tenant, key } = await pipeline.createTenantWithKey();
  // makeEvent(i): user_id user-(i % 7), resource_type invoice when i % 3 = 0, severity by (i >> 2) % 4.
  const pins = { user_id: "user-3", resource_type: "invoice" };
  const token = await pinnedStreamToken(tenant.id, pins);

  await postEvents(api.url, key, 120);
  await waitForStored(pipeline.database.admin, tenant.id, 120, 30_000);
  const pinned = await readyStream(token, { since: "0" });
  const restated = await readyStream(token, { since: "0", user_id: "user-3" });
  const narrowed = await readyStream(token, { since: "0", severity: "ERROR" });
  const everything = await readyStream(key, { since: "0" });
  await postEvents(api.url, key, 120, { start: 120 });
  await waitForStored(pipeline.database.admin, tenant.id, 240, 30_000);
  await everything.waitFor(() => everything.seqs.length === 240, 20_000);

  const seqsWhere = async (severity: string | null) =>
    (
      await pipeline.database.admin<{ seq: number }[]>`
        select seq from events where tenant_id = ${tenant.id} and user_id = ${pins.user_id}
          and resource_type = ${pins.resource_type} ${severity ? pipeline.database.admin`and severity = ${severity}` : pipeline.database.admin``}
        order by seq`
    ).map((row) => Number(row.seq));
  const [inside, insideErrors] = [await seqsWhere(null), await seqsWhere("ERROR")];
  // Both halves exist, so backfill and live are each checked, and the narrowing keeps some but not all.
  expect(inside.filter((seq) => seq <= 120).length).toBeGreaterThan(0);
  expect(inside.filter((seq) => seq > 120).length).toBeGreaterThan(0);
  expect(insideErrors.length).toBeGreaterThan(0);
  expect(insideErrors.length).toBeLessThan(inside.length);

  for (const [client, expected] of [
    [pinned, inside],
    [restated, inside],
    [narrowed, insideErrors],
  ] as const) {
    // Every event reached the unpinned stream already; a moment more lets any stray one arrive too.
    await client.waitFor(() => client.seqs.length >= expected.length, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.seqs).toEqual(expected);
    expect(
      client.events.every((event) => event.user_id === "user-3" && event.resource_type === "invoice"),
    ).toBe(true);
    client.close();
  }
  everything.close();

  // Widening is refused before the upgrade, naming the pinned field.
  expect(await refusal(token, { user_id: "user-4" })).toEqual({ status: 403, path: "user_id" });
  expect(await refusal(token, { resource_type: "user", since: "0" })).toEqual({
    status: 403,
    path: "resource_type",
  });
});
