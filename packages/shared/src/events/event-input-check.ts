// A hand-written pass equal to `eventInputSchema` on what it accepts, for the ingest hot path: zod
// builds a copy and runs a closure per check (~a third of the api's validation cost per event).
// It answers only "certainly valid" or "ask zod": anything it does not accept goes through the
// schema, which stays the one definition and names the field in every error (and the OpenAPI
// document). A property test holds the two in agreement (event-input-check.test.ts).
import { ACTION_TYPES, EVENT_LIMITS, OUTCOMES, SEVERITIES } from "./event-constants.ts";
import { type EventInput, eventInputSchema } from "./event-schema.ts";
import { isStorable } from "./storable-text.ts";

const ACTION_PATTERN = /^[a-z0-9_.:-]+$/;
const ACTION_TYPE_SET = new Set<unknown>(ACTION_TYPES);
const SEVERITY_SET = new Set<unknown>(SEVERITIES);
const OUTCOME_SET = new Set<unknown>(OUTCOMES);

/** Fields whose format (UUID, RFC 3339, IP address) is checked by the schema's own field parser. */
const FORMAT_FIELDS = ["id", "tenant_id", "occurred_at", "created_at", "ip_address"] as const;
type FormatField = (typeof FORMAT_FIELDS)[number];
const formatParsers: Record<FormatField, { safeParse(value: unknown): { success: boolean } }> = {
  id: eventInputSchema.shape.id,
  tenant_id: eventInputSchema.shape.tenant_id,
  occurred_at: eventInputSchema.shape.occurred_at,
  created_at: eventInputSchema.shape.created_at,
  ip_address: eventInputSchema.shape.ip_address,
};

/** A text field's maximum length as the schema states it (none stated: 0, so zod decides). */
const maxLength = (schema: { maxLength: number | null }) => schema.maxLength ?? 0;
const shape = eventInputSchema.shape;
const ACTION_MAX = maxLength(shape.action.unwrap().unwrap());

/** Text fields: [field, max length, required]; the limits are the schema's own. */
const TEXT_FIELDS: ReadonlyArray<readonly [keyof EventInput, number, boolean]> = [
  ["resource_type", maxLength(shape.resource_type), true],
  ["resource_id", maxLength(shape.resource_id), true],
  ["user_id", maxLength(shape.user_id.unwrap().unwrap()), false],
  ["session_id", maxLength(shape.session_id.unwrap().unwrap()), false],
  ["user_agent", maxLength(shape.user_agent.unwrap().unwrap()), false],
];
const STATE_FIELDS = ["before_state", "after_state", "metadata"] as const;

const KNOWN_FIELDS = new Set<string>(Object.keys(eventInputSchema.shape));

/** More than the keys, punctuation and enum values of an event's JSON take. */
const FRAME_BYTES = 1024;

/** At least the bytes of a string's JSON (every UTF-16 unit escaped as `\uXXXX` at worst). */
const maxStringBytes = (value: string) => 6 * value.length + 2;

export interface CheckedEventInput {
  input: EventInput;
  /** At least the byte size of `JSON.stringify(input)` (an upper bound, not the exact size). */
  maxBytes: number;
}

/** The input typed when it certainly matches the schema; undefined means "let the schema decide". */
export function checkEventInput(item: unknown): CheckedEventInput | undefined {
  if (item === null || typeof item !== "object" || Object.getPrototypeOf(item) !== Object.prototype)
    return undefined;
  const record = item as Record<string, unknown>;
  for (const key in record) if (!KNOWN_FIELDS.has(key)) return undefined;
  if (!ACTION_TYPE_SET.has(record.action_type)) return undefined;
  if (record.severity != null && !SEVERITY_SET.has(record.severity)) return undefined;
  if (record.outcome != null && !OUTCOME_SET.has(record.outcome)) return undefined;
  const action = record.action;
  if (
    action != null &&
    (typeof action !== "string" || action.length > ACTION_MAX || !ACTION_PATTERN.test(action))
  )
    return undefined;
  let maxBytes = FRAME_BYTES + (action == null ? 0 : maxStringBytes(action));
  for (const [field, max, required] of TEXT_FIELDS) {
    const value = record[field];
    if (value == null) {
      if (required) return undefined;
      continue;
    }
    if (typeof value !== "string" || value.length > max || (required && value.length === 0)) return undefined;
    if (!isStorable(value)) return undefined;
    maxBytes += maxStringBytes(value);
  }
  for (const field of FORMAT_FIELDS) {
    const value = record[field];
    if (value == null) continue;
    if (!formatParsers[field].safeParse(value).success) return undefined;
    maxBytes += maxStringBytes(value as string);
  }
  for (const field of STATE_FIELDS) {
    const value = record[field];
    if (value == null) continue;
    if (
      typeof value !== "object" ||
      Array.isArray(value) ||
      Object.getPrototypeOf(value) !== Object.prototype
    )
      return undefined;
    // The schema's record parse drops an own `__proto__` key; prepare-events refuses it by name.
    if (Object.hasOwn(value, "__proto__")) return undefined;
    let bytes = stateBytesBound(value, 1);
    if (bytes < 0) return undefined;
    // Near the limit the bound is not enough: measure as the schema does.
    if (bytes > EVENT_LIMITS.maxStateBytes) bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > EVENT_LIMITS.maxStateBytes) return undefined;
    maxBytes += bytes;
  }
  return { input: record as EventInput, maxBytes };
}

/** More than the JSON of any finite number takes (`-1.7976931348623157e+308` is 24 characters). */
const MAX_NUMBER_BYTES = 25;

/**
 * An upper bound of the bytes of `JSON.stringify(value)` for a state, or -1 when findJsonProblem
 * would find a problem (nesting beyond the limit, a non-finite number, unstorable text). One walk
 * and no allocation, where measuring exactly would serialize the state.
 */
function stateBytesBound(value: object, depth: number): number {
  if (depth > EVENT_LIMITS.maxJsonDepth) return -1;
  let bytes = 2;
  const add = (child: unknown): boolean => {
    switch (typeof child) {
      case "string":
        if (!isStorable(child)) return false;
        bytes += maxStringBytes(child) + 1;
        return true;
      case "number":
        if (!Number.isFinite(child)) return false;
        bytes += MAX_NUMBER_BYTES + 1;
        return true;
      case "object": {
        if (child === null) {
          bytes += 5;
          return true;
        }
        const inner = stateBytesBound(child, depth + 1);
        bytes += inner + 1;
        return inner >= 0;
      }
      default:
        bytes += 6;
        return true;
    }
  };
  if (Array.isArray(value)) {
    for (const child of value) if (!add(child)) return -1;
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!isStorable(key)) return -1;
      bytes += maxStringBytes(key) + 1;
      if (!add(record[key])) return -1;
    }
  }
  return bytes;
}
