// RFC 8785 test vectors: key order (§3.2.3), the combined example (§3.2.4) and the IEEE 754 number
// samples of Appendix B, which pin the ECMAScript shortest-form serialisation the hash depends on.
import { describe, expect, test } from "vitest";
import { canonicalFieldsJson, canonicalJson } from "../src/events/canonical-json.ts";

/** A double from its IEEE 754 bit pattern, as Appendix B lists them. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe("canonicalJson", () => {
  test("sorts keys by UTF-16 code units, non-BMP keys by their surrogates (RFC 8785 §3.2.3)", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    // Read the order from the text: Object.keys would list the integer-like key "1" first.
    const keys = [...canonicalJson(input).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((match) =>
      JSON.parse(`"${match[1]}"`),
    );
    expect(keys).toEqual(["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
    // U+1F600 (surrogate D83D) sorts before U+FB33, although its code point is larger.
    expect(canonicalJson({ "\ufb33": 1, "\u{1f600}": 2 })).toBe('{"\u{1f600}":2,"\ufb33":1}');
  });

  test("reproduces the RFC 8785 §3.2.4 example byte for byte", () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ])("serialises the double 0x%s as %s (Appendix B)", (bits, expected) => {
    expect(canonicalJson(fromBits(bits))).toBe(expected);
  });

  test("serialises common numbers in shortest form", () => {
    expect(canonicalJson([1e21, 1e-7, -0, 0.1, 333333333.3333333, 100, -1.5, 1e20])).toBe(
      "[1e+21,1e-7,0,0.1,333333333.3333333,100,-1.5,100000000000000000000]",
    );
  });

  test.each([
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ])("rejects the non-finite number %s, also nested", (value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
    expect(() => canonicalJson({ a: [1, { b: value }] })).toThrow(/non-finite/);
  });

  test("escapes control characters in lower-case \\u form and keeps other unicode literal", () => {
    expect(canonicalJson('\u0000\u0001\u001f\b\t\n\f\r"\\/')).toBe(
      '"\\u0000\\u0001\\u001f\\b\\t\\n\\f\\r\\"\\\\/"',
    );
    expect(canonicalJson("ö€😀\u007f\u2028")).toBe('"ö€😀\u007f\u2028"');
    expect(canonicalJson({ "k\n": "v" })).toBe('{"k\\n":"v"}');
  });

  test("has no whitespace, drops undefined members and is independent of key insertion order", () => {
    const a = { b: [1, { d: true, c: null }], a: "x", skipped: undefined };
    const b = { a: "x", b: [1, { c: null, d: true }] };
    expect(canonicalJson(a)).toBe('{"a":"x","b":[1,{"c":null,"d":true}]}');
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson([])).toBe("[]");
    expect(canonicalJson({})).toBe("{}");
  });

  test("refuses values JSON cannot hold", () => {
    expect(() => canonicalJson(10n)).toThrow(TypeError);
    expect(() => canonicalJson(() => 1)).toThrow(TypeError);
    expect(() => canonicalJson(Symbol("s"))).toThrow(TypeError);
  });

  test("sorts small and large objects alike (insertion sort up to 16 keys, the built-in sort above)", () => {
    for (const size of [2, 16, 17, 40]) {
      const keys = Array.from(
        { length: size },
        (_, index) => `k${(index * 7919) % 1000}\u00e9${index % 3 ? "Z" : "a"}`,
      );
      const shuffled = Object.fromEntries(keys.map((key, index) => [key, index]));
      const expected = `{${[...keys]
        .sort()
        .map((key) => `${JSON.stringify(key)}:${shuffled[key]}`)
        .join(",")}}`;
      expect(canonicalJson(shuffled)).toBe(expected);
    }
  });
});

describe("canonicalFieldsJson", () => {
  test("equals canonicalJson of the picked fields, whatever else the record holds", () => {
    const serialize = canonicalFieldsJson(["seq", "id", "after_state", "missing", "\u20ac"]);
    const record = {
      id: "x",
      seq: 3,
      after_state: { b: 1, a: [null, "é"] },
      extra: "ignored",
      "\u20ac": true,
    };
    expect(serialize(record)).toBe(
      canonicalJson({ id: "x", seq: 3, after_state: record.after_state, "\u20ac": true }),
    );
    expect(serialize({})).toBe("{}");
  });
});
