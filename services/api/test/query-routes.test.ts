// Search, export, stats, history and cleanup over HTTP against the real api and worker processes.
// Bulk data is seeded straight into PostgreSQL (the worker's storeEvents verb, or generate_series
// for the 200,000-row export), which is much faster than posting it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { computeEventHash } from "@vigil/shared/events/event-hash";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { EXPORT_COLUMNS } from "@vigil/shared/query/export-events";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { parse } from "fast-csv";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, createUser } from "./auth-fixtures.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const EXPORT_ROWS = 200_000;
const NOW = Date.now();
const JSON_COLUMNS = new Set(["before_state", "after_state", "metadata", "redacted"]);

let pipeline: TestPipeline;
let api: RunningService;
let tenantA: { id: string; key: string };
let tenantB: { id: string; key: string };
let bigTenant: { id: string; key: string };
let tenantAdminToken: string;
let auditorToken: string;

function event(tenantId: string, index: number, at: number): NormalizedEvent {
  const id = createHash("sha256").update(`${tenantId}/${index}`).digest("hex");
  return {
    id: `${id.slice(0, 8)}-${id.slice(8, 12)}-7${id.slice(13, 16)}-8${id.slice(17, 20)}-${id.slice(20, 32)}`,
    tenant_id: tenantId,
    occurred_at: new Date(at).toISOString(),
    received_at: new Date(at).toISOString(),
    action_type: (["CREATE", "UPDATE", "DELETE", "VIEW"] as const)[index % 4]!,
    action: index % 10 === 0 ? "invoice.approve" : "invoice.update",
    resource_type: index % 2 ? "invoice" : "project",
    resource_id: `inv-${index % 5}`,
    user_id: `user-${index % 3}`,
    session_id: null,
    ip_address: null,
    user_agent: null,
    severity: index % 7 === 0 ? "ERROR" : "INFO",
    outcome: "success",
    before_state: { n: index },
    after_state: { n: index + 1 },
    metadata: { index },
    redacted: [],
    payload_hash: createHash("sha256").update(`${tenantId}/${index}/p`).digest("hex"),
  };
}

const uuidFromMd5 = (text: string) => {
  const hex = createHash("md5").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};
const INJECTIONS: Record<number, string> = {
  1: "=1+2",
  2: "+SUM(A1)",
  3: "@cmd",
  4: "-1+1",
  5: "\tx",
  6: "\rcalc",
};
const EXPORT_BASE = NOW - DAY;
/** The seeded rows only: the tenant's own export audit events come later. */
const EXPORT_WINDOW = `from=${new Date(EXPORT_BASE).toISOString()}&to=${new Date(EXPORT_BASE + (EXPORT_ROWS + 1) * 100).toISOString()}`;

/** 200,000 rows for one tenant in one INSERT … SELECT generate_series (hash chain irrelevant here). */
async function seedBigTenant(tenantId: string) {
  const admin = pipeline.database.admin;
  await admin`
    insert into events (tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type, resource_id,
      user_id, session_id, ip_address, user_agent, severity, outcome, before_state, after_state, metadata, redacted, hash, chain_hash)
    select ${tenantId}::uuid, g, md5('e' || g)::uuid, ${new Date(EXPORT_BASE)}::timestamptz + g * interval '100 ms',
      ${new Date(EXPORT_BASE)}::timestamptz + g * interval '100 ms', 'UPDATE', 'invoice.update', 'invoice', 'inv-' || (g % 1000),
      case g % 50000 when 1 then '=1+2' when 2 then '+SUM(A1)' when 3 then '@cmd' when 4 then '-1+1' when 5 then E'\\tx' when 6 then E'\\rcalc'
        else 'user-' || (g % 100) end,
      's-' || (g % 10), '10.0.0.' || (g % 250), 'agent, "quoted"', 'INFO', 'success',
      case when g % 2 = 0 then jsonb_build_object('status', 'draft', 'n', g) end,
      jsonb_build_object('status', 'sent', 'n', g, 'note', 'line one' || chr(10) || 'line, two'),
      jsonb_build_object('index', g, 'tags', jsonb_build_array('a', 'b')),
      '{}', md5(g::text) || md5(g::text), md5(g::text) || md5(g::text)
    from generate_series(1, ${EXPORT_ROWS}) as g`;
  await admin`update tenant_sequences set last_seq = ${EXPORT_ROWS} where tenant_id = ${tenantId}`;
}

function memoryOf(pid: number): { rssKb: number; hwmKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

async function auditEventsOf(tenant: { key: string }, action: string): Promise<any[]> {
  const found = await requestJson(`${api.url}/api/v1/logs?action=${action}&limit=1000`, { key: tenant.key });
  return found.body.data ?? [];
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  // A modest heap ceiling keeps V8 from growing into idle headroom, so RSS reflects what the
  // export holds rather than when the collector happens to run.
  api = await pipeline.start("api", { NODE_OPTIONS: "--max-old-space-size=160" });
  await pipeline.start("worker", { RETENTION_SWEEP_INTERVAL_SECONDS: "2" });
  const a = await pipeline.createTenantWithKey(["read"]);
  const b = await pipeline.createTenantWithKey(["read"]);
  const big = await pipeline.createTenantWithKey(["read"]);
  tenantA = { id: a.tenant.id, key: a.key };
  tenantB = { id: b.tenant.id, key: b.key };
  bigTenant = { id: big.tenant.id, key: big.key };
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: 300 }, (_, index) => event(tenantA.id, index, NOW - 2 * DAY + index * MINUTE)),
  );
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: 30 }, (_, index) => event(tenantB.id, index, NOW - DAY + index * MINUTE)),
  );
  await seedBigTenant(bigTenant.id);
  const admin = await adminToken(api.url);
  tenantAdminToken = (await createUser(api.url, admin, tenantA.id, "tenant_admin")).token;
  auditorToken = (await createUser(api.url, admin, tenantA.id, "auditor")).token;
}, 180_000);
afterAll(async () => pipeline?.close());

describe("search over HTTP", () => {
  test("filters and q, paged with cursors; a cursor from tenant A is refused for tenant B", async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await requestJson(
        `${api.url}/api/v1/logs/?q=invoice.approve&severity=INFO&limit=7${cursor ? `&cursor=${cursor}` : ""}`,
        { key: tenantA.key },
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((row: any) => row.seq));
      cursor = page.body.next_cursor;
    } while (cursor);
    const expected = Array.from({ length: 300 }, (_, index) => index)
      .filter((index) => index % 10 === 0 && index % 7 !== 0)
      .map((index) => index + 1)
      .reverse();
    expect(seen).toEqual(expected);

    const first = await requestJson(`${api.url}/api/v1/logs?limit=5`, { key: tenantA.key });
    const foreign = await requestJson(`${api.url}/api/v1/logs?limit=5&cursor=${first.body.next_cursor}`, {
      key: tenantB.key,
    });
    expect(foreign.status).toBe(400);
    expect(foreign.headers.get("content-type")).toContain("application/problem+json");
    expect(foreign.body).toMatchObject({ code: "INVALID_CURSOR", errors: [{ path: "cursor" }] });
  });
});

describe("export", () => {
  test(`${EXPORT_ROWS} rows as CSV: each once, parsed back to the same values, formulas neutralised, memory bounded`, async () => {
    // Warm-up: the first busy seconds of any Node process grow V8's young generation (tens of MB,
    // once). Exporting the last 50,000 rows first moves that fixed cost out of the measurement, so
    // what is measured is the growth that would scale with the export's size.
    const warmUp = await fetch(
      `${api.url}/api/v1/logs/export?after_seq=${EXPORT_ROWS - 50_000}&${EXPORT_WINDOW}`,
      { headers: { "X-API-Key": bigTenant.key } },
    );
    await warmUp.arrayBuffer();
    const before = memoryOf(api.pid);
    const response = await fetch(`${api.url}/api/v1/logs/export?${EXPORT_WINDOW}`, {
      headers: { "X-API-Key": bigTenant.key },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toMatch(
      /^attachment; filename="vigil-events-\d{8}T\d{6}Z\.csv"$/,
    );

    let rows = 0;
    let bytes = 0;
    let header: string[] = [];
    const source = Readable.fromWeb(response.body as never);
    source.on("data", (chunk: Buffer) => (bytes += chunk.length));
    const parser = source.pipe(parse({ headers: (names) => ((header = names as string[]), names) }));
    for await (const row of parser as AsyncIterable<Record<string, string>>) {
      rows++;
      const g = rows; // exported in seq order
      expect(Number(row.seq)).toBe(g);
      const injected = INJECTIONS[g % 50000];
      const expected = {
        id: uuidFromMd5(`e${g}`),
        tenant_id: bigTenant.id,
        occurred_at: new Date(EXPORT_BASE + g * 100).toISOString(),
        action_type: "UPDATE",
        resource_id: `inv-${g % 1000}`,
        user_id: injected ? `'${injected}` : `user-${g % 100}`,
        session_id: `s-${g % 10}`,
        user_agent: 'agent, "quoted"',
        before_state: g % 2 === 0 ? JSON.stringify({ n: g, status: "draft" }) : "",
        after_state: JSON.stringify({ n: g, note: "line one\nline, two", status: "sent" }),
        metadata: JSON.stringify({ tags: ["a", "b"], index: g }),
        redacted: "[]",
        hash: createHash("md5").update(String(g)).digest("hex").repeat(2),
      };
      for (const [column, value] of Object.entries(expected)) {
        // JSON cells hold jsonb's text (`{"n": 1, ...}`): the same value, compared as parsed JSON.
        const same = JSON_COLUMNS.has(column)
          ? (row[column] === "" ? "" : JSON.stringify(JSON.parse(row[column]!))) === value
          : row[column] === value;
        if (!same) expect({ seq: g, column, value: row[column] }).toEqual({ seq: g, column, value });
      }
      if (g === 1) expect(row.metadata).toBe(`{"tags": ["a", "b"], "index": 1}`);
    }
    expect(header).toEqual([...EXPORT_COLUMNS]);
    expect(rows).toBe(EXPORT_ROWS);
    const after = memoryOf(api.pid);
    const growthMb = (after.hwmKb - before.hwmKb) / 1024;
    console.log(
      `export: ${(bytes / 1024 / 1024).toFixed(1)} MB CSV; api RSS before ${(before.rssKb / 1024).toFixed(0)} MB (peak so far ${(before.hwmKb / 1024).toFixed(0)} MB), peak after ${(after.hwmKb / 1024).toFixed(0)} MB (+${growthMb.toFixed(1)} MB)`,
    );
    expect(bytes).toBeGreaterThan(75 * 1024 * 1024);
    // Holding the export in memory would cost several times its ~80 MB; streaming costs a few batches.
    expect(growthMb).toBeLessThan(32);
  }, 150_000);

  test("NDJSON with filters equals search; the export is recorded in the tenant's log with its filter", async () => {
    const response = await fetch(
      `${api.url}/api/v1/logs/export?format=ndjson&user_id=user-1&action_type=UPDATE`,
      { headers: { "X-API-Key": tenantA.key } },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(response.headers.get("content-disposition")).toMatch(
      /filename="vigil-events-\d{8}T\d{6}Z\.ndjson"/,
    );
    const lines = (await response.text())
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    const searched = await requestJson(
      `${api.url}/api/v1/logs?user_id=user-1&action_type=UPDATE&sort=seq&limit=1000`,
      { key: tenantA.key },
    );
    expect(lines).toEqual(searched.body.data);
    expect(lines.length).toBeGreaterThan(10);
    // Each exported event re-hashes to its stored hash, with its salt (stored, never exported).
    const salts = new Map(
      (
        await pipeline.database.admin<{ id: string; salt: string | null }[]>`
          select id, salt from events where tenant_id = ${tenantA.id}`
      ).map((row) => [row.id, row.salt]),
    );
    for (const { hash, ...fields } of lines)
      expect(computeEventHash({ ...fields, salt: salts.get(fields.id) ?? null })).toBe(hash);

    const recorded = await eventually(async () =>
      (await auditEventsOf(tenantA, "vigil.events.export")).find((row) => row.metadata.format === "ndjson"),
    );
    expect(recorded).toMatchObject({
      action_type: "VIEW",
      resource_type: "vigil.audit_log",
      metadata: { filter: { user_id: "user-1", action_type: ["UPDATE"] } },
    });
    expect(recorded.user_id).toMatch(/^key:/);
  });

  test("a client that disconnects stops the query and frees its connection", async () => {
    const openExports = async () =>
      (
        await pipeline.database.admin<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and application_name = 'vigil-api' and state in ('active', 'idle in transaction')`
      )[0]!.n;
    const controller = new AbortController();
    const response = await fetch(
      `${api.url}/api/v1/logs/export?format=ndjson&from=${new Date(EXPORT_BASE).toISOString()}`,
      {
        headers: { "X-API-Key": bigTenant.key },
        signal: controller.signal,
      },
    );
    const reader = response.body!.getReader();
    await reader.read();
    // Not reading on: back-pressure parks the cursor inside its open transaction.
    await eventually(async () => (await openExports()) > 0, 10_000);
    controller.abort();
    await eventually(async () => (await openExports()) === 0, 15_000);
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});

describe("stats and history over HTTP", () => {
  test("stats for a window, shaped as the spec says", async () => {
    const from = new Date(NOW - 2 * DAY).toISOString();
    const to = new Date(NOW - 2 * DAY + 100 * MINUTE).toISOString();
    const stats = await requestJson(`${api.url}/api/v1/logs/stats/?from=${from}&to=${to}&bucket=hour`, {
      key: tenantA.key,
    });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      total: 100,
      by_action_type: { CREATE: 25, UPDATE: 25, DELETE: 25, VIEW: 25 },
      by_outcome: { success: 100, failure: 0 },
    });
    expect(stats.body.by_severity.ERROR).toBe(15);
    expect(stats.body.top_resource_types).toEqual([
      { resource_type: "invoice", count: 50 },
      { resource_type: "project", count: 50 },
    ]);
    expect(stats.body.top_users).toEqual([
      { user_id: "user-0", count: 34 },
      { user_id: "user-1", count: 33 },
      { user_id: "user-2", count: 33 },
    ]);
    expect(stats.body.timeseries.reduce((sum: number, point: any) => sum + point.count, 0)).toBe(100);
    expect(stats.body.timeseries.length).toBeGreaterThanOrEqual(2);
  });

  test("history of one resource in seq order with diffs", async () => {
    const history = await requestJson(`${api.url}/api/v1/resources/project/inv-0/history?limit=3`, {
      key: tenantA.key,
    });
    expect(history.status).toBe(200);
    expect(history.body.data.map((row: any) => row.seq)).toEqual([1, 11, 21]);
    expect(history.body.data[0].diff).toEqual({
      added: [],
      removed: [],
      changed: [{ path: "n", old: 0, new: 1 }],
    });
    expect(history.body.next_cursor).toEqual(expect.any(String));
    const next = await requestJson(
      `${api.url}/api/v1/resources/project/inv-0/history?limit=3&cursor=${history.body.next_cursor}`,
      { key: tenantA.key },
    );
    expect(next.body.data.map((row: any) => row.seq)).toEqual([31, 41, 51]);
  });
});

describe("cleanup and retention over HTTP", () => {
  test("tenant admins clean up (dry run first); read keys and auditors may not; the cleanup is in the log", async () => {
    const before = new Date(NOW - 2 * DAY + 50 * MINUTE).toISOString();
    for (const credential of [{ key: tenantA.key }, { token: auditorToken }]) {
      const refused = await requestJson(`${api.url}/api/v1/logs/cleanup?before=${before}`, {
        method: "DELETE",
        ...credential,
      });
      expect(refused.status).toBe(403);
    }
    const dry = await requestJson(`${api.url}/api/v1/logs/cleanup?before=${before}&dry_run=true`, {
      method: "DELETE",
      token: tenantAdminToken,
    });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ deleted: 50, dry_run: true, before });
    const done = await requestJson(`${api.url}/api/v1/logs/cleanup?before=${before}`, {
      method: "DELETE",
      token: tenantAdminToken,
    });
    expect(done.body).toEqual({ deleted: 50, dry_run: false, before });
    const oldest = await requestJson(
      `${api.url}/api/v1/logs?sort=seq&limit=1&from=${new Date(NOW - 3 * DAY).toISOString()}`,
      { key: tenantA.key },
    );
    expect(oldest.body.data[0].seq).toBe(51);
    const recorded = await eventually(async () => (await auditEventsOf(tenantA, "vigil.events.cleanup"))[0]);
    expect(recorded).toMatchObject({ action_type: "DELETE", metadata: { before, matching: 50 } });
    expect(recorded.user_id).toMatch(/^user:/);
  });

  test("the worker applies each tenant's retention on schedule and records it", async () => {
    const short = await pipeline.createTenantWithKey(["read"], { retention_days: 1 });
    await storeEvents(pipeline.database.db, [
      ...Array.from({ length: 20 }, (_, index) =>
        event(short.tenant.id, index, NOW - 3 * DAY + index * MINUTE),
      ),
      ...Array.from({ length: 5 }, (_, index) =>
        event(short.tenant.id, 100 + index, NOW - 60 * MINUTE + index * MINUTE),
      ),
    ]);
    const recorded = await eventually(
      async () => (await auditEventsOf({ key: short.key }, "vigil.events.retention"))[0],
      30_000,
    );
    expect(recorded).toMatchObject({
      user_id: "system:retention",
      metadata: { deleted: 20, retention_days: 1 },
    });
    const left = await requestJson(
      `${api.url}/api/v1/logs?sort=seq&limit=100&from=${new Date(NOW - 5 * DAY).toISOString()}`,
      { key: short.key },
    );
    expect(
      left.body.data.filter((row: any) => row.action !== "vigil.events.retention").map((row: any) => row.seq),
    ).toEqual([21, 22, 23, 24, 25]);
  });
});

describe("bad input is a 4xx naming the parameter, never a 500", () => {
  const cases: Array<[string, string, "key" | "admin"]> = [
    ["/api/v1/logs?sort=user_id", "sort", "key"],
    ["/api/v1/logs?cursor=bm90LWEtY3Vyc29y", "cursor", "key"],
    ["/api/v1/logs?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from", "key"],
    ["/api/v1/logs?limit=0", "limit", "key"],
    ["/api/v1/logs?limit=5000", "limit", "key"],
    ["/api/v1/logs?q=%22unbalanced", "q", "key"],
    ["/api/v1/logs?q=%26%20%7C%20!", "q", "key"],
    ["/api/v1/logs?from=2000-01-01T00:00:00Z", "from", "key"],
    ["/api/v1/logs/export?format=xml", "format", "key"],
    ["/api/v1/logs/export?after_seq=-1", "after_seq", "key"],
    ["/api/v1/logs/export?q=%22x", "q", "key"],
    ["/api/v1/logs/stats?bucket=week", "bucket", "key"],
    ["/api/v1/logs/stats?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from", "key"],
    ["/api/v1/logs/stats?bucket=hour&from=2000-01-01T00:00:00Z&to=2000-06-01T00:00:00Z", "bucket", "key"],
    ["/api/v1/resources/invoice/inv-1/history?limit=0", "limit", "key"],
    ["/api/v1/resources/invoice/inv-1/history?cursor=garbage", "cursor", "key"],
    ["/api/v1/logs/cleanup", "before", "admin"],
    ["/api/v1/logs/cleanup?before=soon", "before", "admin"],
    ["/api/v1/logs/cleanup?before=2020-01-01T00:00:00Z&dry_run=maybe", "dry_run", "admin"],
    [`/api/v1/logs/cleanup?before=${new Date(NOW + DAY).toISOString()}`, "before", "admin"],
  ];
  test.each(cases)("%s → 400 naming %s", async (path, parameter, who) => {
    const method = path.startsWith("/api/v1/logs/cleanup") ? "DELETE" : "GET";
    const response = await requestJson(`${api.url}${path}`, {
      method,
      ...(who === "key" ? { key: tenantA.key } : { token: tenantAdminToken }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body.errors.map((error: any) => error.path)).toContain(parameter);
  });
});
