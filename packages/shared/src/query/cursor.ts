// Opaque keyset cursors, signed. A cursor names the tenant and a fingerprint of the filters and
// sort it was issued for, so it cannot be replayed against another tenant or another query, and
// it pins the time window the first page resolved (`w`), so a default "last N days" window does
// not slide under a client paging through it. Every cursor carries an HMAC-SHA256 over its body
// with the deployment's cursor key (cursor-key.ts), so none of its fields can be edited; decoding
// also re-checks each field's shape and range, and search re-checks `w` against the window cap.
import { createHmac, timingSafeEqual } from "node:crypto";
import { VigilError } from "../errors/vigil-error.ts";
import { canonicalJson } from "../events/canonical-json.ts";
import { sha256Hex } from "../events/event-hash.ts";

/** The deployment's secret for cursor MACs (≥ 32 bytes). */
export type CursorKey = Buffer;

export interface CursorPosition {
  /** The sort key of the last row returned (ISO time or seq). */
  key: string | number;
  seq: number;
  /** Start of the time window the first page resolved (ISO), reused by every following page. */
  windowFrom?: string;
}

interface CursorBody extends CursorPosition {
  v: 2;
  t: string;
  f: string;
  w?: string;
}

/** Times a cursor may carry: what toISOString prints for years 0001–9999 (PostgreSQL's range and more). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function queryFingerprint(query: Record<string, unknown>): string {
  return sha256Hex(canonicalJson(query)).slice(0, 16);
}

function mac(key: CursorKey, body: string): Buffer {
  return createHmac("sha256", key).update(body).digest();
}

export function encodeCursor(
  key: CursorKey,
  tenantId: string,
  fingerprint: string,
  position: CursorPosition,
): string {
  const body: CursorBody = { v: 2, t: tenantId, f: fingerprint, key: position.key, seq: position.seq };
  if (position.windowFrom) body.w = position.windowFrom;
  const encoded = Buffer.from(JSON.stringify(body)).toString("base64url");
  return `${encoded}.${mac(key, encoded).toString("base64url")}`;
}

const isIsoTime = (value: unknown): value is string =>
  typeof value === "string" && ISO_TIME.test(value) && !Number.isNaN(Date.parse(value));

export function invalidCursor(detail: string): VigilError {
  return new VigilError("INVALID_CURSOR", detail, [{ path: "cursor", message: detail }]);
}

export function decodeCursor(
  key: CursorKey,
  cursor: string,
  tenantId: string,
  fingerprint: string,
): CursorPosition {
  const [encoded, signature, ...rest] = cursor.split(".");
  if (!encoded || !signature || rest.length > 0) throw invalidCursor("cursor is not valid");
  const given = Buffer.from(signature, "base64url");
  const expected = mac(key, encoded);
  // Forged or edited (or issued by another deployment): nothing in it is read.
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw invalidCursor("cursor is not valid");
  let body: Partial<CursorBody>;
  try {
    body = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor("cursor is not valid");
  }
  if (
    body?.v !== 2 ||
    typeof body.seq !== "number" ||
    !Number.isSafeInteger(body.seq) ||
    body.seq < 0 ||
    !(typeof body.key === "number" ? Number.isSafeInteger(body.key) && body.key >= 0 : isIsoTime(body.key)) ||
    (body.w !== undefined && !isIsoTime(body.w))
  ) {
    throw invalidCursor("cursor is not valid");
  }
  if (body.t !== tenantId) throw invalidCursor("cursor was issued for another tenant");
  if (body.f !== fingerprint) throw invalidCursor("cursor was issued for a different filter or sort");
  return { key: body.key as string | number, seq: body.seq, ...(body.w ? { windowFrom: body.w } : {}) };
}
