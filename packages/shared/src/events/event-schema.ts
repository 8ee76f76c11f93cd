// Event schema v1 — the single definition behind request validation, the OpenAPI document, the
// queue message and the TypeScript types. Field names are snake_case as in the seed API.
import { z } from "zod";
import { ACTION_TYPES, EVENT_LIMITS, OUTCOMES, SEVERITIES } from "./event-constants.ts";
import { findJsonProblem, JSON_PROBLEM_MESSAGES } from "./json-bounds.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "./storable-text.ts";

export { ACTION_TYPES, EVENT_LIMITS, OUTCOMES, SEVERITIES };

const optionalText = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).refine(isStorable, UNSTORABLE_MESSAGE).nullish();

const requiredText = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `must be at most ${max} characters`)
    .refine(isStorable, UNSTORABLE_MESSAGE);

export const rfc3339 = z.iso.datetime({
  offset: true,
  message: "must be an RFC 3339 date-time with a time zone",
});

/** A state or metadata object: bounded depth, finite numbers, storable text, ≤ 64 KiB as sent. */
const jsonObject = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const problem = findJsonProblem(value, EVENT_LIMITS.maxJsonDepth);
    if (problem) {
      ctx.addIssue({ code: "custom", message: JSON_PROBLEM_MESSAGES[problem](EVENT_LIMITS.maxJsonDepth) });
      return;
    }
    if (Buffer.byteLength(JSON.stringify(value)) > EVENT_LIMITS.maxStateBytes) {
      ctx.addIssue({
        code: "custom",
        message: `must be at most ${EVENT_LIMITS.maxStateBytes} bytes serialized`,
      });
    }
  })
  .nullish();

/** What a client may send for one event. Unknown fields are rejected. */
export const eventInputSchema = z.strictObject({
  id: z.uuid("must be a UUID").nullish(),
  tenant_id: z.uuid("must be a UUID").nullish(),
  occurred_at: rfc3339.nullish(),
  created_at: rfc3339.nullish(),
  action_type: z.enum(ACTION_TYPES, `must be one of ${ACTION_TYPES.join(", ")}`),
  action: z
    .string()
    .min(1, "must not be empty")
    .max(128, "must be at most 128 characters")
    .regex(/^[a-z0-9_.:-]+$/, "must match [a-z0-9_.:-]+")
    .nullish(),
  resource_type: requiredText(128),
  resource_id: requiredText(256),
  user_id: optionalText(256),
  session_id: optionalText(256),
  ip_address: z.union([z.ipv4(), z.ipv6()], { error: "must be an IPv4 or IPv6 address" }).nullish(),
  user_agent: optionalText(1024),
  severity: z.enum(SEVERITIES, `must be one of ${SEVERITIES.join(", ")}`).nullish(),
  outcome: z.enum(OUTCOMES, `must be one of ${OUTCOMES.join(", ")}`).nullish(),
  before_state: jsonObject,
  after_state: jsonObject,
  metadata: jsonObject,
});

export type EventInput = z.infer<typeof eventInputSchema>;

/**
 * An event as it travels on the queue: validated, defaults applied, secrets redacted, stamped with
 * `received_at`. The worker adds `seq` and `hash`.
 */
export const normalizedEventSchema = z.strictObject({
  id: z.uuid(),
  tenant_id: z.uuid(),
  occurred_at: z.iso.datetime(),
  received_at: z.iso.datetime(),
  action_type: z.enum(ACTION_TYPES),
  action: z.string().min(1).max(128),
  resource_type: z.string().min(1).max(128),
  resource_id: z.string().min(1).max(256),
  user_id: z.string().max(256).nullable(),
  session_id: z.string().max(256).nullable(),
  ip_address: z.string().max(64).nullable(),
  user_agent: z.string().max(1024).nullable(),
  severity: z.enum(SEVERITIES),
  outcome: z.enum(OUTCOMES),
  before_state: z.record(z.string(), z.unknown()).nullable(),
  after_state: z.record(z.string(), z.unknown()).nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  redacted: z.array(z.string()),
  /** SHA-256 of what the client sent (after redaction); tells a retry from a conflicting reuse of an id. */
  payload_hash: z.string().regex(/^[0-9a-f]{64}$/),
  /**
   * 16 random bytes (base64url) the event hash commits to (spec §13), so an erased field cannot be
   * recovered by guessing values against the hash. Never returned by ordinary reads. Optional on
   * the queue only for messages queued before salts existed; the worker salts those itself.
   */
  salt: z
    .string()
    .regex(/^[A-Za-z0-9_-]{22}$/)
    .optional(),
});

export type NormalizedEvent = z.infer<typeof normalizedEventSchema>;

/** Bytes of randomness in an event's salt. */
export const EVENT_SALT_BYTES = 16;

/** `hash_version` of a stored event: 1 = hashed without a salt (stored before salts), 2 = salted. */
export const HASH_VERSION = { unsalted: 1, salted: 2 } as const;

/** An event as stored and returned by every read path (the salt is never returned). */
export interface StoredEvent extends Omit<NormalizedEvent, "payload_hash" | "salt"> {
  seq: number;
  hash: string;
  /** Present once the event's personal data was erased (spec §13); the hash then cannot be recomputed. */
  erased?: { at: string; by: string; fields: string[] };
}

/** The exact field list the hash covers, in one place for the writer and the verifier. */
export const HASHED_FIELDS = [
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
] as const satisfies ReadonlyArray<keyof StoredEvent>;
