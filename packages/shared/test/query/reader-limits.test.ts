// Pure limits of the read paths: the export caps, page byte budgets and the refusal of
// negation-only full-text queries. (Export memory is bounded by back-pressure on PostgreSQL's
// COPY stream, tested in export-copy.test.ts, so it has no batch sizing to test here.)
import { describe, expect, test } from "vitest";
import { VigilError } from "../../src/errors/vigil-error.ts";
import { pageFromRows } from "../../src/query/event-search-backend.ts";
import { ExportSlots } from "../../src/query/export-slots.ts";
import {
  hasPositiveTermPerAlternative,
  parseQuery,
  searchParamsSchema,
} from "../../src/query/search-params.ts";

describe("export slots", () => {
  test("caps per tenant and per process; a released slot is reusable; releasing twice frees one slot", () => {
    const slots = new ExportSlots({ perProcess: 3, perTenant: 2, retryAfterSeconds: 7 });
    const a1 = slots.acquire("a");
    slots.acquire("a");
    const refusal = (() => {
      try {
        slots.acquire("a");
      } catch (error) {
        return error as VigilError;
      }
    })();
    expect(refusal).toMatchObject({ code: "RATE_LIMITED", status: 429, headers: { "Retry-After": "7" } });
    expect(refusal?.detail).toMatch(/this tenant/);
    slots.acquire("b");
    expect(() => slots.acquire("c")).toThrowError(expect.objectContaining({ code: "RATE_LIMITED" }));
    a1();
    a1();
    expect(slots.active).toBe(2);
    slots.acquire("c");
    expect(() => slots.acquire("d")).toThrow(VigilError);
  });
});

describe("page byte budget (OpenSearch pages)", () => {
  const rows = (sizes: number[]) => {
    let before = 0;
    return sizes.map((size, index) => {
      const row = { seq: index + 1, bytes_before: before };
      before += size;
      return row;
    });
  };
  const query = { filter: { from: "2026-01-01T00:00:00Z" }, sort: "seq" as const, after: null };
  test("a page ends after the row that reaches the budget, and says more follow", () => {
    const page = pageFromRows(rows([400, 400, 400, 400]), { ...query, limit: 10, maxBytes: 1000 });
    expect(page.events.map((row) => row.seq)).toEqual([1, 2, 3]);
    expect(page.more).toBe(true);
  });
  test("one row larger than the budget is still a page; limit still applies", () => {
    expect(pageFromRows(rows([5000]), { ...query, limit: 10, maxBytes: 1000 })).toMatchObject({
      more: false,
    });
    const limited = pageFromRows(rows([1, 1, 1]), { ...query, limit: 2, maxBytes: 1000 });
    expect(limited.events).toHaveLength(2);
    expect(limited.more).toBe(true);
  });
});

describe("negation-only q", () => {
  test.each([
    ["-word", false],
    ['-"a phrase"', false],
    ["invoice or -draft", false],
    ["-a -b", false],
    ["invoice -draft", true],
    ['"-not negated"', true],
    ["a or b", true],
    ["inv-1", true],
  ])("%s → indexable: %s", (q, ok) => {
    expect(hasPositiveTermPerAlternative(q)).toBe(ok);
  });
  test("a negation-only q is a 400 naming q", () => {
    expect(() => parseQuery(searchParamsSchema, new URLSearchParams({ q: "-word" }))).toThrowError(
      expect.objectContaining({
        code: "INVALID_PARAMETER",
        errors: [expect.objectContaining({ path: "q" })],
      }),
    );
  });
});
