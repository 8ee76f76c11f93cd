// Full-text search's adaptive plan (search-events.ts, migration 20261207T1014) against the real
// PostgreSQL: a common term (decided by the head), a rare term and a phrase with a common first
// lexeme (the GIN probe), terms matching exactly TEXT_PROBE_MATCHES and one more (the boundary
// where the probe gives way to the ordered walk), cursor paging across that switch in every sort,
// and another tenant's matching rows, which no path ever returns. The probe in page order
// (migration 20261207T1016) stops at a page of matches: its early stop, events stamped in the future
// and pages in both time orders are checked against the plain walk on a tenant of their own.
import type { TransactionSql } from "@vigil/shared/db/database";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { searchEvents, TEXT_PROBE_MATCHES, textHeadRows } from "@vigil/shared/query/search-events";
import {
  parseQuery,
  type SearchParams,
  type Sort,
  searchParamsSchema,
} from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sampleEvent, seedEvents } from "./seed-events.ts";

const TENANT_A = "0190a0a0-0000-7000-8000-0000000000f1";
const TENANT_B = "0190a0a0-0000-7000-8000-0000000000f2";
/** Tenant C: 900 rows over ten days (a third tagged "slicefind", five of them in the future). */
const TENANT_C = "0190a0a0-0000-7000-8000-0000000000f3";
const HOUR = 3_600_000;
const NOW = Date.now();
const MINUTE = 60_000;
/** Every 20th row carries a probe tag, so the newest rows of a page's head hold few matches. */
const SPACING = 20;
const COUNT = (TEXT_PROBE_MATCHES + 1) * SPACING + 40;

let pipeline: TestPipeline;
let stored: Array<NormalizedEvent & { seq: number }>;

/** The tag(s) of row `index`: exactly K rows "probeexact", K + 1 rows "probeover", 7 rows "rarefind". */
function tagsOf(index: number): string[] {
  const tags: string[] = [];
  if (index % SPACING === 3 && index < TEXT_PROBE_MATCHES * SPACING) tags.push("probeexact");
  if (index % SPACING === 4 && index < (TEXT_PROBE_MATCHES + 1) * SPACING) tags.push("probeover");
  if (index % 3000 === 11) tags.push("rarefind");
  return tags;
}

function params(input: Record<string, string>): SearchParams {
  return parseQuery(searchParamsSchema, new URLSearchParams(input));
}

async function searchAll(tenant: string, input: Record<string, string>): Promise<number[]> {
  const seqs: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await searchEvents(
      pipeline.database.db,
      tenantScope(tenant),
      params({ ...input, ...(cursor ? { cursor } : {}) }),
    );
    seqs.push(...page.data.map((event) => event.seq));
    cursor = page.next_cursor;
  } while (cursor);
  return seqs;
}

/** Tenant A's seqs matching `predicate`, in `sort` order (ties broken by seq in the same direction). */
function expected(predicate: (event: StoredRow) => boolean, sort: Sort): number[] {
  const direction = sort.startsWith("-") ? -1 : 1;
  const key = (event: NormalizedEvent & { seq: number }) =>
    sort.endsWith("seq")
      ? 0
      : Date.parse(sort.endsWith("received_at") ? event.received_at : event.occurred_at);
  return stored
    .filter(predicate)
    .sort((a, b) => direction * (key(a) - key(b) || a.seq - b.seq))
    .map((event) => event.seq);
}

type StoredRow = NormalizedEvent & { seq: number };
const tagged = (tag: string) => (event: StoredRow) => tagsOf(event.seq - 1).includes(tag);

beforeAll(async () => {
  pipeline = await createTestPipeline();
  for (const [id, name] of [
    [TENANT_A, "full-text-a"],
    [TENANT_B, "full-text-b"],
    [TENANT_C, "full-text-c"],
  ] as const)
    await pipeline.database.admin`insert into tenants (id, name) values (${id}, ${name})`;
  // Pairs share an occurred_at, so keyset ties are broken by seq.
  const events = Array.from({ length: COUNT }, (_, index) =>
    sampleEvent(TENANT_A, index, new Date(NOW - MINUTE - Math.floor(index / 2) * MINUTE), {
      metadata: { index, tags: tagsOf(index) },
    }),
  );
  await seedEvents(pipeline.database.db, events);
  stored = events.map((event, index) => ({ ...event, seq: index + 1 }));
  // Tenant B: the same tags on rows newer than all of A's, where any leak would come first.
  await seedEvents(
    pipeline.database.db,
    Array.from({ length: 30 }, (_, index) =>
      sampleEvent(TENANT_B, index, new Date(NOW - index * 1000), {
        metadata: { tags: ["probeexact", "probeover", "rarefind", "onlyb"] },
      }),
    ),
  );
  sliced = Array.from({ length: 900 }, (_, index) => {
    // Newest first: five tagged rows up to 5 hours ahead, then one row every 16 minutes back ten days.
    const at = index < 15 ? NOW + (15 - index) * 20 * MINUTE : NOW - (index - 14) * 16 * MINUTE;
    return sampleEvent(TENANT_C, index, new Date(at), {
      metadata: { tags: index % 3 === 0 ? ["slicefind"] : [] },
    });
  });
  await seedEvents(pipeline.database.db, sliced);
}, 120_000);
afterAll(async () => pipeline?.close());

let sliced: NormalizedEvent[];

/** Tenant C's tagged seqs in `sort` order (seq = index + 1; times differ, so no ties). */
function slicedExpected(sort: "-occurred_at" | "occurred_at"): number[] {
  const seqs = sliced
    .map((event, index) => ({ seq: index + 1, at: Date.parse(event.occurred_at), tagged: index % 3 === 0 }))
    .filter((row) => row.tagged)
    .sort((a, b) => a.at - b.at)
    .map((row) => row.seq);
  return sort === "occurred_at" ? seqs : seqs.reverse();
}

describe("the probe's boundary", () => {
  /** What the GIN probe finds for `q` under `tenant`'s RLS scope, with room for `limit` keys. */
  async function probe(tenant: string | null, q: string, limit: number): Promise<number[]> {
    const from = new Date(NOW - 30 * 24 * 60 * MINUTE);
    const read = (tx: TransactionSql) =>
      tx<{ seq: number }[]>`select seq from vigil_search_match_keys(websearch_to_tsquery('simple', ${q}),
        ${from}, null, null, ${limit})`;
    const rows = tenant
      ? await pipeline.database.db.withTenant(tenant, read)
      : await pipeline.database.db.withoutTenant(read);
    return rows.map((row) => Number(row.seq));
  }

  test("the tags match exactly K and K + 1 of tenant A's rows, and the probe sees only the caller's tenant", async () => {
    expect(stored.filter(tagged("probeexact"))).toHaveLength(TEXT_PROBE_MATCHES);
    expect(stored.filter(tagged("probeover"))).toHaveLength(TEXT_PROBE_MATCHES + 1);
    const exact = await probe(TENANT_A, "probeexact", TEXT_PROBE_MATCHES + 1);
    expect(exact.sort((a, b) => a - b)).toEqual(expected(tagged("probeexact"), "seq"));
    expect(await probe(TENANT_A, "probeover", TEXT_PROBE_MATCHES + 1)).toHaveLength(TEXT_PROBE_MATCHES + 1);
    expect((await probe(TENANT_B, "probeexact", 5000)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, index) => index + 1),
    );
    expect(await probe(TENANT_A, "onlyb", 5000)).toEqual([]);
    // No tenant set (or a forged empty one): nothing, as under RLS.
    expect(await probe(null, "probeexact", 5000)).toEqual([]);
  });

  test("the head of a page holds too few matches to decide it, so these terms reach the probe", () => {
    const headMatches = stored.slice(0, textHeadRows(100)).filter(tagged("probeexact")).length;
    expect(headMatches).toBeLessThan(101);
  });
});

describe("results equal the plain ordered walk's", () => {
  const sorts: Sort[] = ["-occurred_at", "occurred_at", "-seq", "seq", "-received_at"];

  for (const tag of ["probeexact", "probeover"])
    for (const sort of sorts)
      test(`${tag} (${tag === "probeexact" ? "K" : "K + 1"} matches), sort ${sort}, pages of 100 across the switch`, async () => {
        expect(await searchAll(TENANT_A, { q: tag, sort, limit: "100" })).toEqual(
          expected(tagged(tag), sort),
        );
      });

  test("K + 1 matches in pages of 40: the first pages walk, later ones (a narrower window) probe", async () => {
    const seqs = await searchAll(TENANT_A, { q: "probeover", limit: "40" });
    expect(seqs).toEqual(expected(tagged("probeover"), "-occurred_at"));
  });

  test("a rare term: every match, in order, over pages of 2", async () => {
    const seqs = await searchAll(TENANT_A, { q: "rarefind", limit: "2" });
    expect(seqs).toHaveLength(7);
    expect(seqs).toEqual(expected(tagged("rarefind"), "-occurred_at"));
  });

  test("a common term is decided by the head: the first page is the newest matches", async () => {
    const page = await searchEvents(
      pipeline.database.db,
      tenantScope(TENANT_A),
      params({ q: "invoice", limit: "50" }),
    );
    const invoices = (event: NormalizedEvent) => event.resource_type === "invoice";
    expect(page.data.map((event) => event.seq)).toEqual(expected(invoices, "-occurred_at").slice(0, 50));
    expect(page.next_cursor).not.toBeNull();
  });

  test("a phrase whose first lexeme is in every row ('doc' <-> '-37'), with another filter", async () => {
    const match = (event: NormalizedEvent) => event.resource_id === "doc-37" && event.severity === "INFO";
    const seqs = await searchAll(TENANT_A, { q: "doc-37", severity: "INFO", limit: "9" });
    expect(seqs.length).toBeGreaterThan(9);
    expect(seqs).toEqual(expected(match, "-occurred_at"));
  });

  test("a selective filter beside a common term: a window no larger than the head is walked, no probe", async () => {
    const from = new Date(NOW - 1000 * MINUTE);
    const match = (event: StoredRow) =>
      event.action === "invoice.delete" && Date.parse(event.occurred_at) >= from.getTime();
    expect(stored.filter(match).length).toBeLessThan(textHeadRows(100));
    const seqs = await searchAll(TENANT_A, {
      q: "invoice",
      action: "invoice.delete",
      from: from.toISOString(),
      limit: "100",
    });
    expect(seqs.length).toBeGreaterThan(50);
    expect(seqs).toEqual(expected(match, "-occurred_at"));
  });

  test("within from/to: only matches inside the window", async () => {
    const from = new Date(NOW - 100 * MINUTE);
    const to = new Date(NOW - 20 * MINUTE);
    const inside = (event: StoredRow) =>
      tagged("probeexact")(event) &&
      Date.parse(event.occurred_at) >= from.getTime() &&
      Date.parse(event.occurred_at) < to.getTime();
    const seqs = await searchAll(TENANT_A, {
      q: "probeexact",
      from: from.toISOString(),
      to: to.toISOString(),
      limit: "1",
    });
    expect(seqs.length).toBeGreaterThan(1);
    expect(seqs).toEqual(expected(inside, "-occurred_at"));
  });
});

describe("the probe in page order (20261207T1016)", () => {
  const from = new Date(NOW - 30 * 24 * HOUR);

  async function orderedProbe(
    tenant: string | null,
    q: string,
    enough: number | null,
    ascending: boolean,
    window: { from?: Date | null; until?: Date | null } = {},
  ): Promise<number[]> {
    const read = (tx: TransactionSql) =>
      tx<{ seq: number }[]>`select seq from vigil_search_match_keys_in_order(
        websearch_to_tsquery('simple', ${q}), ${window.from === undefined ? from : window.from}, null,
        ${window.until ?? null}, ${TEXT_PROBE_MATCHES + 1}, ${enough}, ${ascending})`;
    const rows = tenant
      ? await pipeline.database.db.withTenant(tenant, read)
      : await pipeline.database.db.withoutTenant(read);
    return rows.map((row) => Number(row.seq));
  }

  test("stops once its slices hold a page of matches, and those include the page exactly", async () => {
    const newest = slicedExpected("-occurred_at");
    expect(newest).toHaveLength(300);
    const read = await orderedProbe(TENANT_C, "slicefind", 21, false);
    expect(read.length).toBeGreaterThanOrEqual(21);
    expect(read.length).toBeLessThan(150);
    expect(new Set(read)).toEqual(new Set(newest.slice(0, read.length)));
    const oldest = await orderedProbe(TENANT_C, "slicefind", 21, true);
    expect(oldest.length).toBeGreaterThanOrEqual(21);
    expect(oldest.length).toBeLessThan(150);
    expect(new Set(oldest)).toEqual(new Set(slicedExpected("occurred_at").slice(0, oldest.length)));
  });

  test("with no page size, or no lower bound, it reads the whole window as 1014's probe does", async () => {
    expect((await orderedProbe(TENANT_C, "slicefind", null, false)).sort((a, b) => a - b)).toEqual(
      slicedExpected("occurred_at").sort((a, b) => a - b),
    );
    expect(await orderedProbe(TENANT_C, "slicefind", 21, false, { from: null })).toHaveLength(300);
  });

  test("a match at exactly the cursor's time does not count toward the page (the cursor may drop it)", async () => {
    // All of tenant A's rows come in pairs sharing a time; a bound at a pair's time keeps probing past it.
    const byTime = expected(tagged("probeexact"), "-occurred_at");
    const until = new Date(stored[byTime[10]! - 1]!.occurred_at);
    const read = await orderedProbe(TENANT_A, "probeexact", 1, false, { until });
    const strictlyBefore = read.filter((seq) => Date.parse(stored[seq - 1]!.occurred_at) < until.getTime());
    expect(strictlyBefore.length).toBeGreaterThanOrEqual(1);
  });

  test("only the caller's tenant, and nothing without one", async () => {
    expect(await orderedProbe(TENANT_A, "slicefind", 21, false)).toEqual([]);
    expect(await orderedProbe(null, "slicefind", null, false)).toEqual([]);
    expect((await orderedProbe(TENANT_B, "onlyb", 5, false)).length).toBeGreaterThanOrEqual(5);
  });

  for (const sort of ["-occurred_at", "occurred_at"] as const)
    for (const limit of ["7", "100"])
      test(`pages of ${limit}, sort ${sort}, future-stamped rows included, equal the plain walk`, async () => {
        expect(await searchAll(TENANT_C, { q: "slicefind", sort, limit })).toEqual(slicedExpected(sort));
      });

  test("another filter beside q reads the whole window (no early stop) and stays exact", async () => {
    const seqs = await searchAll(TENANT_C, { q: "slicefind", outcome: "success", limit: "9" });
    const expectedSeqs = slicedExpected("-occurred_at").filter(
      (seq) => sliced[seq - 1]!.outcome === "success",
    );
    expect(seqs).toEqual(expectedSeqs);
  });
});

describe("tenant isolation", () => {
  test("tenant B sees only its own rows for every tag, and tenant A never sees B's", async () => {
    for (const tag of ["probeexact", "probeover", "rarefind"]) {
      expect((await searchAll(TENANT_B, { q: tag, limit: "4" })).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 30 }, (_, index) => index + 1),
      );
    }
    expect(await searchAll(TENANT_A, { q: "onlyb" })).toEqual([]);
    const page = await searchEvents(
      pipeline.database.db,
      tenantScope(TENANT_A),
      params({ q: "rarefind", limit: "100" }),
    );
    expect(page.data.every((event) => event.tenant_id === TENANT_A)).toBe(true);
  });
});
