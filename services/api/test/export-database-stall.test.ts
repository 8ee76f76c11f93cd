// An export whose COPY goes quiet on PostgreSQL's side (the filter matches nothing in a large window,
// so no byte comes for longer than statement_timeout) ends that export only: the api stays up, the
// connection is usable again and the next export of the same tenant completes. PostgreSQL holds
// CopyOutResponse until rows or an error, so the first-byte cancel's error arrived with the stream
// and was emitted before anything listened: the api exited (the 10 M-row scaling exports' crash).
import { createTestPipeline, type RunningService, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { seedTenantEvents } from "../../../bench/seed-events.ts";

const ROWS = 300_000;
let pipeline: TestPipeline;
let api: RunningService;
let tenant: { id: string; key: string };

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api", { DATABASE_STATEMENT_TIMEOUT_MS: "150" });
  const created = await pipeline.createTenantWithKey(["read"]);
  tenant = { id: created.tenant.id, key: created.key };
  await seedTenantEvents(pipeline.database.admin, tenant.id, ROWS, { now: new Date(), spanDays: 1 });
}, 180_000);
afterAll(async () => pipeline?.close());

async function exportText(query: string): Promise<{ status: number; text: string; error?: unknown }> {
  const response = await fetch(`${api.url}/api/v1/logs/export?${query}`, {
    headers: { Authorization: `Bearer ${tenant.key}` },
  });
  try {
    return { status: response.status, text: await response.text() };
  } catch (error) {
    return { status: response.status, text: "", error };
  }
}

test("a COPY that produces nothing for longer than statement_timeout ends its export, not the api", async () => {
  // `q` matches no row: PostgreSQL tests all 300,000 before its first byte (and never sends one).
  const quiet = await exportText("format=ndjson&q=nomatchword");
  // The stall ends the response: the body breaks off instead of ending as a complete export.
  expect(quiet.status).toBe(200);
  expect(quiet.error).toBeDefined();
  // Before the fix the api died here: an 'error' on the driver's COPY stream with no listener.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(api.process.exitCode, api.output().slice(-3000)).toBeNull();
  expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  // The pooled connections are clean: a small export of the same tenant completes whole.
  const small = await exportText(`format=csv&after_seq=${ROWS - 49}`);
  expect(small.status).toBe(200);
  expect(small.text.trim().split("\n")).toHaveLength(1 + 49);
  expect(api.process.exitCode).toBeNull();
  expect(api.output()).not.toMatch(/uncaught|unhandled/i);
}, 120_000);
