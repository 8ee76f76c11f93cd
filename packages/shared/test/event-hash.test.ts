// The stored hash must be recomputable from the stored fields alone, change with any one of them,
// and not depend on how a JSON object's keys happen to be ordered; the chain links events by seq.
import { describe, expect, test } from "vitest";
import { canonicalJson } from "../src/events/canonical-json.ts";
import {
  computeChainHash,
  computeEventHash,
  GENESIS_CHAIN_HASH,
  sha256Hex,
} from "../src/events/event-hash.ts";
import { HASHED_FIELDS, normalizedEventSchema, type StoredEvent } from "../src/events/event-schema.ts";

type HashedEvent = Omit<StoredEvent, "hash">;

function sampleEvent(): HashedEvent {
  return {
    id: "0190a0a0-0000-7000-8000-00000000000a",
    tenant_id: "0190a0a0-0000-7000-8000-000000000001",
    seq: 7,
    occurred_at: "2026-01-02T03:04:05.000Z",
    received_at: "2026-01-02T03:04:06.000Z",
    action_type: "UPDATE",
    action: "invoice.approve",
    resource_type: "invoice",
    resource_id: "inv-1",
    user_id: "u-1",
    session_id: "s-1",
    ip_address: "192.0.2.1",
    user_agent: "curl/8",
    severity: "WARNING",
    outcome: "success",
    before_state: { status: "draft", lines: [{ amount: 1.5 }] },
    after_state: { status: "approved", lines: [{ amount: 1.5 }] },
    metadata: { reason: "ok", password: "[REDACTED]" },
    redacted: ["metadata.password"],
  };
}

/** A different, still well-typed value for each hashed field. */
const CHANGED: { [K in (typeof HASHED_FIELDS)[number]]: HashedEvent[K] } = {
  id: "0190a0a0-0000-7000-8000-00000000000b",
  tenant_id: "0190a0a0-0000-7000-8000-000000000002",
  seq: 8,
  occurred_at: "2026-01-02T03:04:05.001Z",
  received_at: "2026-01-02T03:04:06.001Z",
  action_type: "DELETE",
  action: "invoice.reject",
  resource_type: "bill",
  resource_id: "inv-2",
  user_id: null,
  session_id: "s-2",
  ip_address: "192.0.2.2",
  user_agent: "curl/9",
  severity: "INFO",
  outcome: "failure",
  before_state: { status: "draft", lines: [{ amount: 1.25 }] },
  after_state: null,
  metadata: { reason: "ok", password: "[REDACTED]", extra: true },
  redacted: [],
};

describe("computeEventHash", () => {
  test("covers every stored field: the schema's fields (minus the payload fingerprint and the salt, hashed when present) plus seq", () => {
    const expected = [
      ...Object.keys(normalizedEventSchema.shape).filter(
        (field) => field !== "payload_hash" && field !== "salt",
      ),
      "seq",
    ];
    expect([...HASHED_FIELDS].sort()).toEqual(expected.sort());
  });

  test("is the hex SHA-256 of the canonical JSON of the stored fields, recomputable from a stored row", () => {
    const event = sampleEvent();
    const hash = computeEventHash(event);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(sha256Hex(canonicalJson(event)));
    // What a reader gets back (JSON round trip, plus the hash itself) recomputes to the same value.
    const stored: StoredEvent = JSON.parse(JSON.stringify({ ...event, hash }));
    const { hash: storedHash, ...fields } = stored;
    expect(computeEventHash(fields)).toBe(storedHash);
  });

  test("ignores fields outside the hashed list", () => {
    const event = sampleEvent();
    expect(computeEventHash({ ...event, payload_hash: "f".repeat(64) } as HashedEvent)).toBe(
      computeEventHash(event),
    );
  });

  test.each(HASHED_FIELDS)("changes when %s changes", (field) => {
    const event = sampleEvent();
    const changed = { ...event, [field]: CHANGED[field] };
    expect(computeEventHash(changed)).not.toBe(computeEventHash(event));
  });

  test("a one-character edit deep inside a state changes it", () => {
    const event = sampleEvent();
    const edited = { ...event, before_state: { status: "draft", lines: [{ amount: 1.6 }] } };
    expect(computeEventHash(edited)).not.toBe(computeEventHash(event));
  });

  test("does not depend on the key order of the event or its JSON objects", () => {
    const event = sampleEvent();
    const reversed = Object.fromEntries(Object.entries(event).reverse()) as HashedEvent;
    reversed.metadata = { password: "[REDACTED]", reason: "ok" };
    reversed.before_state = { lines: [{ amount: 1.5 }], status: "draft" };
    expect(computeEventHash(reversed)).toBe(computeEventHash(event));
  });

  test("a salt (hash_version 2) is one more field of the canonical JSON; no salt hashes as before", () => {
    const event = sampleEvent();
    const salt = "AAAAAAAAAAAAAAAAAAAAAA";
    expect(computeEventHash({ ...event, salt })).toBe(sha256Hex(canonicalJson({ ...event, salt })));
    expect(computeEventHash({ ...event, salt: null })).toBe(computeEventHash(event));
    expect(computeEventHash({ ...event, salt })).not.toBe(computeEventHash(event));
    expect(computeEventHash({ ...event, salt })).not.toBe(
      computeEventHash({ ...event, salt: "AAAAAAAAAAAAAAAAAAAAAQ" }),
    );
  });

  test("hashes a null field as an explicit null", () => {
    // The stored row always carries every column, so a null field is part of the hashed bytes.
    const event = { ...sampleEvent(), user_id: null };
    expect(canonicalJson(event)).toContain('"user_id":null');
  });
});

describe("computeChainHash", () => {
  test("links each event to the one before it, starting at the genesis hash", () => {
    const hashes = ["a", "b", "c"].map((letter) => sha256Hex(letter));
    const chain: string[] = [];
    let previous = GENESIS_CHAIN_HASH;
    for (const hash of hashes) {
      previous = computeChainHash(previous, hash);
      chain.push(previous);
    }
    expect(GENESIS_CHAIN_HASH).toBe("0".repeat(64));
    expect(chain[0]).toBe(sha256Hex(`${GENESIS_CHAIN_HASH}${hashes[0]}`));
    expect(chain[2]).toBe(sha256Hex(`${chain[1]}${hashes[2]}`));
    expect(new Set(chain).size).toBe(3);
  });

  test("detects a reordered or a removed event", () => {
    const [a, b, c] = ["a", "b", "c"].map((letter) => sha256Hex(letter)) as [string, string, string];
    const inOrder = computeChainHash(computeChainHash(computeChainHash(GENESIS_CHAIN_HASH, a), b), c);
    const swapped = computeChainHash(computeChainHash(computeChainHash(GENESIS_CHAIN_HASH, b), a), c);
    const withoutB = computeChainHash(computeChainHash(GENESIS_CHAIN_HASH, a), c);
    expect(swapped).not.toBe(inOrder);
    expect(withoutB).not.toBe(inOrder);
  });
});
