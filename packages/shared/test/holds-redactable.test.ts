// The api skips redaction's copy when holdsRedactable says nothing would be replaced, so the two
// must agree on every state: a miss here would put a secret on the queue.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DEFAULT_REDACT_KEYS } from "../src/events/event-constants.ts";
import {
  holdsRedactable,
  RedactedPathList,
  redactValue,
  sensitiveKeyMatcher,
} from "../src/events/redaction.ts";
import { eventItemArb } from "./property/event-arbitraries.ts";

const isSensitive = sensitiveKeyMatcher(DEFAULT_REDACT_KEYS);

function agree(value: unknown): boolean {
  const list = new RedactedPathList();
  const copy = redactValue(value, isSensitive, "state", list);
  const holds = holdsRedactable(value, isSensitive);
  expect(holds).toBe(list.toList().length > 0);
  if (!holds) expect(copy).toEqual(value);
  return holds;
}

describe("holdsRedactable agrees with redactValue", () => {
  test("states of 2,000 generated events (secrets, header dumps, adversarial shapes)", () => {
    let holding = 0;
    fc.assert(
      fc.property(
        eventItemArb({ now: new Date(), tenantId: "0190a0a0-0000-7000-8000-0000000000aa" }),
        (item) => {
          for (const field of ["before_state", "after_state", "metadata"] as const) {
            const state = (item as Record<string, unknown>)[field];
            if (state !== undefined && agree(state)) holding++;
          }
        },
      ),
      { numRuns: 2000, seed: 20261207 },
    );
    expect(holding).toBeGreaterThan(50);
  });

  test.each([
    [{ password: null }, false],
    [{ password: 0 }, true],
    [{ a: { b: [{ name: "Authorization", value: "x" }] } }, true],
    [{ a: [["cookie", "x"]] }, true],
    [{ a: [["cookie", null]] }, false],
    [{ a: "Bearer abcdefghijklmnopqrstuvwxyz" }, true],
    [{ a: ["plain", 1, true, null, { b: "c" }] }, false],
    [{ name: "user", value: "x" }, false],
  ])("%j → %s", (state, expected) => {
    expect(agree(state)).toBe(expected);
  });
});
