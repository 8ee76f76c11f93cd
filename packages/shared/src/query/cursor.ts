// Opaque keyset cursors. A cursor names the tenant and a fingerprint of the filters and sort it was
// issued for, so it cannot be replayed against another tenant or another query. It also pins the
// time window the first page resolved (`w`), so a default "last N days" window does not slide
// under a client paging through it. Cursors are not secret: tampering with one can only narrow
// a query within the caller's own tenant, which RLS enforces regardless.

import { VigilError } from "../errors/vigil-error.ts";
import { canonicalJson } from "../events/canonical-json.ts";
import { sha256Hex } from "../events/event-hash.ts";

export interface CursorPosition {
  /** The sort key of the last row returned (ISO time or seq). */
  key: string | number;
  seq: number;
  /** Start of the time window the first page resolved (ISO), reused by every following page. */
  windowFrom?: string;
}

interface CursorBody extends CursorPosition {
  v: 1;
  t: string;
  f: string;
  w?: string;
}

export function queryFingerprint(query: Record<string, unknown>): string {
  return sha256Hex(canonicalJson(query)).slice(0, 16);
}

export function encodeCursor(tenantId: string, fingerprint: string, position: CursorPosition): string {
  const body: CursorBody = { v: 1, t: tenantId, f: fingerprint, key: position.key, seq: position.seq };
  if (position.windowFrom) body.w = position.windowFrom;
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

export function decodeCursor(cursor: string, tenantId: string, fingerprint: string): CursorPosition {
  const invalid = (detail: string) =>
    new VigilError("INVALID_CURSOR", detail, [{ path: "cursor", message: detail }]);
  let body: Partial<CursorBody>;
  try {
    body = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid("cursor is not valid");
  }
  if (
    body?.v !== 1 ||
    typeof body.seq !== "number" ||
    !Number.isSafeInteger(body.seq) ||
    (typeof body.key !== "string" && typeof body.key !== "number")
  ) {
    throw invalid("cursor is not valid");
  }
  if (body.t !== tenantId) throw invalid("cursor was issued for another tenant");
  if (body.f !== fingerprint) throw invalid("cursor was issued for a different filter or sort");
  if (typeof body.key === "string" && Number.isNaN(Date.parse(body.key)))
    throw invalid("cursor is not valid");
  if (body.w !== undefined && (typeof body.w !== "string" || Number.isNaN(Date.parse(body.w))))
    throw invalid("cursor is not valid");
  return { key: body.key, seq: body.seq, ...(body.w ? { windowFrom: body.w } : {}) };
}
