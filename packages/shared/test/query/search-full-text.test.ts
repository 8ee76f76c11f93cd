// Full-text search's adaptive plan (search-events.ts, migration 20261207T1014) against the real
// PostgreSQL: a common term (decided by the head), a rare term and a phrase with a common first
// lexeme (the GIN probe), terms matching exactly TEXT_PROBE_MATCHES and one more (the boundary
// where the probe gives way to the ordered walk), cursor paging across that switch in every sort,
// and another tenant's matching rows, which no path ever returns.
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
}, 120_000);
afterAll(async () => pipeline?.close());

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
