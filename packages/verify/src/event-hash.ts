// The event hash (spec §3, §13): hex SHA-256 of the RFC 8785 canonical JSON of the stored fields
// the hash covers, including the per-event `salt` (absent on events stored before salts existed).
// A self-contained copy of the service's rule, so the verifier depends on none of Vigil's code.
import { canonicalize } from "./canonical-json.ts";
import { toHex, utf8Encode } from "./encoding.ts";
import { sha256 } from "./sha256.ts";

/** Every field the event hash covers; any other field of an exported event is not covered. */
export const EVENT_HASHED_FIELDS = [
  "id",
  "tenant_id",
  "seq",
  "occurred_at",
  "received_at",
  "action_type",
  "action",
  "resource_type",
  "resource_id",
  "user_id",
  "session_id",
  "ip_address",
  "user_agent",
  "severity",
  "outcome",
  "before_state",
  "after_state",
  "metadata",
  "redacted",
  "salt",
] as const;

/** The object the hash is taken over: the covered fields present on `event` (a null salt counts as none). */
export function hashedEventFields(event: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const field of EVENT_HASHED_FIELDS) {
    const value = event[field];
    if (value === undefined || (field === "salt" && value === null)) continue;
    picked[field] = value;
  }
  return picked;
}

/** The covered fields in canonical order with their encoded names, computed once. */
const SORTED_FIELDS = [...EVENT_HASHED_FIELDS]
  .sort()
  .map((field) => ({ field, name: `${JSON.stringify(field)}:` }));

/**
 * The canonical JSON of the event's covered fields: equal to canonicalize(hashedEventFields(event)),
 * without building the intermediate object or sorting its names for every event.
 */
export function canonicalEventJson(event: Record<string, unknown>): string {
  let out = "";
  for (const { field, name } of SORTED_FIELDS) {
    const value = event[field];
    if (value === undefined || (value === null && field === "salt")) continue;
    out += `${out === "" ? "" : ","}${name}${canonicalize(value)}`;
  }
  return `{${out}}`;
}

/** Hex SHA-256 of the canonical JSON of the event's covered fields. */
export function computeEventHash(event: Record<string, unknown>): string {
  return toHex(sha256(utf8Encode(canonicalEventJson(event))));
}
