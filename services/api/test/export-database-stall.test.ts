// An export whose COPY goes quiet on PostgreSQL's side (the filter matches nothing in a large window,
// so no byte comes for longer than statement_timeout) ends that export only: the api stays up, the
// connection is usable again and the next export of the same tenant completes. PostgreSQL holds
// CopyOutResponse until rows or an error, so the first-byte cancel's error arrived with the stream
// and was emitted before anything listened: the api exited (the 10 M-row scaling exports' crash).
// Around that wait, an attacker's moves: clients that leave before the first byte, and the api
// killed in the middle of a large export (no COPY left running, the next api exports whole).
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

/** Export statements still running in PostgreSQL (marked vigil_export), from any api. */
async function runningExports(): Promise<number> {
  const [row] = await pipeline.database.admin<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and query ilike '%vigil_export%' and state = 'active'`;
  return row!.n;
}

async function readsToTheEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<boolean> {
  try {
    while (!(await reader.read()).done);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("clients that leave while PostgreSQL has sent nothing yet end their exports, not the api", async () => {
  // Each aborts during the first-byte wait (the COPY tests rows, no byte has come): the cancel and
  // the client's close race the stream's hand-over.
  await Promise.all(
    Array.from({ length: 8 }, async (_, index) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 20 + index * 15);
      await fetch(`${api.url}/api/v1/logs/export?format=csv&q=nomatchword${index}`, {
        headers: { Authorization: `Bearer ${tenant.key}` },
        signal: controller.signal,
      }).then(
        (response) => response.body?.cancel(),
        () => undefined,
      );
    }),
  );
  await eventually(async () => (await runningExports()) === 0, 10_000);
  expect(api.process.exitCode, api.output().slice(-3000)).toBeNull();
  const small = await exportText(`format=ndjson&after_seq=${ROWS - 9}`);
  expect(small.status).toBe(200);
  expect(small.text.trim().split("\n")).toHaveLength(9);
  expect(api.output()).not.toMatch(/uncaught|unhandled/i);
}, 60_000);

test("an api killed in the middle of an export leaves no COPY running; the next api exports every row", async () => {
  // Default timeouts: this export runs for seconds, so it is mid-stream when the process dies.
  const doomed = await pipeline.start("api");
  const response = await fetch(`${doomed.url}/api/v1/logs/export?format=ndjson`, {
    headers: { Authorization: `Bearer ${tenant.key}` },
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  await reader.read();
  await eventually(async () => (await runningExports()) > 0, 10_000);
  await doomed.kill();
  // Whatever was buffered may still arrive, but the body breaks off: it never ends as complete.
  expect(await readsToTheEnd(reader)).toBe(false);
  // PostgreSQL notices the closed socket on its next write and ends the COPY.
  await eventually(async () => (await runningExports()) === 0, 15_000);
  const fresh = await pipeline.start("api");
  const whole = await fetch(`${fresh.url}/api/v1/logs/export?format=csv`, {
    headers: { Authorization: `Bearer ${tenant.key}` },
  });
  expect(whole.status).toBe(200);
  const lines = (await whole.text()).trim().split("\n");
  expect(lines).toHaveLength(1 + ROWS);
  await fresh.stop();
}, 120_000);
