// Keyset cursors are opaque to clients, signed, and must not be replayable against another
// tenant or query, nor edited (window start, keys) to widen a search.
import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { VigilError } from "../src/errors/vigil-error.ts";
import { decodeCursor, encodeCursor, queryFingerprint } from "../src/query/cursor.ts";

const KEY = randomBytes(32);
const TENANT = "0190a0a0-0000-7000-8000-000000000001";
const OTHER_TENANT = "0190a0a0-0000-7000-8000-000000000002";
const fingerprint = queryFingerprint({ sort: "-occurred_at", severity: ["ERROR"] });

function decodeError(cursor: string, tenantId = TENANT, print = fingerprint, key = KEY): VigilError {
  try {
    decodeCursor(key, cursor, tenantId, print);
  } catch (error) {
    if (error instanceof VigilError) return error;
    throw error;
  }
  throw new Error("expected decodeCursor to reject");
}

/** A cursor body signed with `key`: what someone holding the deployment key could make. */
function sign(body: unknown, key = KEY): string {
  const encoded = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `${encoded}.${createHmac("sha256", key).update(encoded).digest("base64url")}`;
}

describe("cursor", () => {
  test.each([
    { key: "2026-01-02T03:04:05.678Z", seq: 42 },
    { key: 17, seq: 17 },
    { key: "2026-01-02T03:04:05.678Z", seq: Number.MAX_SAFE_INTEGER, windowFrom: "2026-01-01T00:00:00.000Z" },
  ])("round-trips the position %j", (position) => {
    const cursor = encodeCursor(KEY, TENANT, fingerprint, position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(decodeCursor(KEY, cursor, TENANT, fingerprint)).toEqual(position);
  });

  test("the fingerprint ignores key order but not values", () => {
    expect(queryFingerprint({ a: 1, b: [2] })).toBe(queryFingerprint({ b: [2], a: 1 }));
    expect(queryFingerprint({ a: 1 })).not.toBe(queryFingerprint({ a: 2 }));
    expect(queryFingerprint({ sort: "seq" })).not.toBe(queryFingerprint({ sort: "-seq" }));
  });

  test("a cursor from another tenant is refused as a 400 naming the cursor", () => {
    const error = decodeError(encodeCursor(KEY, OTHER_TENANT, fingerprint, { key: 1, seq: 1 }));
    expect(error.code).toBe("INVALID_CURSOR");
    expect(error.status).toBe(400);
    expect(error.errors).toEqual([{ path: "cursor", message: expect.stringMatching(/another tenant/) }]);
  });

  test("a cursor from another filter or sort is refused", () => {
    const cursor = encodeCursor(KEY, TENANT, queryFingerprint({ sort: "seq" }), { key: 1, seq: 1 });
    expect(decodeError(cursor).detail).toMatch(/different filter or sort/);
  });

  test("an edited cursor is refused: changing the window start breaks the signature", () => {
    const cursor = encodeCursor(KEY, TENANT, fingerprint, {
      key: "2026-01-02T03:04:05.678Z",
      seq: 5,
      windowFrom: "2026-01-01T00:00:00.000Z",
    });
    const [body, mac] = cursor.split(".");
    const edited = JSON.parse(Buffer.from(body!, "base64url").toString());
    edited.w = "1970-01-01T00:00:00.000Z";
    const forged = `${Buffer.from(JSON.stringify(edited)).toString("base64url")}.${mac}`;
    expect(decodeError(forged).detail).toBe("cursor is not valid");
    // Signed by another deployment (another key): refused too.
    expect(decodeError(cursor, TENANT, fingerprint, randomBytes(32)).detail).toBe("cursor is not valid");
    // An unsigned cursor of the previous format is refused.
    expect(decodeError(body!).code).toBe("INVALID_CURSOR");
  });

  test.each([
    ["garbage", "!!!not-a-cursor!!!"],
    ["empty", ""],
    ["three parts", "a.b.c"],
    ["signed non-JSON", `${Buffer.from("hello").toString("base64url")}.x`],
    ["JSON null", sign(null)],
    ["JSON number", sign(5)],
    ["wrong version", sign({ v: 1, t: TENANT, f: fingerprint, key: 1, seq: 1 })],
    ["missing seq", sign({ v: 2, t: TENANT, f: fingerprint, key: 1 })],
    ["fractional seq", sign({ v: 2, t: TENANT, f: fingerprint, key: 1, seq: 1.5 })],
    ["negative seq", sign({ v: 2, t: TENANT, f: fingerprint, key: 1, seq: -1 })],
    ["string seq", sign({ v: 2, t: TENANT, f: fingerprint, key: 1, seq: "1" })],
    ["object key", sign({ v: 2, t: TENANT, f: fingerprint, key: { a: 1 }, seq: 1 })],
    [
      "key out of PostgreSQL's date range",
      sign({ v: 2, t: TENANT, f: fingerprint, key: "-271821-04-20T00:00:00.000Z", seq: 1 }),
    ],
    ["numeric key out of range", sign({ v: 2, t: TENANT, f: fingerprint, key: 1e300, seq: 1 })],
    [
      "key that is no time",
      sign({ v: 2, t: TENANT, f: fingerprint, key: "'; drop table events; --", seq: 1 }),
    ],
    [
      "window start that is no time",
      sign({ v: 2, t: TENANT, f: fingerprint, key: 1, seq: 1, w: "+275760-09-13T00:00:00.000Z" }),
    ],
  ])("a forged or broken cursor (%s) is a 400, never a crash", (_label, cursor) => {
    const error = decodeError(cursor);
    expect(error.code).toBe("INVALID_CURSOR");
    expect(error.errors?.[0]?.path).toBe("cursor");
  });
});
