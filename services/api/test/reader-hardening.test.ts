// Issue 10, the readers' side, over HTTP against the real api: hostile query and path parameters
// are 4xx naming the parameter (never a 500, the process stays up); cursors are signed; exports
// are capped per tenant and per process and ended when their client stops reading; cleanup is
// audited before it deletes (queue down → 503, nothing deleted); SEARCH_BACKEND=opensearch answers
// GET /api/v1/logs and cleanup/retention remove events from the index (recording fake cluster).
import { createHash, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import {
  createTestPipeline,
  eventually,
  queuedEvent,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { FakeOpenSearch } from "@vigil/testkit/fake-opensearch";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, createUser } from "./auth-fixtures.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const NOW = Date.now();
const STALL_MS = 1500;

let pipeline: TestPipeline;
let api: RunningService;
let admin: string;
const tenants: Array<{ id: string; key: string }> = [];
let tenantAdmin: string;

function event(tenantId: string, index: number, at: number, overrides: Partial<NormalizedEvent> = {}) {
  return queuedEvent(tenantId, {
    occurred_at: new Date(at).toISOString(),
    received_at: new Date(at).toISOString(),
    resource_type: "invoice",
    resource_id: `inv-${index % 3}`,
    user_id: `user-${index % 2}`,
    metadata: { index },
    payload_hash: createHash("sha256").update(`${tenantId}/${index}`).digest("hex"),
    ...overrides,
  });
}

/** ~20 MB of rows for one tenant (2 KiB of metadata each): more than sockets buffer, so an unread export stalls. */
async function seedBulky(tenantId: string, rows: number) {
  await pipeline.database.admin`
    insert into events (tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type, resource_id,
      severity, outcome, metadata, redacted, hash, chain_hash)
    select ${tenantId}::uuid, g, md5(${tenantId} || g)::uuid, ${new Date(NOW - DAY)}::timestamptz + g * interval '1 ms',
      ${new Date(NOW - DAY)}::timestamptz, 'VIEW', 'doc.view', 'doc', 'd-' || g, 'INFO', 'success',
      jsonb_build_object('pad', repeat(md5(g::text), 64)), '{}', md5(g::text) || md5(g::text), md5(g::text) || md5(g::text)
    from generate_series(1, ${rows}) as g`;
  await pipeline.database.admin`update tenant_sequences set last_seq = ${rows} where tenant_id = ${tenantId}`;
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api", {
    EXPORT_MAX_CONCURRENT: "4",
    EXPORT_MAX_CONCURRENT_PER_TENANT: "2",
    EXPORT_STALL_TIMEOUT_MS: String(STALL_MS),
  });
  for (let index = 0; index < 7; index++) {
    const created = await pipeline.createTenantWithKey(["read"]);
    tenants.push({ id: created.tenant.id, key: created.key });
  }
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: 12 }, (_, index) => event(tenants[6]!.id, index, NOW - 2 * DAY + index * MINUTE)),
  );
  await Promise.all([0, 1, 2].map((index) => seedBulky(tenants[index]!.id, 10_000)));
  admin = await adminToken(api.url);
  tenantAdmin = (await createUser(api.url, admin, tenants[6]!.id, "tenant_admin")).token;
}, 120_000);
afterAll(async () => pipeline?.close());

async function expectHealthy() {
  expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
}

describe("hostile parameters are a 4xx naming the parameter, and the api stays up", () => {
  const longId = "x".repeat(300);
  const cases: Array<[string, string, "key" | "admin" | "tenant_admin"]> = [
    ["/api/v1/logs?user_id=a%00b", "user_id", "key"],
    ["/api/v1/logs?resource_id=%00", "resource_id", "key"],
    ["/api/v1/logs?action=x%00", "action", "key"],
    ["/api/v1/logs?session_id=%00s", "session_id", "key"],
    ["/api/v1/logs?q=a%00b", "q", "key"],
    ["/api/v1/logs/export?user_id=a%00b", "user_id", "key"],
    ["/api/v1/logs/export?resource_id=%00", "resource_id", "key"],
    ["/api/v1/resources/invoice/a%00b/history", "resource_id", "key"],
    ["/api/v1/resources/inv%00oice/a/history", "resource_type", "key"],
    [`/api/v1/resources/invoice/${longId}/history`, "resource_id", "key"],
    ["/api/v1/logs?from=0000-01-01T00:00:00Z&to=0000-02-01T00:00:00Z", "from", "key"],
    ["/api/v1/logs/stats?from=0001-01-01T00:00:00%2B01:00&to=0001-01-02T00:00:00Z", "from", "key"],
    ["/api/v1/logs?q=-word", "q", "key"],
    ["/api/v1/logs?q=invoice%20or%20-draft", "q", "key"],
    ["/api/v1/logs/export?q=-word", "q", "key"],
    ["/api/v1/logs?tenant_id=not-a-uuid", "tenant_id", "admin"],
    ["/api/v1/logs?tenant_id=%00", "tenant_id", "admin"],
    ["/api/v1/logs/export?tenant_id=not-a-uuid", "tenant_id", "admin"],
    ["/api/v1/logs/stats?tenant_id=not-a-uuid", "tenant_id", "admin"],
    ["/api/v1/resources/invoice/inv-1/history?tenant_id=not-a-uuid", "tenant_id", "admin"],
    [`/api/v1/logs/${randomUUID()}?tenant_id=not-a-uuid`, "tenant_id", "admin"],
    ["/api/v1/logs/cleanup?before=2020-01-01T00:00:00Z&tenant_id=zzz", "tenant_id", "admin"],
    ["/api/v1/logs/cleanup?before=0000-06-01T00:00:00Z", "before", "tenant_admin"],
  ];
  test.each(cases)("%s → 400 naming %s", async (path, parameter, who) => {
    const response = await requestJson(`${api.url}${path}`, {
      method: path.startsWith("/api/v1/logs/cleanup") ? "DELETE" : "GET",
      ...(who === "key" ? { key: tenants[6]!.key } : { token: who === "admin" ? admin : tenantAdmin }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.body.errors.map((error: { path: string }) => error.path)).toContain(parameter);
  });

  test("forged cursors are a 400 naming `cursor`: out-of-range keys, an edited window start, another tenant's", async () => {
    const tenant = tenants[6]!;
    const forge = (body: unknown) => Buffer.from(JSON.stringify(body)).toString("base64url");
    const page = await requestJson(`${api.url}/api/v1/logs?limit=2&sort=-occurred_at`, { key: tenant.key });
    expect(page.status).toBe(200);
    const cursor: string = page.body.next_cursor;
    const [body, mac] = cursor.split(".");
    const decoded = JSON.parse(Buffer.from(body!, "base64url").toString());
    const forged = [
      // The old unsigned format, with a key outside PostgreSQL's date range (a 500 before).
      forge({ v: 1, t: tenant.id, f: decoded.f, key: "-271821-04-20T00:00:00.000Z", seq: 1 }),
      forge({ ...decoded, key: "+275760-09-13T00:00:00.000Z" }),
      `${forge({ ...decoded, key: "-271821-04-20T00:00:00.000Z" })}.${mac}`,
      // The window start pushed back ten years: would scan past the 366-day cap.
      `${forge({ ...decoded, w: new Date(NOW - 3650 * DAY).toISOString() })}.${mac}`,
      `${body}.${"A".repeat(43)}`,
    ];
    for (const forgedCursor of forged) {
      const response = await requestJson(
        `${api.url}/api/v1/logs?limit=2&sort=-occurred_at&cursor=${forgedCursor}`,
        {
          key: tenant.key,
        },
      );
      expect(response.status, forgedCursor).toBe(400);
      expect(response.body.errors[0].path).toBe("cursor");
    }
    // The genuine cursor still works, and another tenant cannot use it.
    const next = await requestJson(`${api.url}/api/v1/logs?limit=2&sort=-occurred_at&cursor=${cursor}`, {
      key: tenant.key,
    });
    expect(next.status).toBe(200);
    const foreign = await requestJson(`${api.url}/api/v1/logs?limit=2&sort=-occurred_at&cursor=${cursor}`, {
      key: tenants[5]!.key,
    });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].path).toBe("cursor");
    await expectHealthy();
  });

  test("a history cursor is signed and bound to its resource", async () => {
    const tenant = tenants[6]!;
    const first = await requestJson(`${api.url}/api/v1/resources/invoice/inv-0/history?limit=1`, {
      key: tenant.key,
    });
    expect(first.status).toBe(200);
    const cursor: string = first.body.next_cursor;
    expect(cursor).toMatch(/\./);
    const second = await requestJson(
      `${api.url}/api/v1/resources/invoice/inv-0/history?limit=1&cursor=${cursor}`,
      {
        key: tenant.key,
      },
    );
    expect(second.body.data[0].seq).toBeGreaterThan(first.body.data[0].seq);
    const other = await requestJson(
      `${api.url}/api/v1/resources/invoice/inv-1/history?limit=1&cursor=${cursor}`,
      {
        key: tenant.key,
      },
    );
    expect(other.status).toBe(400);
    expect(other.body.errors[0].path).toBe("cursor");
  });

  test("stats return at most 10 resource types however many exist", async () => {
    const tenant = tenants[5]!;
    await storeEvents(
      pipeline.database.db,
      Array.from({ length: 40 }, (_, index) =>
        event(tenant.id, index, NOW - DAY + index * MINUTE, { resource_type: `type-${index}` }),
      ),
    );
    const stats = await requestJson(`${api.url}/api/v1/logs/stats`, { key: tenant.key });
    expect(stats.status).toBe(200);
    expect(stats.body.total).toBe(40);
    expect(stats.body.top_resource_types).toHaveLength(10);
  });
});

/** Opens an export and reads nothing: resolves with the status once the headers arrive. */
function openStalledExport(
  key: string,
): Promise<{ status: number; retryAfter?: string; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${api.url}/api/v1/logs/export?format=ndjson`, {
      headers: { "X-API-Key": key },
    });
    request.on("response", (response) => {
      response.pause();
      resolve({
        status: response.statusCode ?? 0,
        retryAfter: response.headers["retry-after"] as string | undefined,
        destroy: () => request.destroy(),
      });
    });
    request.on("error", reject);
    request.end();
  });
}

/** Exports holding a connection: their COPY (marked vigil_export) running, or its transaction open. */
async function idleExportTransactions(): Promise<number> {
  const [row] = await pipeline.database.admin<{ count: number }[]>`
    select count(*)::int as count from pg_stat_activity
    where datname = current_database() and application_name = 'vigil-api' and query ilike '%vigil_export%'
      and state in ('active', 'idle in transaction')`;
  return row!.count;
}

describe("exports are bounded", () => {
  test("12 exports that stop reading: per-tenant and per-process caps answer 429, another tenant's search answers in < 1 s, and the stalled ones are ended", async () => {
    // Tenants 0, 1 and 2 hold ~20 MB each (more than sockets buffer); four unread exports each.
    const opened: Array<{ status: number; retryAfter?: string; body?: string; destroy: () => void }> = [];
    for (const tenant of tenants.slice(0, 3)) {
      for (let copy = 0; copy < 4; copy++) opened.push(await openStalledExport(tenant.key));
    }
    expect(opened.map((response) => response.status)).toEqual([
      200,
      200,
      429,
      429, // tenant 0: its own cap (2)
      200,
      200,
      429,
      429, // tenant 1: its own cap
      429,
      429,
      429,
      429, // tenant 2: the process cap (4) is reached
    ]);
    const refused = opened.filter((response) => response.status === 429);
    expect(refused.every((response) => Number(response.retryAfter) > 0)).toBe(true);

    const started = performance.now();
    const search = await requestJson(`${api.url}/api/v1/logs?limit=100`, { key: tenants[6]!.key });
    const elapsed = performance.now() - started;
    expect(search.status).toBe(200);
    expect(elapsed).toBeLessThan(1000);

    // The two bulky tenants' exports really hold a transaction while stalled...
    expect(await idleExportTransactions()).toBeGreaterThan(0);
    // ...until the stall deadline ends them: cursor closed, connection released, slots free.
    await eventually(async () => (await idleExportTransactions()) === 0, 15_000);
    const again = await eventually(async () => {
      const response = await openStalledExport(tenants[0]!.key);
      if (response.status !== 200) response.destroy();
      return response.status === 200 ? response : null;
    }, 15_000);
    again.destroy();
    for (const response of opened) response.destroy();
    await expectHealthy();
  });
});

describe("cleanup is audited before it deletes", () => {
  test("with the queue unreachable, cleanup answers 503 and deletes nothing", async () => {
    const tenant = tenants[6]!;
    const countRows = async () =>
      (
        await pipeline.database.admin<
          { n: number }[]
        >`select count(*)::int as n from events where tenant_id = ${tenant.id}`
      )[0]!.n;
    const before = await countRows();
    expect(before).toBeGreaterThan(0);
    const queueDown = await pipeline.start("api", {
      SQS_ENDPOINT: "http://127.0.0.1:9",
      SQS_QUEUE_URL: "http://127.0.0.1:9/000000000000/gone",
    });
    try {
      const response = await requestJson(
        `${queueDown.url}/api/v1/logs/cleanup?before=${new Date(NOW - DAY).toISOString()}`,
        { method: "DELETE", token: tenantAdmin },
      );
      expect(response.status, JSON.stringify(response.body)).toBe(503);
      expect(response.body.code).toBe("QUEUE_UNAVAILABLE");
      expect(await countRows()).toBe(before);
      expect((await fetch(`${queueDown.url}/healthz`)).status).toBe(200);
    } finally {
      await queueDown.kill();
    }
  });
});

describe("SEARCH_BACKEND=opensearch", () => {
  let fake: FakeOpenSearch;
  let searchApi: RunningService;
  beforeAll(async () => {
    fake = await new FakeOpenSearch().start();
    searchApi = await pipeline.start("api", {
      OPENSEARCH_URL: fake.url,
      OPENSEARCH_INDEX_PREFIX: "vigil-test",
      SEARCH_BACKEND: "opensearch",
    });
  }, 60_000);
  afterAll(async () => {
    await searchApi?.kill();
    await fake?.stop();
  });

  test("GET /api/v1/logs is answered by the index, tenant filter first", async () => {
    const tenant = tenants[4]!;
    const hit = { ...event(tenant.id, 1, NOW - MINUTE), seq: 7, hash: "a".repeat(64) };
    const { payload_hash: _payload, ...source } = hit;
    fake.clear();
    fake.responders.push((request) =>
      request.path.includes("/_search")
        ? {
            status: 200,
            body: { took: 1, timed_out: false, hits: { hits: [{ _id: "x", _source: source }] } },
          }
        : undefined,
    );
    const response = await requestJson(`${searchApi.url}/api/v1/logs?q=invoice&limit=5`, { key: tenant.key });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data.map((row: { seq: number }) => row.seq)).toEqual([7]);
    const searches = fake.requests.filter((request) => request.path.includes("/_search"));
    expect(searches).toHaveLength(1);
    expect(searches[0]!.path).toContain(`routing=${tenant.id}`);
    expect(JSON.parse(searches[0]!.body).query.bool.filter[0]).toEqual({ term: { tenant_id: tenant.id } });
  });

  test("cleanup removes the deleted events from the index too", async () => {
    const tenant = tenants[6]!;
    fake.clear();
    fake.responders.push((request) =>
      request.path.includes("/_delete_by_query")
        ? { status: 200, body: { took: 1, deleted: 3, failures: [] } }
        : undefined,
    );
    const before = new Date(NOW - 2 * DAY + 3 * MINUTE).toISOString();
    const response = await requestJson(`${searchApi.url}/api/v1/logs/cleanup?before=${before}`, {
      method: "DELETE",
      token: tenantAdmin,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.deleted).toBe(3);
    const deletes = fake.requests.filter((request) => request.path.includes("/_delete_by_query"));
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.path).toMatch(
      new RegExp(`^/vigil-test-\\*/_delete_by_query\\?.*routing=${tenant.id}`),
    );
    expect(JSON.parse(deletes[0]!.body).query.bool.filter).toEqual([
      { term: { tenant_id: tenant.id } },
      { range: { occurred_at: { lt: before } } },
    ]);
  });

  test("an index that cannot be updated makes cleanup a 503 after the rows went; the retry cleans the index", async () => {
    const tenant = tenants[6]!;
    const before = new Date(NOW - 2 * DAY + 5 * MINUTE).toISOString();
    fake.clear();
    fake.responders.push((request) =>
      request.path.includes("/_delete_by_query")
        ? { status: 500, body: { error: { type: "internal" }, status: 500 } }
        : undefined,
    );
    const failed = await requestJson(`${searchApi.url}/api/v1/logs/cleanup?before=${before}`, {
      method: "DELETE",
      token: tenantAdmin,
    });
    expect(failed.status, JSON.stringify(failed.body)).toBe(503);
    expect(failed.body.code).toBe("SEARCH_UNAVAILABLE");
    expect(failed.headers.get("retry-after")).toBe("5");
    const [left] = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from events where tenant_id = ${tenant.id} and occurred_at < ${new Date(before)}`;
    expect(left!.n).toBe(0);
    fake.clear();
    fake.responders.push((request) =>
      request.path.includes("/_delete_by_query")
        ? { status: 200, body: { took: 1, deleted: 2, failures: [] } }
        : undefined,
    );
    const retried = await requestJson(`${searchApi.url}/api/v1/logs/cleanup?before=${before}`, {
      method: "DELETE",
      token: tenantAdmin,
    });
    expect(retried.status).toBe(200);
    expect(retried.body.deleted).toBe(0);
    expect(fake.requests.filter((request) => request.path.includes("/_delete_by_query"))).toHaveLength(1);
  });

  test("retention removes expired events from the index too", async () => {
    const short = await pipeline.createTenantWithKey(["read"], { retention_days: 1 });
    await storeEvents(pipeline.database.db, [event(short.tenant.id, 1, NOW - 3 * DAY)]);
    fake.clear();
    fake.responders.push((request) =>
      request.path.includes("/_delete_by_query")
        ? { status: 200, body: { took: 1, deleted: 1, failures: [] } }
        : undefined,
    );
    const worker = await pipeline.start("worker", {
      OPENSEARCH_URL: fake.url,
      OPENSEARCH_INDEX_PREFIX: "vigil-test",
      RETENTION_SWEEP_INTERVAL_SECONDS: "1",
    });
    try {
      const request = await eventually(
        async () =>
          fake.requests.find(
            (recorded) =>
              recorded.path.includes("/_delete_by_query") && recorded.path.includes(short.tenant.id),
          ),
        20_000,
      );
      expect(JSON.parse(request.body).query.bool.filter[0]).toEqual({ term: { tenant_id: short.tenant.id } });
    } finally {
      await worker.kill();
    }
  });
});
