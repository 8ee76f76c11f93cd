// One source of truth: the SDK's dependency-free event rules must accept exactly what the server's
// zod schema accepts. fast-check generates near-valid and hostile inputs and runs them through both.
import { eventInputSchema, EVENT_LIMITS as SERVER_LIMITS } from "@vigil/shared/events/event-schema";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { EVENT_LIMITS, eventShapeViolations, utf8Length } from "../src/event-rules.ts";
import { isoTime } from "../src/iso-time.ts";
import { uuidv7 } from "../src/uuidv7.ts";

const tricky = fc.constantFrom(
  "",
  " ",
  "a",
  "A",
  "x".repeat(128),
  "x".repeat(129),
  "x".repeat(256),
  "x".repeat(257),
  "x".repeat(1025),
  "a\u0000b",
  "\ud800",
  "ok\udc00",
  "😀",
  "invoice.approve",
  "Invoice.Approve",
  "a b",
  "2026-01-01T00:00:00Z",
  "2026-01-01T00:00:00.123+02:00",
  "2026-02-29T00:00:00Z",
  "2024-02-29T00:00:00Z",
  "2026-01-01T24:00:00Z",
  "2026-01-01 00:00:00Z",
  "2026-01-01T00:00Z",
  "2026-01-01T00:00:00",
  "2026-01-01t00:00:00z",
  "127.0.0.1",
  "256.0.0.1",
  "01.2.3.4",
  "::1",
  "::ffff:1.2.3.4",
  "2001:db8::1",
  "2001:db8:::1",
  "fe80::1%eth0",
  "::1\n",
  "::@1",
  "0190b1d4-8f7e-7c2a-9d3e-1a2b3c4d5e6f",
  "0190B1D4-8F7E-7C2A-9D3E-1A2B3C4D5E6F",
  "0190b1d4-8f7e-9c2a-9d3e-1a2b3c4d5e6f",
  "0190b1d4-8f7e-7c2a-cd3e-1a2b3c4d5e6f",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "CREATE",
  "VIEW",
  "create",
  "INFO",
  "CRITICAL",
  "success",
  "failure",
  "Failure",
);

const anyText = fc.oneof(tricky, fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 10 }));
const scalar = fc.oneof(
  anyText,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 3 }),
  object: fc.dictionary(anyText, tie("value"), { maxKeys: 4 }),
})).value;

function deepObject(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let level = 1; level < depth; level++) value = { nested: value };
  return value;
}
const stateValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.dictionary(anyText, jsonish, { maxKeys: 5 }),
  jsonish,
  fc.integer({ min: 14, max: 18 }).map(deepObject),
  fc.integer({ min: 65_500, max: 65_560 }).map((size) => ({ blob: "x".repeat(size) })),
  fc.integer({ min: 21_830, max: 21_860 }).map((size) => ({ blob: "€".repeat(size) })),
);

const field = (values: fc.Arbitrary<unknown>) =>
  fc.oneof(fc.constant(undefined), fc.constant(null), values, scalar);
const eventLike = fc.record(
  {
    id: field(anyText),
    tenant_id: field(anyText),
    occurred_at: field(anyText),
    created_at: field(anyText),
    action_type: field(fc.constantFrom("CREATE", "UPDATE", "DELETE", "VIEW")),
    action: field(anyText),
    resource_type: field(anyText),
    resource_id: field(anyText),
    user_id: field(anyText),
    session_id: field(anyText),
    ip_address: field(anyText),
    user_agent: field(anyText),
    severity: field(fc.constantFrom("INFO", "WARNING", "ERROR", "CRITICAL")),
    outcome: field(fc.constantFrom("success", "failure")),
    before_state: stateValue,
    after_state: stateValue,
    metadata: stateValue,
    surprise: fc.constant(1),
  },
  { requiredKeys: [] },
);

/** Keys a JSON body can carry: undefined fields are absent on the wire. */
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value) ?? "null");

describe("the SDK's event rules and the server's eventInputSchema", () => {
  test("share their limits", () => {
    expect(EVENT_LIMITS).toEqual(SERVER_LIMITS);
  });

  test("agree on acceptance and on the failing fields for generated events", () => {
    fc.assert(
      fc.property(eventLike, (generated) => {
        const input = asJson(generated);
        const server = eventInputSchema.safeParse(input);
        const local = eventShapeViolations(input);
        expect(local.length === 0, JSON.stringify(input).slice(0, 300)).toBe(server.success);
        // log()'s path: the whole event's size is known, so small states are not serialized again.
        const json = JSON.stringify(input);
        const sized = eventShapeViolations(input, { serializedBytes: utf8Length(json) });
        expect(sized).toEqual(local);
        // log()'s fast path: the JSON text stands in for the walk over the states when it can.
        expect(eventShapeViolations(input, { serializedBytes: utf8Length(json), json })).toEqual(local);
        if (!server.success) {
          const serverFields = new Set(
            server.error.issues
              .filter((issue) => issue.code !== "unrecognized_keys")
              .map((issue) => String(issue.path[0] ?? "(event)")),
          );
          const unknownKeys = server.error.issues.flatMap((issue) =>
            issue.code === "unrecognized_keys" ? issue.keys : [],
          );
          for (const key of unknownKeys) serverFields.add(key);
          expect(new Set(local.map((violation) => violation.path))).toEqual(serverFields);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  test("the JSON-text shortcuts never hide a violation the walk finds", () => {
    const base = { action_type: "VIEW", resource_type: "a", resource_id: "b" };
    const cases = [
      { ...base, metadata: { "k\u0000": 1 } }, // an unstorable key
      { ...base, metadata: { k: ["\ud800"] } }, // a lone surrogate deep in an array
      { ...base, metadata: { k: "\\u0000 is text" } }, // a literal backslash-u: storable
      { ...base, metadata: deepObject(17) }, // 18 brackets in all: walked
      { ...base, metadata: deepObject(16), after_state: { list: [[], [], [], []] } }, // many brackets, shallow
      { ...base, metadata: { list: Array.from({ length: 40 }, () => ({})) } },
      { ...base, user_id: "a\u0000b" },
    ].map((input) => JSON.parse(JSON.stringify(input)));
    for (const input of cases) {
      const json = JSON.stringify(input);
      const fast = eventShapeViolations(input, { serializedBytes: utf8Length(json), json });
      expect(fast).toEqual(eventShapeViolations(input));
      expect(fast.length === 0).toBe(eventInputSchema.safeParse(input).success);
    }
  });

  test("log()'s own timestamp is exactly toISOString() and passes the server's schema", () => {
    const base = Date.UTC(2026, 11, 31, 23, 59, 58, 0);
    const instants = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 2000, 2001, 86_400_000].map(
      (offset) => base + offset,
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (now) => {
        instants.push(now);
      }),
      { numRuns: 500 },
    );
    for (const now of instants) {
      expect(isoTime(now)).toBe(new Date(now).toISOString());
      const event = { action_type: "VIEW", resource_type: "a", resource_id: "b", occurred_at: isoTime(now) };
      expect(eventInputSchema.safeParse(event).success).toBe(true);
    }
  });

  test("agree on non-objects", () => {
    for (const input of [null, 1, "x", [], [{}], true]) {
      expect(eventShapeViolations(input).length === 0).toBe(eventInputSchema.safeParse(input).success);
    }
  });

  test("utf8Length equals the encoder's byte count, surrogates included", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
      }),
      { numRuns: 2_000 },
    );
  });

  test("uuidv7 ids are valid v7 UUIDs for the server, time-ordered and distinct", () => {
    const ids = Array.from({ length: 5_000 }, (_, index) => uuidv7(1_700_000_000_000 + index));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids.slice(0, 100)) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(
        eventInputSchema.safeParse({ id, action_type: "VIEW", resource_type: "a", resource_id: "b" }).success,
      ).toBe(true);
    }
    expect(uuidv7(0x0190b1d48f7e).slice(0, 13)).toBe("0190b1d4-8f7e");
  });
});
