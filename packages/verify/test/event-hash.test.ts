// Two independent implementations of the event hash — the service's (packages/shared) and this
// package's own — must agree on every event, salted or not; and the canonical form is RFC 8785's.
import { describe, expect, it } from "vitest";
import { computeEventHash as serviceEventHash } from "../../shared/src/events/event-hash.ts";
import { HASHED_FIELDS } from "../../shared/src/events/event-schema.ts";
import {
  canonicalEventJson,
  canonicalize,
  computeEventHash,
  EVENT_HASHED_FIELDS,
  hashedEventFields,
} from "../src/index.ts";
import { makeEvent } from "./fixtures.ts";

describe("event hash", () => {
  it("covers the service's hashed fields plus the salt", () => {
    expect(new Set(EVENT_HASHED_FIELDS)).toEqual(new Set([...HASHED_FIELDS, "salt"]));
  });

  it("agrees with the service's implementation on 3,000 varied events", () => {
    for (let seq = 1; seq <= 3000; seq++) {
      const event = makeEvent(seq, { salt: seq % 3 !== 0 });
      const { hash, ...fields } = event;
      expect(canonicalEventJson(fields)).toBe(canonicalize(hashedEventFields(fields)));
      expect(computeEventHash(fields), `seq ${seq}`).toBe(serviceEventHash(fields as never));
      expect(hash).toBe(serviceEventHash(fields as never));
    }
  });

  it("treats a null salt as no salt, as the service does", () => {
    const { salt: _salt, hash: _hash, ...unsalted } = makeEvent(1, { salt: false });
    expect(computeEventHash({ ...unsalted, salt: null })).toBe(
      serviceEventHash({ ...unsalted, salt: null } as never),
    );
    expect(computeEventHash({ ...unsalted, salt: null })).toBe(computeEventHash(unsalted));
  });

  it("changes with any covered field and ignores fields it does not cover", () => {
    const { hash, ...event } = makeEvent(42);
    expect(computeEventHash({ ...event, hash_version: 9, erased: null })).toBe(hash);
    for (const field of EVENT_HASHED_FIELDS) {
      expect(computeEventHash({ ...event, [field]: "changed" }), field).not.toBe(hash);
    }
  });

  it("canonicalises as RFC 8785 (sorted by UTF-16 code units, ES number form, minimal escapes)", () => {
    expect(
      canonicalize({ b: [1e21, 1e-7, -0, 0.1, 100], a: "\u20ac\u0000\n", "\ud83d\ude00": 1, "\ufb33": 2 }),
    ).toBe('{"a":"\u20ac\\u0000\\n","b":[1e+21,1e-7,0,0.1,100],"\ud83d\ude00":1,"\ufb33":2}');
    expect(canonicalize({ z: undefined, y: null })).toBe('{"y":null}');
  });
});
