// The exact requests the OpenSearch code sends, recorded by a local fake cluster (no OpenSearch can
// run here): index template and index creation, bulk NDJSON bodies, per-item bulk errors, and the
// search DSL for every filter, sort and cursor, with the tenant filter always present.

import { randomBytes } from "node:crypto";
import { Database } from "@vigil/shared/db/database";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import type { StoredEvent } from "@vigil/shared/events/event-schema";
import { decodeCursor } from "@vigil/shared/query/cursor";
import type { EventSearchQuery } from "@vigil/shared/query/event-search-backend";
import { searchEvents } from "@vigil/shared/query/search-events";
import { searchParamsSchema } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import {
  ensureEventIndex,
  eventIndexTemplate,
  searchText,
} from "@vigil/shared/search/opensearch/event-index";
import {
  buildSearchRequest,
  OpenSearchEventSearch,
  toSimpleQueryString,
} from "@vigil/shared/search/opensearch/event-search";
import { indexStoredEvents } from "@vigil/shared/search/opensearch/index-events";
import { createOpenSearchClient } from "@vigil/shared/search/opensearch/opensearch-client";
import { bulkLines, bulkResponse, FakeOpenSearch } from "@vigil/testkit/fake-opensearch";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";

const PREFIX = "vigil-test";
const TENANT_A = "0196a4b2-0000-7000-8000-00000000000a";
const TENANT_B = "0196a4b2-0000-7000-8000-00000000000b";
const scopeA = tenantScope(TENANT_A);

let fake: FakeOpenSearch;
let target: { client: ReturnType<typeof createOpenSearchClient>; indexPrefix: string };

beforeAll(async () => {
  fake = await new FakeOpenSearch().start();
  target = { client: createOpenSearchClient(fake.url), indexPrefix: PREFIX };
});
afterAll(async () => {
  await target.client.close();
  await fake.stop();
});
beforeEach(() => fake.clear());

function storedEvent(seq: number, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: `0196a4b2-0000-7000-8000-${String(seq).padStart(12, "0")}`,
    tenant_id: TENANT_A,
    seq,
    occurred_at: "2026-03-14T10:00:00.000Z",
    received_at: "2026-03-14T10:00:01.000Z",
    action_type: "UPDATE",
    action: "invoice.approve",
    resource_type: "invoice",
    resource_id: `inv-${seq}`,
    user_id: "alice",
    session_id: null,
    ip_address: "10.0.0.1",
    user_agent: null,
    severity: "INFO",
    outcome: "success",
    before_state: { status: "draft" },
    after_state: { status: "approved", total: 42 },
    metadata: { reason: "quarterly close", nested: { flag: true } },
    redacted: [],
    hash: "a".repeat(64),
    ...overrides,
  };
}

describe("index template and index", () => {
  test("ensureEventIndex puts the template, then creates the current month's index", async () => {
    await ensureEventIndex(target, new Date("2026-03-14T12:00:00Z"));
    expect(fake.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /_index_template/vigil-test",
      "PUT /vigil-test-2026.03",
    ]);
    const template = JSON.parse(fake.requests[0]!.body);
    expect(template).toEqual(eventIndexTemplate(PREFIX));
    expect(template.index_patterns).toEqual(["vigil-test-*"]);
    const mappings = template.template.mappings;
    expect(mappings.dynamic).toBe("strict");
    expect(mappings._routing).toEqual({ required: true });
    expect(mappings.properties.tenant_id).toEqual({ type: "keyword" });
    expect(mappings.properties.occurred_at).toEqual({ type: "date" });
    expect(mappings.properties.seq).toEqual({ type: "long" });
    expect(mappings.properties.action).toEqual({ type: "keyword", fields: { text: { type: "text" } } });
    expect(mappings.properties.metadata).toEqual({ type: "object", enabled: false });
    expect(mappings.properties.search_text).toEqual({ type: "text" });
  });

  test("an index that already exists is fine (idempotent start), any other error is not", async () => {
    fake.responders.push((request) =>
      request.method === "PUT"
        ? {
            status: 400,
            body: { error: { type: "resource_already_exists_exception", reason: "exists" }, status: 400 },
          }
        : undefined,
    );
    await expect(ensureEventIndex(target, new Date("2026-03-14T12:00:00Z"))).resolves.toBeUndefined();
    fake.clear();
    fake.responders.push((request) =>
      request.method === "PUT"
        ? { status: 403, body: { error: { type: "security_exception", reason: "no" }, status: 403 } }
        : undefined,
    );
    await expect(ensureEventIndex(target)).rejects.toThrow(/security_exception/);
  });
});

describe("bulk indexing", () => {
  test("one `index` action per event: monthly index of occurred_at, _id tenant:id, routing tenant, then the document", async () => {
    const march = storedEvent(1);
    const april = storedEvent(2, {
      occurred_at: "2026-04-01T00:00:00.000Z",
      metadata: null,
      before_state: null,
      after_state: null,
      user_id: null,
    });
    const outcome = await indexStoredEvents(target, [march, april]);
    expect(outcome).toEqual({ indexed: 2, failed: [], retries: 0 });
    const [bulk] = fake.bulkRequests();
    expect(fake.requests).toHaveLength(1);
    expect(bulk!.path).toBe("/_bulk");
    expect(bulk!.contentType).toBe("application/x-ndjson");
    expect(bulk!.body.endsWith("\n")).toBe(true);
    expect(bulkLines(bulk!)).toEqual([
      { index: { _index: "vigil-test-2026.03", _id: `${TENANT_A}:${march.id}`, routing: TENANT_A } },
      {
        ...march,
        search_text: "invoice.approve\ninvoice\ninv-1\nalice\nquarterly close\ntrue\ndraft\napproved\n42",
      },
      { index: { _index: "vigil-test-2026.04", _id: `${TENANT_A}:${april.id}`, routing: TENANT_A } },
      { ...april, search_text: "invoice.approve\ninvoice\ninv-2" },
    ]);
  });

  test("only the event's own fields reach the index", async () => {
    const withExtra = { ...storedEvent(1), chain_hash: "secret-internal" } as StoredEvent;
    await indexStoredEvents(target, [withExtra]);
    const document = bulkLines(fake.bulkRequests()[0]!)[1]!;
    expect(document).not.toHaveProperty("chain_hash");
    expect(Object.keys(document).sort()).toEqual([...Object.keys(storedEvent(1)), "search_text"].sort());
  });

  test("HTTP 200 with errors:true: 429/503 items are retried alone, a rejected item is reported, the rest count as indexed", async () => {
    let attempt = 0;
    fake.responders.push((request) => {
      if (!request.path.startsWith("/_bulk")) return undefined;
      attempt++;
      // First attempt: ok, throttled, rejected, unavailable. Second: everything sent succeeds.
      return bulkResponse(request, (_action, index) => (attempt === 1 ? [201, 429, 400, 503][index]! : 200));
    });
    const events = [1, 2, 3, 4].map((seq) => storedEvent(seq));
    const outcome = await indexStoredEvents(target, events, { baseDelayMs: 1 });
    expect(outcome.indexed).toBe(3);
    expect(outcome.retries).toBe(1);
    expect(outcome.failed).toEqual([
      {
        tenant_id: TENANT_A,
        id: events[2]!.id,
        seq: 3,
        status: 400,
        reason: "mapper_parsing_exception: failed to parse field [metadata]",
      },
    ]);
    const bulks = fake.bulkRequests();
    expect(bulks).toHaveLength(2);
    // The retry carries exactly the two retryable items, action line and document each.
    expect(bulkLines(bulks[1]!).map((line) => line.index?._id ?? line.seq)).toEqual([
      `${TENANT_A}:${events[1]!.id}`,
      2,
      `${TENANT_A}:${events[3]!.id}`,
      4,
    ]);
  });

  test("a retryable item that keeps failing is given up after maxAttempts and reported", async () => {
    fake.responders.push((request) =>
      request.path.startsWith("/_bulk") ? bulkResponse(request, () => 429) : undefined,
    );
    const outcome = await indexStoredEvents(target, [storedEvent(1)], { baseDelayMs: 1, maxAttempts: 3 });
    expect(fake.bulkRequests()).toHaveLength(3);
    expect(outcome.indexed).toBe(0);
    expect(outcome.retries).toBe(2);
    expect(outcome.failed[0]).toMatchObject({ seq: 1, status: 429 });
    expect(outcome.failed[0]!.reason).toMatch(/es_rejected_execution_exception.*gave up after 3 attempts/);
  });

  test("a whole bulk request answered 503 is retried; a 400 for the whole request is not", async () => {
    let calls = 0;
    fake.responders.push((request) => {
      if (!request.path.startsWith("/_bulk")) return undefined;
      calls++;
      return calls === 1
        ? {
            status: 503,
            body: { error: { type: "cluster_block_exception", reason: "blocked" }, status: 503 },
          }
        : undefined;
    });
    expect(await indexStoredEvents(target, [storedEvent(1), storedEvent(2)], { baseDelayMs: 1 })).toEqual({
      indexed: 2,
      failed: [],
      retries: 1,
    });

    fake.clear();
    fake.responders.push((request) =>
      request.path.startsWith("/_bulk")
        ? { status: 400, body: { error: { type: "illegal_argument_exception", reason: "bad" }, status: 400 } }
        : undefined,
    );
    const outcome = await indexStoredEvents(target, [storedEvent(1)], { baseDelayMs: 1 });
    expect(fake.bulkRequests()).toHaveLength(1);
    expect(outcome.failed).toMatchObject([{ seq: 1, status: 400 }]);
  });

  test("an unreachable cluster never throws: every event comes back as failed", async () => {
    const unreachable = { client: createOpenSearchClient("http://127.0.0.1:1"), indexPrefix: PREFIX };
    const outcome = await indexStoredEvents(unreachable, [storedEvent(1), storedEvent(2)], {
      baseDelayMs: 1,
      maxAttempts: 2,
    });
    expect(outcome.indexed).toBe(0);
    expect(outcome.failed.map((item) => item.status)).toEqual([503, 503]);
    expect(outcome.failed[0]!.reason).toMatch(/ConnectionError/);
    await unreachable.client.close();
  });

  test("large batches are split into bulk requests by document count", async () => {
    const outcome = await indexStoredEvents(
      target,
      [1, 2, 3, 4, 5].map((seq) => storedEvent(seq)),
      { maxBulkDocuments: 2 },
    );
    expect(outcome.indexed).toBe(5);
    expect(fake.bulkRequests().map((request) => bulkLines(request).length / 2)).toEqual([2, 2, 1]);
  });
});

describe("search DSL", () => {
  const base: EventSearchQuery = {
    filter: { from: "2026-03-01T00:00:00.000Z" },
    sort: "-occurred_at",
    limit: 10,
    after: null,
  };
  const tenantFilter = { term: { tenant_id: TENANT_A } };
  const fromRange = { range: { occurred_at: { gte: "2026-03-01T00:00:00.000Z" } } };

  test("the request: every monthly index, tenant routing, tenant filter first, limit + 1, newest first then seq", () => {
    expect(buildSearchRequest(scopeA, base, PREFIX)).toEqual({
      index: "vigil-test-*",
      routing: TENANT_A,
      ignore_unavailable: true,
      allow_no_indices: true,
      body: {
        size: 11,
        track_total_hits: false,
        query: { bool: { filter: [tenantFilter, fromRange] } },
        sort: [{ occurred_at: { order: "desc" } }, { seq: { order: "desc" } }],
        _source: { excludes: ["search_text"] },
      },
    });
  });

  test.each([
    [{ user_id: "alice" }, { term: { user_id: "alice" } }],
    [{ session_id: "s-1" }, { term: { session_id: "s-1" } }],
    [
      { action_type: ["CREATE", "DELETE"] as Array<"CREATE" | "DELETE"> },
      { terms: { action_type: ["CREATE", "DELETE"] } },
    ],
    [{ action: "invoice.approve" }, { term: { action: "invoice.approve" } }],
    [{ resource_type: "invoice" }, { term: { resource_type: "invoice" } }],
    [{ resource_id: "inv-1" }, { term: { resource_id: "inv-1" } }],
    [
      { severity: ["ERROR", "CRITICAL"] as Array<"ERROR" | "CRITICAL"> },
      { terms: { severity: ["ERROR", "CRITICAL"] } },
    ],
    [{ outcome: "failure" as const }, { term: { outcome: "failure" } }],
    [
      { q: "approved" },
      {
        simple_query_string: {
          query: "approved",
          fields: ["search_text"],
          default_operator: "and",
          flags: "OR|NOT|PHRASE|WHITESPACE",
        },
      },
    ],
  ])("filter %j becomes %j, after the tenant filter", (given, clause) => {
    const request = buildSearchRequest(scopeA, { ...base, filter: { ...base.filter, ...given } }, PREFIX);
    const filters = request.body.query.bool.filter;
    expect(filters[0]).toEqual(tenantFilter);
    expect(filters).toHaveLength(3);
    expect(filters).toContainEqual(clause);
    expect(filters).toContainEqual(fromRange);
  });

  test("from and to become one range on occurred_at, `to` exclusive, times normalized to UTC", () => {
    const request = buildSearchRequest(
      scopeA,
      { ...base, filter: { from: "2026-03-01T02:00:00+02:00", to: "2026-03-02T00:00:00Z" } },
      PREFIX,
    );
    expect(request.body.query.bool.filter).toEqual([
      tenantFilter,
      { range: { occurred_at: { gte: "2026-03-01T00:00:00.000Z", lt: "2026-03-02T00:00:00.000Z" } } },
    ]);
  });

  test.each([
    ["-occurred_at", [{ occurred_at: { order: "desc" } }, { seq: { order: "desc" } }]],
    ["occurred_at", [{ occurred_at: { order: "asc" } }, { seq: { order: "asc" } }]],
    ["-received_at", [{ received_at: { order: "desc" } }, { seq: { order: "desc" } }]],
    ["-seq", [{ seq: { order: "desc" } }]],
    ["seq", [{ seq: { order: "asc" } }]],
  ] as const)("sort %s", (sort, expected) => {
    expect(buildSearchRequest(scopeA, { ...base, sort }, PREFIX).body.sort).toEqual(expected);
  });

  test("search_after: [epoch ms, seq] for time sorts, [seq] for seq sorts", () => {
    const after = { key: "2026-03-14T10:00:00.000Z", seq: 7 };
    expect(buildSearchRequest(scopeA, { ...base, after }, PREFIX).body.search_after).toEqual([
      Date.parse("2026-03-14T10:00:00.000Z"),
      7,
    ]);
    expect(
      buildSearchRequest(scopeA, { ...base, sort: "seq", after: { key: 7, seq: 7 } }, PREFIX).body
        .search_after,
    ).toEqual([7]);
  });

  test("every filter at once still starts with exactly one tenant filter, and never another tenant's", () => {
    const everything: EventSearchQuery = {
      ...base,
      filter: {
        from: "2026-03-01T00:00:00Z",
        to: "2026-04-01T00:00:00Z",
        user_id: "u",
        session_id: "s",
        action_type: ["VIEW"],
        action: "a",
        resource_type: "r",
        resource_id: "i",
        severity: ["INFO"],
        outcome: "success",
        q: "x",
      },
    };
    const filters = buildSearchRequest(scopeA, everything, PREFIX).body.query.bool.filter;
    expect(filters[0]).toEqual(tenantFilter);
    expect(
      filters.filter((clause) => "term" in clause && "tenant_id" in (clause.term as object)),
    ).toHaveLength(1);
    expect(JSON.stringify(filters)).not.toContain(TENANT_B);
    expect(filters).toHaveLength(11);
  });

  test("q in websearch syntax: `or` becomes |, phrases and -negation pass through, `or` inside a phrase stays", () => {
    expect(toSimpleQueryString("alice or bob")).toBe("alice | bob");
    expect(toSimpleQueryString('"quarterly or annual" -draft OR x')).toBe('"quarterly or annual" -draft | x');
    expect(toSimpleQueryString("order origin")).toBe("order origin");
  });

  test("search_text holds action, resource, user and the scalar values (not keys) of metadata and states", () => {
    expect(searchText(storedEvent(1)).split("\n")).toEqual([
      "invoice.approve",
      "invoice",
      "inv-1",
      "alice",
      "quarterly close",
      "true",
      "draft",
      "approved",
      "42",
    ]);
  });
});

describe("OpenSearchEventSearch through searchEvents (cursor module, same contract as PostgreSQL)", () => {
  // searchEvents only touches the database when no backend is given; postgres.js connects lazily.
  const unusedDb = new Database({ url: "postgres://unused:unused@127.0.0.1:1/unused", poolSize: 1 });
  const cursorKey = randomBytes(32);
  afterAll(() => unusedDb.close());

  function answerSearch(events: StoredEvent[]) {
    fake.responders.push((request) =>
      request.path.includes("/_search")
        ? {
            status: 200,
            body: {
              took: 1,
              timed_out: false,
              hits: {
                hits: events.map((event) => ({
                  _index: "vigil-test-2026.03",
                  _id: `${event.tenant_id}:${event.id}`,
                  _source: { ...event },
                })),
              },
            },
          }
        : undefined,
    );
  }

  test("page 1 asks for limit + 1, page 2 sends search_after from the cursor; next_cursor only when more exist", async () => {
    const backend = new OpenSearchEventSearch(target);
    const params = searchParamsSchema.parse({ from: "2026-03-01T00:00:00Z", limit: 2, severity: ["INFO"] });
    const hits = [3, 2, 1].map((seq) => storedEvent(seq, { occurred_at: `2026-03-14T10:00:0${seq}.000Z` }));
    answerSearch(hits);
    const page1 = await searchEvents(unusedDb, scopeA, params, { backend, cursorKey });
    expect(page1.data.map((event) => event.seq)).toEqual([3, 2]);
    expect(page1.data[0]).toEqual(hits[0]);
    expect(page1.next_cursor).not.toBeNull();

    const [request1] = fake.requests;
    expect(request1!.method).toBe("POST");
    expect(request1!.path).toBe(
      `/vigil-test-*/_search?routing=${TENANT_A}&ignore_unavailable=true&allow_no_indices=true`,
    );
    const body1 = JSON.parse(request1!.body);
    expect(body1.size).toBe(3);
    expect(body1.search_after).toBeUndefined();
    expect(body1.query.bool.filter[0]).toEqual({ term: { tenant_id: TENANT_A } });

    fake.clear();
    answerSearch([hits[2]!]);
    const page2 = await searchEvents(
      unusedDb,
      scopeA,
      { ...params, cursor: page1.next_cursor! },
      { backend, cursorKey },
    );
    expect(page2.data.map((event) => event.seq)).toEqual([1]);
    expect(page2.next_cursor).toBeNull();
    const body2 = JSON.parse(fake.requests[0]!.body);
    expect(body2.search_after).toEqual([Date.parse("2026-03-14T10:00:02.000Z"), 2]);
    // The cursor is the shared module's: it names the tenant and carries the same position.
    expect(
      decodeCursor(cursorKey, page1.next_cursor!, TENANT_A, decodeFingerprint(page1.next_cursor!)),
    ).toMatchObject({
      key: "2026-03-14T10:00:02.000Z",
      seq: 2,
    });
  });

  test("another tenant's cursor is refused before any request is sent", async () => {
    const backend = new OpenSearchEventSearch(target);
    const params = searchParamsSchema.parse({ from: "2026-03-01T00:00:00Z", limit: 1 });
    answerSearch([storedEvent(2), storedEvent(1)]);
    const page = await searchEvents(unusedDb, scopeA, params, { backend, cursorKey });
    fake.clear();
    await expect(
      searchEvents(
        unusedDb,
        tenantScope(TENANT_B),
        { ...params, cursor: page.next_cursor! },
        { backend, cursorKey },
      ),
    ).rejects.toMatchObject({ code: "INVALID_CURSOR" });
    expect(fake.requests).toHaveLength(0);
  });

  test("a hit of another tenant is never returned", async () => {
    answerSearch([storedEvent(1, { tenant_id: TENANT_B })]);
    const backend = new OpenSearchEventSearch(target);
    await expect(
      backend.findEvents(scopeA, {
        filter: { from: "2026-03-01T00:00:00Z" },
        sort: "seq",
        limit: 5,
        after: null,
      }),
    ).rejects.toThrow(/outside the tenant scope/);
  });

  test("an unreachable cluster is a 503 SEARCH_UNAVAILABLE, not an internal error", async () => {
    const backend = new OpenSearchEventSearch({
      client: createOpenSearchClient("http://127.0.0.1:1"),
      indexPrefix: PREFIX,
    });
    const error = await backend
      .findEvents(scopeA, { filter: { from: "2026-03-01T00:00:00Z" }, sort: "seq", limit: 5, after: null })
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(VigilError);
    expect(error).toMatchObject({ code: "SEARCH_UNAVAILABLE", status: 503 });
  });
});

function decodeFingerprint(cursor: string): string {
  return JSON.parse(Buffer.from(cursor.split(".")[0]!, "base64url").toString("utf8")).f;
}
