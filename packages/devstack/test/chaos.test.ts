// The short variant of `pnpm chaos` (bench/chaos.ts): 5,000 events through 2 api, 3 worker and 2
// streamer processes while 3 of them are kill -9'd and PostgreSQL restarts once; every tenant's
// events stored exactly once, gapless, verified, and seen whole by every resuming subscriber.
import { expect, test } from "vitest";
import { runChaos } from "../../../bench/chaos.ts";

test("short chaos run: kills and a PostgreSQL restart lose and duplicate nothing", async () => {
  const lines: string[] = [];
  const result = await runChaos({
    events: 5000,
    kills: 3,
    tenants: 4,
    subscribers: 8,
    api: 2,
    workers: 3,
    streamers: 2,
    batch: 250,
    clients: 4,
    pgRestarts: 1,
    seed: 7,
    out: null,
    log: (line) => lines.push(line),
  });
  expect(result.failures, lines.slice(-40).join("\n")).toEqual([]);
  expect(result.ok).toBe(true);
  expect(result.accepted).toBe(5000);
  expect(result.kills).toBe(3);
  expect(result.restarts).toBeGreaterThanOrEqual(3);
  expect(result.pgRestarts).toBe(1);
  expect(result.tenants.reduce((sum, tenant) => sum + tenant.stored, 0)).toBe(5000);
  for (const tenant of result.tenants) {
    expect(tenant).toMatchObject({ gapless: true, verified: true, missing: 0, firstSeq: 1 });
    expect(tenant.stored).toBe(tenant.accepted);
    expect(tenant.subscribersComplete).toBe(tenant.subscribers);
  }
  expect(result.summary).toContain("| verdict | PASS |");
}, 120_000);
