// Search against the real PostgreSQL: every filter alone and combined, full text, keyset pagination
// over 10,000 events in every sort, the default and maximum time window, and cursor binding.

import { VigilError } from "@vigil/shared/errors/vigil-error";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import {
  postgresSearchBackend,
  resolveSearchQuery,
  searchEvents,
  searchEventsQuery,
} from "@vigil/shared/query/search-events";
import { parseQuery, type SearchParams, SORTS, searchParamsSchema } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { DEFAULT_WINDOW_DAYS, resolveTimeWindow } from "@vigil/shared/query/time-window";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sampleEvent, seedEvents } from "./seed-events.ts";

const TENANT_A = "0190a0a0-0000-7000-8000-00000000000a";
const TENANT_B = "0190a0a0-0000-7000-8000-00000000000b";
const COUNT = 10_000;
const NOW = Date.now();
const MINUTE = 60_000;

let pipeline: TestPipeline;
/** Tenant A's events as stored, with their seq, in seq order. */
let stored: Array<NormalizedEvent & { seq: number }>;
const oldEventId = "0190a0a0-0000-7000-8000-0000000000ff";

function params(input: Record<string, string | string[]>): SearchParams {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(input))
    for (const item of [value].flat()) query.append(key, item);
  return parseQuery(searchParamsSchema, query);
}

async function searchAll(
  scope: string,
  input: Record<string, string | string[]>,
): Promise<Array<{ id: string; seq: number }>> {
  const found: Array<{ id: string; seq: number }> = [];
  let cursor: string | null = null;
  do {
    const page = await searchEvents(
      pipeline.database.db,
      tenantScope(scope),
      params({ limit: "1000", ...input, ...(cursor ? { cursor } : {}) }),
    );
    found.push(...page.data.map((event) => ({ id: event.id, seq: event.seq })));
    cursor = page.next_cursor;
  } while (cursor);
  return found;
}

const idsWhere = (predicate: (event: NormalizedEvent & { seq: number }) => boolean) =>
  stored
    .filter(predicate)
    .map((event) => event.id)
    .sort();

beforeAll(async () => {
  pipeline = await createTestPipeline();
  for (const [id, name] of [
    [TENANT_A, "search-a"],
    [TENANT_B, "search-b"],
  ] as const) {
    await pipeline.database.admin`insert into tenants (id, name) values (${id}, ${name})`;
  }
  // Groups of three share an occurred_at, so keyset ties are broken by seq.
  const events = Array.from({ length: COUNT }, (_, index) => {
    const overrides: Partial<NormalizedEvent> = {};
    if (index % 500 === 7) overrides.action = "invoice.approve";
    if (index % 400 === 5) overrides.metadata = { note: "quarterly report", index };
    return sampleEvent(
      TENANT_A,
      index,
      new Date(NOW - 60 * MINUTE - Math.floor(index / 3) * 2 * MINUTE),
      overrides,
    );
  });
  await seedEvents(pipeline.database.db, events);
  stored = events.map((event, index) => ({ ...event, seq: index + 1 }));
  // Outside the default window.
  await seedEvents(pipeline.database.db, [
    sampleEvent(TENANT_A, COUNT, new Date(NOW - (DEFAULT_WINDOW_DAYS + 10) * 24 * 60 * MINUTE), {
      id: oldEventId,
    }),
  ]);
  await seedEvents(
    pipeline.database.db,
    Array.from({ length: 50 }, (_, index) => sampleEvent(TENANT_B, index, new Date(NOW - index * MINUTE))),
  );
}, 120_000);
afterAll(async () => pipeline?.close());

describe("filters", () => {
  const cases: Array<[string, Record<string, string | string[]>, (event: NormalizedEvent) => boolean]> = [
    ["user_id", { user_id: "user-3" }, (e) => e.user_id === "user-3"],
    ["session_id", { session_id: "sess-5" }, (e) => e.session_id === "sess-5"],
    ["action_type", { action_type: "DELETE" }, (e) => e.action_type === "DELETE"],
    [
      "action_type repeated",
      { action_type: ["DELETE", "VIEW"] },
      (e) => e.action_type === "DELETE" || e.action_type === "VIEW",
    ],
    ["action", { action: "invoice.approve" }, (e) => e.action === "invoice.approve"],
    ["resource_type", { resource_type: "project" }, (e) => e.resource_type === "project"],
    ["resource_id", { resource_id: "doc-3" }, (e) => e.resource_id === "doc-3"],
    ["severity", { severity: "CRITICAL" }, (e) => e.severity === "CRITICAL"],
    [
      "severity comma list",
      { severity: "ERROR,CRITICAL" },
      (e) => e.severity === "ERROR" || e.severity === "CRITICAL",
    ],
    ["outcome", { outcome: "failure" }, (e) => e.outcome === "failure"],
    [
      "from and to",
      {
        from: new Date(NOW - 3 * 24 * 60 * MINUTE).toISOString(),
        to: new Date(NOW - 2 * 24 * 60 * MINUTE).toISOString(),
      },
      (e) =>
        Date.parse(e.occurred_at) >= NOW - 3 * 24 * 60 * MINUTE &&
        Date.parse(e.occurred_at) < NOW - 2 * 24 * 60 * MINUTE,
    ],
    [
      "combined: user, outcome, resource type and to",
      {
        user_id: "user-0",
        outcome: "success",
        resource_type: "invoice",
        to: new Date(NOW - 24 * 60 * MINUTE).toISOString(),
      },
      (e) =>
        e.user_id === "user-0" &&
        e.outcome === "success" &&
        e.resource_type === "invoice" &&
        Date.parse(e.occurred_at) < NOW - 24 * 60 * MINUTE,
    ],
    [
      "q: an identifier with a dash (not its prefix: inv-2 is not inv-20)",
      { q: "inv-2" },
      (e) => e.resource_id === "inv-2",
    ],
    ["q: a dotted action", { q: "invoice.approve" }, (e) => e.action === "invoice.approve"],
    [
      "q: a word in metadata",
      { q: "quarterly" },
      (e) => (e.metadata as { note?: string }).note === "quarterly report",
    ],
    [
      "q: a value nested in after_state or the user",
      { q: "user-3" },
      (e) =>
        e.user_id === "user-3" || (e.after_state as { approver: { id: string } }).approver.id === "user-3",
    ],
    [
      "q: a phrase and a filter",
      { q: '"quarterly report"', severity: "INFO" },
      (e) => (e.metadata as { note?: string }).note === "quarterly report" && e.severity === "INFO",
    ],
    [
      "q: OR",
      { q: "quarterly OR invoice.approve" },
      (e) => (e.metadata as { note?: string }).note === "quarterly report" || e.action === "invoice.approve",
    ],
    ["q: no match", { q: "nonexistentword" }, () => false],
  ];
  test.each(cases)("%s", async (_name, input, predicate) => {
    const expected = idsWhere(predicate);
    const found = await searchAll(TENANT_A, input);
    expect(found.map((event) => event.id).sort()).toEqual(expected);
    if (input.q !== "nonexistentword") expect(expected.length).toBeGreaterThan(0);
  });

  test("the SQL is tenant-first, parameterized, and uses the full-text index", () => {
    const query = searchEventsQuery(tenantScope(TENANT_A), {
      filter: {
        from: "2026-01-01T00:00:00.000Z",
        user_id: "u-1",
        severity: ["ERROR", "CRITICAL"],
        q: "inv-1",
      },
      sort: "-occurred_at",
      limit: 50,
      after: { key: "2026-01-05T00:00:00.000Z", seq: 42 },
    }).compile();
    expect(query.sql).toBe(
      'select "id", "tenant_id", "seq", "occurred_at", "received_at", "action_type", "action", "resource_type", "resource_id", "user_id", "session_id", "ip_address", "user_agent", "severity", "outcome", "before_state", "after_state", "metadata", "redacted", "hash" from "events" where "tenant_id" = $1 and "user_id" = $2 and "severity" in ($3, $4) and "occurred_at" >= $5 and search_vector @@ websearch_to_tsquery(\'simple\', $6) and ("occurred_at", "seq") < ($7, $8) order by "occurred_at" desc, "seq" desc limit $9',
    );
    expect(query.parameters).toEqual([
      TENANT_A,
      "u-1",
      "ERROR",
      "CRITICAL",
      new Date("2026-01-01T00:00:00.000Z"),
      "inv-1",
      new Date("2026-01-05T00:00:00.000Z"),
      42,
      51,
    ]);
  });
});

describe("pagination", () => {
  test.each(SORTS)("sort %s returns every event of the window exactly once, in order", async (sort) => {
    const found = await searchAll(TENANT_A, { sort });
    expect(found).toHaveLength(COUNT);
    expect(new Set(found.map((event) => event.id)).size).toBe(COUNT);
    const column = sort.replace("-", "") as "occurred_at" | "seq" | "received_at";
    const direction = sort.startsWith("-") ? -1 : 1;
    const expected = [...stored].sort((a, b) => {
      const byKey = column === "seq" ? 0 : Date.parse(a[column]) - Date.parse(b[column]);
      return direction * (byKey || a.seq - b.seq);
    });
    expect(found.map((event) => event.seq)).toEqual(expected.map((event) => event.seq));
  });

  test("a cursor is bound to its tenant and to its filters", async () => {
    const first = await searchEvents(pipeline.database.db, tenantScope(TENANT_A), params({ limit: "10" }));
    expect(first.next_cursor).toBeTruthy();
    const replay = (scope: string, input: Record<string, string>) =>
      searchEvents(
        pipeline.database.db,
        tenantScope(scope),
        params({ limit: "10", cursor: first.next_cursor!, ...input }),
      );
    await expect(replay(TENANT_B, {})).rejects.toMatchObject({
      code: "INVALID_CURSOR",
      errors: [{ path: "cursor" }],
    });
    await expect(replay(TENANT_A, { severity: "ERROR" })).rejects.toMatchObject({ code: "INVALID_CURSOR" });
    await expect(replay(TENANT_A, { sort: "seq" })).rejects.toMatchObject({ code: "INVALID_CURSOR" });
    // A different page size is the same query.
    const next = await replay(TENANT_A, { limit: "5" });
    expect(next.data[0]!.seq).toBeLessThan(first.data.at(-1)!.seq);
    await expect(replay(TENANT_A, { cursor: "not-a-cursor" })).rejects.toBeInstanceOf(VigilError);
  });
});

describe("time window", () => {
  test("without `from`, only the last 30 days are searched; naming `from` reaches older events", async () => {
    const recent = await searchEvents(
      pipeline.database.db,
      tenantScope(TENANT_A),
      params({ sort: "occurred_at", limit: "1" }),
    );
    expect(recent.data[0]!.id).not.toBe(oldEventId);
    const older = await searchEvents(
      pipeline.database.db,
      tenantScope(TENANT_A),
      params({ sort: "occurred_at", limit: "1", from: new Date(NOW - 60 * 24 * 60 * MINUTE).toISOString() }),
    );
    expect(older.data[0]!.id).toBe(oldEventId);
  });

  test("the cursor pins the window the first page resolved", () => {
    const scope = tenantScope(TENANT_A);
    const first = resolveSearchQuery(scope, params({}), null, new Date("2026-03-01T00:00:00Z"));
    expect(first.filter.from).toBe("2026-01-30T00:00:00.000Z");
    expect(first.filter.to).toBeUndefined();
  });

  test("a window longer than 366 days is refused, naming `from`", () => {
    expect(() =>
      resolveTimeWindow({ from: "2020-01-01T00:00:00Z", to: "2021-06-01T00:00:00Z" }),
    ).toThrowError(
      expect.objectContaining({
        code: "INVALID_PARAMETER",
        errors: [expect.objectContaining({ path: "from" })],
      }),
    );
    expect(resolveTimeWindow({ from: "2020-01-01T00:00:00Z", to: "2020-12-31T00:00:00Z" })).toEqual({
      from: "2020-01-01T00:00:00.000Z",
      to: "2020-12-31T00:00:00.000Z",
    });
  });

  test("the backend never sees another tenant's rows", async () => {
    const { events: rows } = await postgresSearchBackend(pipeline.database.db).findEvents(
      tenantScope(TENANT_B),
      resolveSearchQuery(tenantScope(TENANT_B), params({ limit: "1000", q: "user-3" }), null),
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((event) => event.tenant_id === TENANT_B)).toBe(true);
  });
});

describe("bad input is a 400 naming the parameter", () => {
  test.each([
    [{ sort: "user_id" }, "sort"],
    [{ limit: "0" }, "limit"],
    [{ limit: "5000" }, "limit"],
    [{ limit: "ten" }, "limit"],
    [{ from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z" }, "from"],
    [{ from: "yesterday" }, "from"],
    [{ q: '"unbalanced' }, "q"],
    [{ q: "& | !" }, "q"],
    [{ severity: "LOUD" }, "severity.0"],
    [{ colour: "red" }, "colour"],
  ] as Array<[Record<string, string>, string]>)("%j", (input, path) => {
    expect(() => params(input)).toThrowError(
      expect.objectContaining({
        status: 400,
        errors: expect.arrayContaining([expect.objectContaining({ path })]),
      }),
    );
  });

  test("operators inside a query are read as websearch syntax, not an error", async () => {
    const page = await searchEvents(
      pipeline.database.db,
      tenantScope(TENANT_A),
      params({ q: "quarterly & | !report -invoice:*", limit: "5" }),
    );
    expect(Array.isArray(page.data)).toBe(true);
  });
});
