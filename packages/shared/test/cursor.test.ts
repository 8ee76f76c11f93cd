// Keyset cursors are opaque to clients but must not be replayable against another tenant or query.
import { describe, expect, test } from "vitest";
import { VigilError } from "../src/errors/vigil-error.ts";
import { decodeCursor, encodeCursor, queryFingerprint } from "../src/query/cursor.ts";

const TENANT = "0190a0a0-0000-7000-8000-000000000001";
const OTHER_TENANT = "0190a0a0-0000-7000-8000-000000000002";
const fingerprint = queryFingerprint({ sort: "-occurred_at", severity: ["ERROR"] });

function decodeError(cursor: string, tenantId = TENANT, print = fingerprint): VigilError {
  try {
    decodeCursor(cursor, tenantId, print);
  } catch (error) {
    if (error instanceof VigilError) return error;
    throw error;
  }
  throw new Error("expected decodeCursor to reject");
}

const forge = (body: unknown) => Buffer.from(JSON.stringify(body)).toString("base64url");

describe("cursor", () => {
  test.each([
    { key: "2026-01-02T03:04:05.678Z", seq: 42 },
    { key: 17, seq: 17 },
    { key: "2026-01-02T03:04:05.678Z", seq: Number.MAX_SAFE_INTEGER },
  ])("round-trips the position %j", (position) => {
    const cursor = encodeCursor(TENANT, fingerprint, position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, TENANT, fingerprint)).toEqual(position);
  });

  test("the fingerprint ignores key order but not values", () => {
    expect(queryFingerprint({ a: 1, b: [2] })).toBe(queryFingerprint({ b: [2], a: 1 }));
    expect(queryFingerprint({ a: 1 })).not.toBe(queryFingerprint({ a: 2 }));
    expect(queryFingerprint({ sort: "seq" })).not.toBe(queryFingerprint({ sort: "-seq" }));
  });

  test("a cursor from another tenant is refused as a 400 naming the cursor", () => {
    const error = decodeError(encodeCursor(OTHER_TENANT, fingerprint, { key: 1, seq: 1 }));
    expect(error.code).toBe("INVALID_CURSOR");
    expect(error.status).toBe(400);
    expect(error.errors).toEqual([{ path: "cursor", message: expect.stringMatching(/another tenant/) }]);
  });

  test("a cursor from another filter or sort is refused", () => {
    const cursor = encodeCursor(TENANT, queryFingerprint({ sort: "seq" }), { key: 1, seq: 1 });
    expect(decodeError(cursor).detail).toMatch(/different filter or sort/);
  });

  test.each([
    ["garbage", "!!!not-a-cursor!!!"],
    ["empty", ""],
    ["base64 of non-JSON", Buffer.from("hello").toString("base64url")],
    ["JSON null", forge(null)],
    ["JSON number", forge(5)],
    ["wrong version", forge({ v: 2, t: TENANT, f: fingerprint, key: 1, seq: 1 })],
    ["missing seq", forge({ v: 1, t: TENANT, f: fingerprint, key: 1 })],
    ["fractional seq", forge({ v: 1, t: TENANT, f: fingerprint, key: 1, seq: 1.5 })],
    ["string seq", forge({ v: 1, t: TENANT, f: fingerprint, key: 1, seq: "1" })],
    ["object key", forge({ v: 1, t: TENANT, f: fingerprint, key: { a: 1 }, seq: 1 })],
    [
      "key that is no time",
      forge({ v: 1, t: TENANT, f: fingerprint, key: "'; drop table events; --", seq: 1 }),
    ],
  ])("a forged or broken cursor (%s) is a 400, never a crash", (_label, cursor) => {
    const error = decodeError(cursor);
    expect(error.code).toBe("INVALID_CURSOR");
  });
});
