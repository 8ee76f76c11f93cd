// The hand-written ingest check must never accept what the event schema refuses, and must hand the
// same data on, so the fast path changes no answer: zod still decides (and names the field) for
// everything the check does not accept.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { checkEventInput } from "../src/events/event-input-check.ts";
import { eventInputSchema } from "../src/events/event-schema.ts";
import { eventItemArb, toBodyText } from "./property/event-arbitraries.ts";

const NOW = new Date();
const TENANT = "0190a0a0-0000-7000-8000-0000000000aa";

function agree(item: unknown) {
  const checked = checkEventInput(item);
  const parsed = eventInputSchema.safeParse(item);
  if (checked) {
    expect(parsed.success).toBe(true);
    expect(checked.input).toEqual(parsed.data);
    expect(checked.maxBytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(item)));
  }
  return { checked: checked !== undefined, valid: parsed.success };
}

describe("checkEventInput agrees with eventInputSchema", () => {
  test("1,000 generated items (valid, invalid, adversarial): accepted only when the schema accepts, with the same data", () => {
    let fast = 0;
    let valid = 0;
    fc.assert(
      fc.property(eventItemArb({ now: NOW, tenantId: TENANT }), (item) => {
        // Through JSON text, as the api receives it (non-finite markers become ±Infinity).
        const result = agree(JSON.parse(toBodyText(item)));
        if (result.checked) fast++;
        if (result.valid) valid++;
      }),
      { numRuns: 1000, seed: 20261207 },
    );
    // The fast path takes the valid ones (only format edge cases are left to zod).
    expect(fast).toBeGreaterThan(valid * 0.9);
  });

  test.each([
    ["an unknown field", { action_type: "VIEW", resource_type: "a", resource_id: "b", extra: 1 }],
    ["an empty resource_type", { action_type: "VIEW", resource_type: "", resource_id: "b" }],
    [
      "resource_id of 257 characters",
      { action_type: "VIEW", resource_type: "a", resource_id: "x".repeat(257) },
    ],
    ["a NUL in user_id", { action_type: "VIEW", resource_type: "a", resource_id: "b", user_id: "a\u0000" }],
    ["an unpaired surrogate", { action_type: "VIEW", resource_type: "a\ud800", resource_id: "b" }],
    ["an action in capitals", { action_type: "VIEW", resource_type: "a", resource_id: "b", action: "A.b" }],
    ["an empty action", { action_type: "VIEW", resource_type: "a", resource_id: "b", action: "" }],
    ["a lower-case action_type", { action_type: "view", resource_type: "a", resource_id: "b" }],
    ["a bad severity", { action_type: "VIEW", resource_type: "a", resource_id: "b", severity: "info" }],
    ["a bad outcome", { action_type: "VIEW", resource_type: "a", resource_id: "b", outcome: "ok" }],
    [
      "a bad uuid",
      { action_type: "VIEW", resource_type: "a", resource_id: "b", id: "0190a0a0-0000-7000-8000" },
    ],
    [
      "a date without zone",
      { action_type: "VIEW", resource_type: "a", resource_id: "b", occurred_at: "2026-12-07T10:00:00" },
    ],
    ["a bad ip", { action_type: "VIEW", resource_type: "a", resource_id: "b", ip_address: "999.1.1.1" }],
    ["an array as state", { action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: [1] }],
    ["a string as state", { action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: "x" }],
    [
      "an infinite number",
      { action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: { n: Infinity } },
    ],
    ["a NUL key", { action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: { "a\u0000": 1 } }],
    ["17 levels", { action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: nest(17) }],
    [
      "a state over 64 KiB",
      { action_type: "VIEW", resource_type: "a", resource_id: "b", metadata: { s: "x".repeat(65536) } },
    ],
    ["a number as resource_id", { action_type: "VIEW", resource_type: "a", resource_id: 7 }],
    ["an array", [{ action_type: "VIEW", resource_type: "a", resource_id: "b" }]],
    ["null", null],
  ])("%s is left to the schema, which refuses it", (_, item) => {
    expect(agree(item)).toEqual({ checked: false, valid: false });
  });

  test("edge values the schema accepts are accepted with the same data", () => {
    const item = {
      id: "0190A0A0-0000-7000-8000-0000000000AB",
      occurred_at: "2026-12-07T10:00:00.123456+01:00",
      action_type: "DELETE",
      action: "a:b.c_d-e",
      resource_type: "r".repeat(128),
      resource_id: "é🙂",
      user_id: null,
      ip_address: "::1",
      severity: "CRITICAL",
      outcome: "failure",
      metadata: nest(16),
      before_state: null,
    };
    expect(agree(item)).toEqual({ checked: true, valid: true });
  });
});

function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < levels; level++) value = { a: value };
  return value;
}
