// Turns what a client posted into normalized events ready for the queue: validate every item,
// apply defaults, enforce the credential's tenant, redact secrets, stamp received_at. Either every
// item is valid and the whole request goes on, or nothing does.
import { v7 as uuidv7 } from "uuid";
import { type FieldError, fieldErrorsFromIssues, VigilError } from "../errors/vigil-error.ts";
import { canonicalFieldsJson } from "./canonical-json.ts";
import { sha256Hex } from "./event-hash.ts";
import { checkEventInput } from "./event-input-check.ts";
import { newEventSalt } from "./event-salt.ts";
import { EVENT_LIMITS, type EventInput, eventInputSchema, type NormalizedEvent } from "./event-schema.ts";
import {
  holdsRedactable,
  type KeyMatcher,
  REDACTED_VALUE,
  RedactedPathList,
  redactValue,
} from "./redaction.ts";

export interface IngestContext {
  /** The credential's tenant; null for platform admins, who must name `tenant_id` in each event. */
  tenantId: string | null;
  isSensitiveKey: KeyMatcher;
  now?: Date;
}

const STATE_FIELDS = ["before_state", "after_state", "metadata"] as const;

function hasOwnProtoKey(value: unknown): boolean {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) && Object.hasOwn(value, "__proto__")
  );
}

/** The oldest `occurred_at` accepted per tenant (its retention), looked up by the caller. */
export type RetentionLookup = (tenantId: string) => Promise<Date | null>;

/** Canonical text of an IPv6 address (lower case, zeros compressed), so equal addresses hash equally. */
function canonicalIp(address: string): string {
  if (!address.includes(":")) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/**
 * What the client sent, as hashed into payload_hash: canonical JSON (RFC 8785) of the input's own
 * fields, serialized over the schema's fixed field list (the same bytes as canonicalJson of the object).
 */
const payloadJson = canonicalFieldsJson(Object.keys(eventInputSchema.shape));

/**
 * What every event of one request shares: the clock, read once (all are received at the same
 * instant), and the default actions already derived.
 */
interface RequestClock {
  now: Date;
  nowIso: string;
  defaultActions: Map<string, string>;
}

/** `<resource_type>.<action_type lowercased>`, within the action's pattern and length. */
function defaultAction(input: EventInput, clock: RequestClock): string {
  const key = `${input.action_type}\u0000${input.resource_type}`;
  let action = clock.defaultActions.get(key);
  if (action === undefined) {
    action = `${input.resource_type}.${input.action_type}`
      .toLowerCase()
      .replace(/[^a-z0-9_.:-]/g, "_")
      .slice(0, 128);
    clock.defaultActions.set(key, action);
  }
  return action;
}

function normalizeOne(
  input: EventInput,
  context: IngestContext,
  clock: RequestClock,
  errors: FieldError[],
  index?: number,
) {
  const at = (path: string, message: string) =>
    errors.push({ path, message, ...(index === undefined ? {} : { index }) });
  const now = clock.now;

  if (context.tenantId && input.tenant_id && input.tenant_id.toLowerCase() !== context.tenantId) {
    throw new VigilError("TENANT_MISMATCH", "tenant_id does not match the credential's tenant", [
      {
        path: "tenant_id",
        message: "must equal the credential's tenant",
        ...(index === undefined ? {} : { index }),
      },
    ]);
  }
  const tenantId = context.tenantId ?? input.tenant_id?.toLowerCase();
  if (!tenantId) {
    at("tenant_id", "is required for platform-admin credentials");
    return null;
  }
  if (
    input.occurred_at &&
    input.created_at &&
    Date.parse(input.occurred_at) !== Date.parse(input.created_at)
  ) {
    at("created_at", "is an alias of occurred_at; send one of them");
  }
  const occurredInput = input.occurred_at ?? input.created_at;
  const occurredAt = occurredInput ? new Date(occurredInput) : now;
  const occurredIso = occurredInput ? occurredAt.toISOString() : clock.nowIso;
  if (occurredAt.getTime() > now.getTime() + EVENT_LIMITS.maxFutureSkewMs) {
    at(input.occurred_at ? "occurred_at" : "created_at", "must not be more than 5 minutes in the future");
  }

  const redacted = new RedactedPathList();
  const redactField = (field: (typeof STATE_FIELDS)[number]) => {
    const value = input[field];
    if (!value) return null;
    // Most states hold no secret: then the input's own object (parsed for this request) is kept.
    return holdsRedactable(value, context.isSensitiveKey)
      ? (redactValue(value, context.isSensitiveKey, field, redacted) as Record<string, unknown>)
      : value;
  };
  const before_state = redactField("before_state");
  const after_state = redactField("after_state");
  const metadata = redactField("metadata");

  // What the client said, after redaction: a retry of the same request hashes the same, even when
  // server defaults (id, occurred_at) were filled in differently.
  const payload_hash = sha256Hex(
    payloadJson({
      id: input.id,
      tenant_id: tenantId,
      occurred_at: occurredInput ? occurredIso : undefined,
      action_type: input.action_type,
      action: input.action,
      resource_type: input.resource_type,
      resource_id: input.resource_id,
      user_id: input.user_id,
      session_id: input.session_id,
      ip_address: input.ip_address,
      user_agent: input.user_agent,
      severity: input.severity,
      outcome: input.outcome,
      before_state,
      after_state,
      metadata,
    } satisfies Record<Exclude<keyof EventInput, "created_at">, unknown>),
  );

  const event: NormalizedEvent = {
    id: input.id?.toLowerCase() ?? uuidv7(),
    tenant_id: tenantId,
    occurred_at: occurredIso,
    received_at: clock.nowIso,
    action_type: input.action_type,
    action: input.action ?? defaultAction(input, clock),
    resource_type: input.resource_type,
    resource_id: input.resource_id,
    user_id: input.user_id ?? null,
    session_id: input.session_id ?? null,
    ip_address: input.ip_address ? canonicalIp(input.ip_address) : null,
    user_agent: input.user_agent ?? null,
    severity: input.severity ?? "INFO",
    outcome: input.outcome ?? "success",
    before_state,
    after_state,
    metadata,
    redacted: redacted.toList(),
    payload_hash,
    // Fresh per event and outside payload_hash: a client retry is still recognised as the same event.
    salt: newEventSalt(),
  };
  return event;
}

function eventTooLarge(message: string, index: number | undefined): VigilError {
  return new VigilError("PAYLOAD_TOO_LARGE", `an event must be at most ${EVENT_LIMITS.maxEventBytes} bytes`, [
    { path: "(event)", message, ...(index === undefined ? {} : { index }) },
  ]);
}

/** More than the defaults, ids and hashes normalization adds to an event's JSON (~1 KiB). */
const NORMALIZATION_GROWTH_BYTES = 4 * 1024;

/**
 * The limits hold for the event as it will be stored, not only as sent: a redacted value may be
 * longer than the one it replaces (`{"ssn":0}` grows by 11 bytes), so a state that fit as sent may
 * not once redacted. Whatever passes here, the queue codec carries and the worker stores. Measured
 * exactly only when it can matter (something was redacted, or the event was near the limit as sent).
 */
function fitsAsStored(event: NormalizedEvent, sentBytes: number, errors: FieldError[], index?: number) {
  const redacted = event.redacted.length > 0;
  if (!redacted && sentBytes + NORMALIZATION_GROWTH_BYTES <= EVENT_LIMITS.maxEventBytes) return true;
  let fits = true;
  for (const field of redacted ? STATE_FIELDS : []) {
    const state = event[field];
    if (state && Buffer.byteLength(JSON.stringify(state)) > EVENT_LIMITS.maxStateBytes) {
      fits = false;
      errors.push({
        path: field,
        message: `must be at most ${EVENT_LIMITS.maxStateBytes} bytes serialized after redaction (a redacted value is stored as "${REDACTED_VALUE}")`,
        ...(index === undefined ? {} : { index }),
      });
    }
  }
  if (fits && Buffer.byteLength(JSON.stringify(event)) > EVENT_LIMITS.maxEventBytes)
    throw eventTooLarge("event too large as stored (after redaction and defaults)", index);
  return fits;
}

/**
 * Validates and normalizes a batch of raw items (already JSON-parsed). Throws one VigilError listing
 * every problem (with `index` for bulk) so the client can fix all of them in one round trip.
 */
export async function prepareEvents(
  items: unknown[],
  context: IngestContext,
  oldestAllowed: RetentionLookup,
  options: { bulk: boolean },
): Promise<NormalizedEvent[]> {
  const errors: FieldError[] = [];
  const prepared: Array<{ event: NormalizedEvent; position: number }> = [];
  const now = context.now ?? new Date();
  const clock: RequestClock = { now, nowIso: now.toISOString(), defaultActions: new Map() };
  items.forEach((item, position) => {
    const index = options.bulk ? position : undefined;
    // A valid item's size is bounded by what the check measured; otherwise (or near the limit) measured.
    const checked = checkEventInput(item);
    const sentBytes =
      checked && checked.maxBytes + NORMALIZATION_GROWTH_BYTES <= EVENT_LIMITS.maxEventBytes
        ? checked.maxBytes
        : Buffer.byteLength(JSON.stringify(item) ?? "");
    if (sentBytes > EVENT_LIMITS.maxEventBytes) throw eventTooLarge("event too large", index);
    const protoField = STATE_FIELDS.find((field) =>
      hasOwnProtoKey((item as Record<string, unknown> | null)?.[field]),
    );
    if (protoField) {
      // zod's record parsing would silently drop it, losing part of the event.
      errors.push({
        path: `${protoField}.__proto__`,
        message: "the key __proto__ is not allowed",
        ...(index === undefined ? {} : { index }),
      });
      return;
    }
    let input = checked?.input;
    if (!input) {
      const parsed = eventInputSchema.safeParse(item);
      if (!parsed.success) {
        errors.push(...fieldErrorsFromIssues(parsed.error.issues, index));
        return;
      }
      input = parsed.data;
    }
    const event = normalizeOne(input, context, clock, errors, index);
    if (event && fitsAsStored(event, sentBytes, errors, index)) prepared.push({ event, position });
  });

  const seenIds = new Set<string>();
  prepared.forEach(({ event, position }) => {
    if (seenIds.has(event.id)) {
      errors.push({
        path: "id",
        message: "appears more than once in this request",
        ...(options.bulk ? { index: position } : {}),
      });
    }
    seenIds.add(event.id);
  });

  if (errors.length === 0) {
    const cutoffs = new Map<string, Date | null>();
    for (const { event, position } of prepared) {
      if (!cutoffs.has(event.tenant_id)) cutoffs.set(event.tenant_id, await oldestAllowed(event.tenant_id));
      const cutoff = cutoffs.get(event.tenant_id);
      if (cutoff && Date.parse(event.occurred_at) < cutoff.getTime()) {
        errors.push({
          path: "occurred_at",
          message: "is older than the tenant's retention period",
          ...(options.bulk ? { index: position } : {}),
        });
      }
    }
  }

  if (errors.length > 0) {
    throw new VigilError(
      "VALIDATION_FAILED",
      `${errors.length} problem${errors.length === 1 ? "" : "s"} in the request: ${errors[0]?.path} ${errors[0]?.message}`,
      errors.slice(0, 100),
    );
  }
  return prepared.map(({ event }) => event);
}
