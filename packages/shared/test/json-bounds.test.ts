// Bounds on client JSON without recursion: the body scan that refuses deep nesting before parsing,
// the path it names, and the walk that checks a parsed state's depth, numbers and text.
import { describe, expect, test } from "vitest";
import {
  findJsonProblem,
  findNestingOverflow,
  jsonPathAt,
  scanJsonShape,
} from "../src/events/json-bounds.ts";

describe("findNestingOverflow", () => {
  test("finds the bracket that goes one level too deep, and nothing within the limit", () => {
    expect(findNestingOverflow('{"a":[{"b":1}]}', 3)).toBe(-1);
    expect(findNestingOverflow('{"a":[{"b":{}}]}', 3)).toBe(11);
    expect(findNestingOverflow("[[],[],[[]]]", 2)).toBe(8);
    expect(findNestingOverflow("[]", 0)).toBe(0);
  });

  test("brackets and escaped quotes inside strings do not count", () => {
    expect(findNestingOverflow(`{"a":"[[[[{{{{\\"[[[[","b":"\\\\"}`, 1)).toBe(-1);
    expect(findNestingOverflow(`{"k\\\\":{"x":"]]]]"}}`, 1)).toBe(7);
  });

  test("100,000 levels are found without recursion, in milliseconds", () => {
    const text = `{"after_state":{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
    const started = performance.now();
    expect(findNestingOverflow(text, 17)).toBe(text.indexOf("[") + 15);
    expect(performance.now() - started).toBeLessThan(200);
  });

  test("malformed text is left to JSON.parse", () => {
    expect(findNestingOverflow('{"a":"unterminated', 1)).toBe(-1);
    expect(findNestingOverflow("]]]]{", 1)).toBe(-1);
  });
});

describe("scanJsonShape", () => {
  test("counts the objects and arrays outside strings, to bound what parsing allocates", () => {
    expect(scanJsonShape('[{},{"a":[1,{}]},"{[{["]', 5)).toEqual({ overflowAt: -1, containers: 5 });
    expect(scanJsonShape("1", 5)).toEqual({ overflowAt: -1, containers: 0 });
    expect(scanJsonShape("[[[]]]", 2)).toEqual({ overflowAt: 2, containers: 3 });
  });
});

describe("jsonPathAt", () => {
  test("names the keys and indexes down to the offending container", () => {
    const single = '{"action_type":"CREATE","after_state":{"a":{"b":[1,[[]]]}}}';
    expect(jsonPathAt(single, single.indexOf("[[]]"))).toEqual(["after_state", "a", "b", 1]);
    const bulk = '[{"a":1},{"x":"y","metadata":{"deep":{}}}]';
    expect(jsonPathAt(bulk, bulk.lastIndexOf("{}"))).toEqual([1, "metadata", "deep"]);
    const wrapped = '{"events":[{},{},{"before_state":{}}]}';
    expect(jsonPathAt(wrapped, wrapped.lastIndexOf("{}"))).toEqual(["events", 2, "before_state"]);
  });

  test("decodes escaped keys and stops at maxSegments", () => {
    const text = '{"a\\u0062":{"c":{"d":{"e":{}}}}}';
    expect(jsonPathAt(text, text.lastIndexOf("{}"), 2)).toEqual(["ab", "c"]);
  });
});

describe("findJsonProblem", () => {
  /** `{"a":{"a":…}}` with `levels` levels (1 = `{}`). */
  function nested(levels: number): Record<string, unknown> {
    let value: Record<string, unknown> = {};
    for (let level = 1; level < levels; level++) value = { a: value };
    return value;
  }

  test("depth counts objects and arrays: a scalar is 0, {} is 1", () => {
    expect(findJsonProblem(nested(16), 16)).toBeNull();
    expect(findJsonProblem(nested(17), 16)).toBe("depth");
    expect(findJsonProblem({ a: [[[{}]]] }, 4)).toBe("depth");
    expect(findJsonProblem({ a: [[[1]]] }, 4)).toBeNull();
  });

  test("an object nested 100,000 deep is judged without overflowing the stack", () => {
    expect(findJsonProblem(nested(100_000), 16)).toBe("depth");
  });

  test("non-finite numbers (what JSON.parse makes of 1e400) are refused anywhere, finite extremes kept", () => {
    expect(findJsonProblem(JSON.parse('{"a":1e400}'), 16)).toBe("number");
    expect(findJsonProblem({ a: [1, { b: -Infinity }] }, 16)).toBe("number");
    expect(findJsonProblem({ a: Number.NaN }, 16)).toBe("number");
    expect(findJsonProblem({ a: Number.MAX_VALUE, b: 5e-324, c: -0 }, 16)).toBeNull();
  });

  test("U+0000 and unpaired surrogates are refused in keys and values", () => {
    expect(findJsonProblem({ "a\u0000": 1 }, 16)).toBe("text");
    expect(findJsonProblem({ a: ["ok", "\ud800"] }, 16)).toBe("text");
    expect(findJsonProblem({ a: "😀 paired is fine" }, 16)).toBeNull();
  });
});
