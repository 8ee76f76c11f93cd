// The event input rules of schema v1 (spec §3) as plain TypeScript, so the SDK validates locally
// with no dependency. The server's zod schema (packages/shared/src/events/event-schema.ts) is the
// source of truth: test/event-rules.test.ts runs generated inputs through both and asserts they agree.

import * as contract from "../../shared/src/events/event-constants.ts";

// Declared here (not re-exported) so the published types inline them instead of pointing outside.
export const ACTION_TYPES = contract.ACTION_TYPES;
export const SEVERITIES = contract.SEVERITIES;
export const OUTCOMES = contract.OUTCOMES;
export const EVENT_LIMITS = contract.EVENT_LIMITS;

export type ActionType = (typeof ACTION_TYPES)[number];
export type Severity = (typeof SEVERITIES)[number];
export type Outcome = (typeof OUTCOMES)[number];
export type JsonObject = { [key: string]: unknown };

/** What one event may carry (spec §3). Unknown fields are rejected. */
export interface AuditEvent {
  id?: string | null;
  tenant_id?: string | null;
  occurred_at?: string | null;
  created_at?: string | null;
  action_type: ActionType;
  action?: string | null;
  resource_type: string;
  resource_id: string;
  user_id?: string | null;
  session_id?: string | null;
  ip_address?: string | null;
  user_agent?: string | null;
  severity?: Severity | null;
  outcome?: Outcome | null;
  before_state?: JsonObject | null;
  after_state?: JsonObject | null;
  metadata?: JsonObject | null;
}

export interface RuleViolation {
  path: string;
  message: string;
}

const UUID =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;
const DATE = String.raw`(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))`;
const RFC3339 = new RegExp(
  String.raw`^${DATE}T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$`,
);
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
const IPV6_ALPHABET = /^[0-9a-fA-F:.]+$/;
const ACTION = /^[a-z0-9_.:-]+$/;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_MESSAGE = "must not contain U+0000 or unpaired surrogates";

/** One native scan finds the rare strings worth the exact check. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is one of the characters to find
const SUSPECT = /[\u0000\ud800-\udfff]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: every ASCII character, control ones included
const ASCII_ONLY = /^[\u0000-\u007f]*$/;

const isStorable = (value: string): boolean =>
  !SUSPECT.test(value) || (!value.includes("\u0000") && !UNPAIRED_SURROGATE.test(value));

/** Set by depthOf when it meets a string or key PostgreSQL cannot store (one walk checks both). */
let unstorableSeen = false;

function depthOf(node: unknown): number {
  if (typeof node === "string") {
    if (!unstorableSeen && !isStorable(node)) unstorableSeen = true;
    return 0;
  }
  if (node === null || typeof node !== "object") return 0;
  let deepest = 0;
  if (Array.isArray(node)) {
    for (let index = 0; index < node.length; index++) {
      const depth = depthOf(node[index]);
      if (depth > deepest) deepest = depth;
      if (deepest > EVENT_LIMITS.maxJsonDepth) break;
    }
  } else {
    const keys = Object.keys(node);
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index]!;
      if (!unstorableSeen && !isStorable(key)) unstorableSeen = true;
      const depth = depthOf((node as JsonObject)[key]);
      if (depth > deepest) deepest = depth;
      if (deepest > EVENT_LIMITS.maxJsonDepth) break;
    }
  }
  return deepest + 1;
}

/** Nesting depth and storable text of a JSON object in one walk (log() runs this on every event). */
function inspectJson(value: unknown): { depth: number; storable: boolean } {
  unstorableSeen = false;
  const depth = depthOf(value);
  return { depth, storable: !unstorableSeen };
}

function isValidIpv6(value: string): boolean {
  // As zod checks it: the alphabet, then the URL parser (which takes embedded IPv4 too).
  if (!IPV6_ALPHABET.test(value)) return false;
  try {
    new URL(`http://[${value}]`);
    return true;
  } catch {
    return false;
  }
}

/** Bytes of `text` encoded as UTF-8 (a lone surrogate becomes U+FFFD, 3 bytes, as in Buffer/TextEncoder). */
export function utf8Length(text: string): number {
  if (ASCII_ONLY.test(text)) return text.length;
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Nesting depth of a JSON value: a scalar is 0, `{}` is 1, `{"a":{}}` is 2 (as the server counts). */
export function jsonDepth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let deepest = 0;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, jsonDepth(child));
    if (deepest > EVENT_LIMITS.maxJsonDepth) break;
  }
  return deepest + 1;
}

/** A plain `{}` or `Object.create(null)` object: not an array, a Date or a class instance. */
export function isPlainObject(value: unknown): value is JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

type FieldRule = (value: unknown, context: RuleContext) => string | null;

/** What the caller already knows about the whole event, so that the rules skip work it makes redundant. */
interface RuleContext {
  /** The UTF-8 size of the event's JSON: at or under 64 KiB no state can be larger, no state is serialized again. */
  eventBytes: number | undefined;
  /** Every string and key is storable (the JSON text holds no `\u` escape). */
  textStorable: boolean;
  /** No state can nest deeper than the limit (the JSON text holds at most 17 `{`/`[`). */
  shallow: boolean;
}

const absent = (value: unknown) => value === undefined || value === null;

const text =
  (min: number, max: number, optional: boolean): FieldRule =>
  (value, context) => {
    if (absent(value)) return optional ? null : "is required";
    if (typeof value !== "string") return "must be a string";
    if (value.length < min) return "must not be empty";
    if (value.length > max) return `must be at most ${max} characters`;
    return context.textStorable || isStorable(value) ? null : UNSTORABLE_MESSAGE;
  };

const oneOf = (values: readonly string[], optional: boolean): FieldRule => {
  const message = `must be one of ${values.join(", ")}`;
  return (value) => {
    if (absent(value)) return optional ? null : "is required";
    return typeof value === "string" && values.includes(value) ? null : message;
  };
};

const matching =
  (pattern: RegExp, message: string): FieldRule =>
  (value) =>
    absent(value) || (typeof value === "string" && pattern.test(value)) ? null : message;

const actionText = text(1, 128, true);
const actionPattern = matching(ACTION, "must match [a-z0-9_.:-]+");

const jsonObjectRule: FieldRule = (value, context) => {
  if (absent(value)) return null;
  if (!isPlainObject(value)) return "must be a JSON object";
  if (!context.shallow || !context.textStorable) {
    const { depth, storable } = inspectJson(value);
    if (depth > EVENT_LIMITS.maxJsonDepth)
      return `nesting depth must be at most ${EVENT_LIMITS.maxJsonDepth}`;
    if (!storable) return UNSTORABLE_MESSAGE;
  }
  const small = context.eventBytes !== undefined && context.eventBytes <= EVENT_LIMITS.maxStateBytes;
  if (!small && utf8Length(JSON.stringify(value)) > EVENT_LIMITS.maxStateBytes)
    return `must be at most ${EVENT_LIMITS.maxStateBytes} bytes serialized`;
  return null;
};

const FIELD_RULES: Record<keyof AuditEvent, FieldRule> = {
  id: matching(UUID, "must be a UUID"),
  tenant_id: matching(UUID, "must be a UUID"),
  occurred_at: matching(RFC3339, "must be an RFC 3339 date-time with a time zone"),
  created_at: matching(RFC3339, "must be an RFC 3339 date-time with a time zone"),
  action_type: oneOf(ACTION_TYPES, false),
  action: (value, context) => actionText(value, context) ?? actionPattern(value, context),
  resource_type: text(1, 128, false),
  resource_id: text(1, 256, false),
  user_id: text(0, 256, true),
  session_id: text(0, 256, true),
  ip_address: (value) =>
    absent(value) || (typeof value === "string" && (IPV4.test(value) || isValidIpv6(value)))
      ? null
      : "must be an IPv4 or IPv6 address",
  user_agent: text(0, 1024, true),
  severity: oneOf(SEVERITIES, true),
  outcome: oneOf(OUTCOMES, true),
  before_state: jsonObjectRule,
  after_state: jsonObjectRule,
  metadata: jsonObjectRule,
};

export const EVENT_FIELDS = Object.keys(FIELD_RULES) as Array<keyof AuditEvent>;

const UNKNOWN_FIELD_MESSAGE = "is not a known field";

/** The first own key of `input` that is not an event field, as a violation (log() checks it before copying). */
export function unknownFieldViolation(input: JsonObject): RuleViolation | undefined {
  for (const key in input) {
    if (Object.hasOwn(input, key) && !Object.hasOwn(FIELD_RULES, key))
      return { path: key, message: UNKNOWN_FIELD_MESSAGE };
  }
  return undefined;
}
const RULES = EVENT_FIELDS.map((field) => FIELD_RULES[field]);

/** True when `json` has at most `limit` opening brackets (counting any inside strings: a bound, never an undercount). */
function fewContainers(json: string, limit: number): boolean {
  let count = 0;
  for (let at = json.indexOf("{"); at !== -1; at = json.indexOf("{", at + 1))
    if (++count > limit) return false;
  for (let at = json.indexOf("["); at !== -1; at = json.indexOf("[", at + 1))
    if (++count > limit) return false;
  return true;
}

export interface ShapeCheckOptions {
  /** The UTF-8 size of the whole event's JSON: at or under 64 KiB no state is serialized again. */
  serializedBytes?: number;
  /**
   * `JSON.stringify(input)`, when the caller has it. JSON.stringify escapes U+0000 and unpaired
   * surrogates as `\u…`, and a state nests no deeper than the number of brackets in the text: an
   * event whose text has no `\u` and few brackets needs no walk of its states.
   */
  json?: string;
  /** The caller has refused unknown keys already (log(), with unknownFieldViolation, before copying). */
  knownFieldsOnly?: boolean;
  /** Fields the caller generated itself in a valid form (log()'s own UUIDv7 and timestamp): not re-checked. */
  generated?: { id?: boolean; occurred_at?: boolean };
}

/**
 * The shape rules of the server's `eventInputSchema`: every violation, empty when the input is valid.
 * (Request-level rules — event size, future skew, duplicate ids — are checked by the client.)
 * The options only skip work whose answer they already give; the result is the same without them.
 */
export function eventShapeViolations(input: unknown, options: ShapeCheckOptions = {}): RuleViolation[] {
  if (!isPlainObject(input)) return [{ path: "(event)", message: "must be a JSON object" }];
  const violations: RuleViolation[] = [];
  if (!options.knownFieldsOnly) {
    for (const key in input) {
      if (Object.hasOwn(input, key) && !Object.hasOwn(FIELD_RULES, key))
        violations.push({ path: key, message: UNKNOWN_FIELD_MESSAGE });
    }
  }
  const { json, generated } = options;
  const context: RuleContext = {
    eventBytes: options.serializedBytes,
    // The event itself is one of the brackets; each state's depth is at most the rest.
    shallow: json !== undefined && fewContainers(json, EVENT_LIMITS.maxJsonDepth + 1),
    textStorable: json !== undefined && !json.includes("\\u"),
  };
  const skipId = generated?.id === true;
  const skipTime = generated?.occurred_at === true;
  for (let index = 0; index < RULES.length; index++) {
    const field = EVENT_FIELDS[index]!;
    if ((skipId && field === "id") || (skipTime && field === "occurred_at")) continue;
    const message = RULES[index]!(input[field], context);
    if (message) violations.push({ path: field, message });
  }
  return violations;
}
