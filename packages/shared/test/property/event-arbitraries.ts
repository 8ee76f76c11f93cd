// fast-check generators of what clients post to the ingest door: events over schema v1, valid and
// not, with the adversarial shapes that broke it before — nesting at and past the depth limit,
// states packed with redactable keys, strings and states near the size limits, unicode including
// unstorable text, odd numbers (±0, subnormals, the largest doubles, non-finite), secret-shaped
// values and header lists. Shared by the property test and bench/ingest-invariant.ts.
import fc from "fast-check";
import { ACTION_TYPES, EVENT_LIMITS, OUTCOMES, SEVERITIES } from "../../src/events/event-schema.ts";

const KIB = 1024;

/** Stands for a number beyond double range in generated items; toBodyText writes it as 1e400. */
const NON_FINITE = "~~non-finite~~";
const NON_FINITE_IN_TEXT = new RegExp(`"${NON_FINITE}(-?)"`, "g");

/** Keys a client may use, weighted towards the ones redaction cares about. */
const keyArb = fc.oneof(
  { weight: 20, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 15,
    arbitrary: fc.constantFrom(
      "ssn",
      "password",
      "pwd",
      "passphrase",
      "credentials",
      "auth",
      "Authorization",
      "x-api-key",
      "clientSecret",
      "cookies",
      "token",
      "value",
      "name",
      "__proto__",
      "constructor",
      "amount",
      "",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  { weight: 5, arbitrary: fc.nat({ max: 3000 }).map((length) => `k${"y".repeat(length)}`) },
);

const secretValueArb = fc.constantFrom(
  "Bearer 0123456789abcdef0123456789abcdef",
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
  `vgl_${"Ab1".repeat(14)}`,
  "AKIAIOSFODNN7EXAMPLE",
  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n-----END EC PRIVATE KEY-----",
);

const numberArb = fc.oneof(
  { weight: 20, arbitrary: fc.integer() },
  { weight: 10, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      0,
      -0,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.MAX_SAFE_INTEGER + 2,
      1e21,
      1e-7,
    ),
  },
  // 1e400 and -1e400 in the body text (see toBodyText), ±Infinity once parsed: must be refused.
  { weight: 1, arbitrary: fc.constantFrom(NON_FINITE, `${NON_FINITE}-`) },
);

const textArb = fc.oneof(
  { weight: 25, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 15, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  // Lone surrogates and U+0000 included: PostgreSQL cannot store them, so they must be refused.
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 5, arbitrary: secretValueArb },
);

const scalarArb = fc.oneof(
  { weight: 3, arbitrary: textArb },
  { weight: 3, arbitrary: numberArb },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Name/value pairs as HAR and fetch `Headers` dumps carry them. */
const headerNameArb = fc.constantFrom(
  "Authorization",
  "Cookie",
  "Set-Cookie",
  "Accept",
  "X-Request-Id",
  "auth",
);
const headerListArb = fc.oneof(
  fc.array(fc.record({ name: headerNameArb, value: fc.oneof(textArb, fc.constant(null)) }), { maxLength: 4 }),
  fc.array(
    fc.tuple(
      headerNameArb.map((name) => name.toLowerCase()),
      textArb,
    ),
    { maxLength: 4 },
  ),
);

/** Ordinary client JSON: small objects and arrays a few levels deep. */
const { state: plainStateArb } = fc.letrec<{ value: unknown; state: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalarArb,
    tie("state"),
    fc.array(tie("value"), { maxLength: 4 }),
    headerListArb,
  ),
  state: fc.dictionary(keyArb, tie("value"), { maxKeys: 5 }),
}));

/** `{"a":{"a":…}}` with `levels` levels (1 = `{}`), the innermost holding `leaf`. */
function nestedState(levels: number, leaf: unknown): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf };
  for (let level = 1; level < levels; level++) value = { a: value };
  return value;
}

/** A state of `count` `{"ssn":0}` (or another redactable key) under one key of `keyLength` characters. */
function redactableBomb(count: number, keyLength: number, key: string): Record<string, unknown> {
  return { [`k${"x".repeat(keyLength)}`]: Array.from({ length: count }, () => ({ [key]: 0 })) };
}

/** A state whose serialized size is about `bytes` (one long string of one- to four-byte characters). */
function stateOfSize(bytes: number, char: string): Record<string, unknown> {
  const charBytes = new TextEncoder().encode(char).length;
  return { blob: char.repeat(Math.max(0, Math.floor((bytes - 12) / charBytes))) };
}

/** The shapes that broke the door: built directly, so generating them stays cheap. */
const adversarialStateArb = fc.oneof(
  fc
    .tuple(fc.integer({ min: EVENT_LIMITS.maxJsonDepth - 2, max: EVENT_LIMITS.maxJsonDepth + 2 }), scalarArb)
    .map(([levels, leaf]) => nestedState(levels, leaf)),
  fc
    .tuple(
      fc.integer({ min: 1, max: 7000 }),
      fc.nat({ max: 2000 }),
      fc.constantFrom("ssn", "pwd", "password"),
    )
    .map(([count, keyLength, key]) => redactableBomb(count, keyLength, key)),
  fc
    .tuple(
      fc.integer({ min: EVENT_LIMITS.maxStateBytes - 2 * KIB, max: EVENT_LIMITS.maxStateBytes + KIB }),
      fc.constantFrom("a", "é", "€", "😀"),
    )
    .map(([bytes, char]) => stateOfSize(bytes, char)),
  fc
    .array(fc.tuple(keyArb, fc.oneof(secretValueArb, fc.nat())), { minLength: 50, maxLength: 400 })
    .map((entries) =>
      Object.fromEntries(entries.map(([key, value], index) => [`password_${index}${key}`, value])),
    ),
);

const stateArb = fc.oneof(
  { weight: 6, arbitrary: plainStateArb },
  { weight: 3, arbitrary: adversarialStateArb },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Text of exactly the limit, one over, or ordinary; sometimes of another type. */
function limitedText(max: number) {
  return fc.oneof(
    { weight: 40, arbitrary: fc.string({ minLength: 1, maxLength: 24 }) },
    { weight: 3, arbitrary: fc.constantFrom(max, max + 1).map((length) => "r".repeat(length)) },
    { weight: 6, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
    { weight: 1, arbitrary: fc.oneof(fc.constant(""), fc.integer(), fc.constant(null)) },
  );
}

/** Times around now: past (within and beyond a year of retention), up to 10 minutes ahead, odd forms. */
function occurredAtArb(now: Date) {
  return fc.oneof(
    {
      weight: 20,
      arbitrary: fc
        .integer({ min: -400 * 86_400_000, max: 10 * 60_000 })
        .map((offset) => new Date(now.getTime() + offset).toISOString()),
    },
    {
      weight: 5,
      arbitrary: fc
        .integer({ min: -86_400_000, max: 0 })
        .map((offset) => new Date(now.getTime() + offset).toISOString().replace("Z", "+05:30")),
    },
    { weight: 1, arbitrary: fc.constantFrom("2024-02-30T00:00:00Z", "not a date", "0000-01-01T00:00:00Z") },
  );
}

const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 2 });

/** One item of a POST body (a JS value, as JSON.parse would hand it over). */
export function eventItemArb(options: { now: Date; tenantId: string }) {
  return fc
    .record(
      {
        id: optional(
          fc.oneof({ weight: 9, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constant("not-a-uuid") }),
        ),
        tenant_id: optional(fc.constantFrom(options.tenantId, options.tenantId.toUpperCase())),
        occurred_at: optional(occurredAtArb(options.now)),
        action_type: fc.oneof(
          { weight: 30, arbitrary: fc.constantFrom(...ACTION_TYPES) },
          { weight: 1, arbitrary: fc.constantFrom("create", "PURGE") },
        ),
        action: optional(
          fc.oneof(
            { weight: 9, arbitrary: fc.stringMatching(/^[a-z0-9_.:-]{1,128}$/) },
            { weight: 1, arbitrary: fc.constantFrom("Invoice.Approve", "a".repeat(129)) },
          ),
        ),
        resource_type: limitedText(128),
        resource_id: limitedText(256),
        user_id: optional(limitedText(256)),
        session_id: optional(limitedText(256)),
        ip_address: optional(
          fc.oneof(
            { weight: 5, arbitrary: fc.ipV4() },
            { weight: 5, arbitrary: fc.ipV6() },
            { weight: 1, arbitrary: fc.constant("999.1.1.1") },
          ),
        ),
        user_agent: optional(limitedText(1024)),
        severity: optional(fc.constantFrom(...SEVERITIES)),
        outcome: optional(fc.constantFrom(...OUTCOMES)),
        before_state: optional(stateArb),
        after_state: optional(stateArb),
        metadata: optional(stateArb),
        unexpected_field: fc.oneof(
          { weight: 30, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constant(1) },
        ),
      },
      { requiredKeys: ["action_type", "resource_type", "resource_id"] },
    )
    .map((item) => {
      // Absent, not undefined: what JSON.parse would hand over.
      for (const key of Object.keys(item))
        if ((item as Record<string, unknown>)[key] === undefined)
          delete (item as Record<string, unknown>)[key];
      return item;
    });
}

/**
 * The body text a client would send for `item`: JSON, with each NON_FINITE marker written as the
 * number 1e400 (or -1e400), which JSON.parse turns into ±Infinity, as in the api.
 */
export function toBodyText(item: unknown): string {
  const text = JSON.stringify(item);
  return text.includes(NON_FINITE) ? text.replace(NON_FINITE_IN_TEXT, "$11e400") : text;
}

/** `count` items, reproducibly from `seed` (for scripts outside this package, which cannot import fast-check). */
export function sampleEventItems(
  options: { now: Date; tenantId: string },
  count: number,
  seed: number,
): unknown[] {
  return fc.sample(eventItemArb(options), { numRuns: count, seed });
}
