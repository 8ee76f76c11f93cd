// The export's COPY statement carries the filter as inlined literals (COPY takes no parameters):
// hostile filter values are either refused by validation, naming the parameter (a 400), or written
// as an E'' literal that means exactly the value. The database round trip of such values is in
// export-copy.test.ts; this is the door and the literal writer on their own (no database).
import { sqlLiteral } from "@vigil/shared/query/export-copy-sql";
import { exportParamsSchema } from "@vigil/shared/query/export-events";
import { describe, expect, test } from "vitest";

const TEXT_FILTERS = ["user_id", "session_id", "action", "resource_type", "resource_id", "q"] as const;

function refusedPaths(params: Record<string, unknown>): string[] {
  const result = exportParamsSchema.safeParse(params);
  return result.success ? [] : result.error.issues.map((issue) => issue.path.join("."));
}

describe("hostile export filters are refused at the door, naming the parameter", () => {
  test.each(TEXT_FILTERS)("%s with a NUL or a lone surrogate", (field) => {
    expect(refusedPaths({ [field]: "word\u0000" })).toContain(field);
    expect(refusedPaths({ [field]: "word\ud800" })).toContain(field);
    expect(refusedPaths({ [field]: "word\udc00x" })).toContain(field);
  });

  test.each([
    "1e400",
    "-1e400",
    "NaN",
    "-1",
    "1.5",
    "Infinity",
    "1e300",
    "9007199254740993",
  ])("after_seq=%s", (value) => {
    expect(refusedPaths({ after_seq: value })).toEqual(["after_seq"]);
  });

  test("after_seq=-0 is accepted and written as 0", () => {
    expect(sqlLiteral(exportParamsSchema.parse({ after_seq: "-0" }).after_seq)).toBe("0");
  });
});

describe("sqlLiteral", () => {
  test("backslashes and quotes are escaped for an E'' string, whatever standard_conforming_strings says", () => {
    expect(sqlLiteral("o'brien")).toBe("E'o''brien'");
    expect(sqlLiteral("\\")).toBe("E'\\\\'");
    expect(sqlLiteral("\\'; drop table events; --")).toBe("E'\\\\''; drop table events; --'");
    expect(sqlLiteral("$1 $$ E'x'")).toBe("E'$1 $$ E''x'''");
  });

  test("a NUL, a non-finite number or another type is thrown, never written", () => {
    expect(() => sqlLiteral("a\u0000b")).toThrow(/NUL/);
    for (const value of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN])
      expect(() => sqlLiteral(value)).toThrow(/finite/);
    for (const value of [null, undefined, true, 1n, {}, ["a"]])
      expect(() => sqlLiteral(value)).toThrow(TypeError);
  });

  test("numbers and dates are written as PostgreSQL reads them", () => {
    expect(sqlLiteral(-0)).toBe("0");
    expect(sqlLiteral(1e300)).toBe("1e+300");
    // A negative number cannot join a `-` before it into `--` (a comment that would swallow the rest).
    expect(sqlLiteral(-5)).toBe("(-5)");
    expect(`select 1 -${sqlLiteral(-5)}`).toBe("select 1 -(-5)");
    expect(sqlLiteral(new Date("2026-12-07T10:00:00.000Z"))).toBe("E'2026-12-07T10:00:00.000Z'");
  });
});
