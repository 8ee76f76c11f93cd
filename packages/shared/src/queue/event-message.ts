// The SQS message format, versioned, shared by the producer (api) and the consumer (worker).
// One message carries many events of ONE tenant, packed up to the queue's size limit, so a bulk
// request of 1,000 events usually costs a single SendMessage call.
//
//   v2: {"v":2,"tenant_id":"…","events_gzip":"<base64 of the gzipped JSON array of events>"}
//   v1: {"v":1,"tenant_id":"…","events":[…]} — published only for small groups (≤ 4 KiB of JSON)
//
// Why v2: event JSON shrinks ~7× under gzip; the bytes the SDK escapes, the queue parses and AWS bills
// (per 64 KiB) cost more than the compression. Base64, because a body must be XML-safe text. The
// decoder reads both, so messages queued or dead-lettered before an upgrade are still stored.
import { promisify } from "node:util";
import { gunzipSync, gzip, gzipSync } from "node:zlib";
import { z } from "zod";
import { ACTION_TYPES, OUTCOMES, SEVERITIES } from "../events/event-constants.ts";
import { EVENT_LIMITS, type NormalizedEvent, normalizedEventSchema } from "../events/event-schema.ts";

/** The version the producer writes for all but small groups (see UNCOMPRESSED_MAX_BYTES). */
export const EVENT_MESSAGE_VERSION = 2;

/** SQS's (and the emulators') limit on one message body, and on one SendMessageBatch call. */
export const SQS_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Room for `{"v":2,"tenant_id":"…","events_gzip":""}` and the brackets of the raw event array. */
const ENVELOPE_OVERHEAD = 128;

/**
 * The most raw event JSON the producer packs into one message: what one v1 message held. One
 * event alone may exceed a smaller budget, never this: the api refuses events over
 * EVENT_LIMITS.maxEventBytes as queued (prepare-events), and packing refuses them too.
 */
export const MAX_PACKED_JSON_BYTES = Math.max(
  SQS_MAX_MESSAGE_BYTES,
  EVENT_LIMITS.maxEventBytes + ENVELOPE_OVERHEAD,
);

/**
 * The most a v2 body may inflate to; a larger one is refused without being inflated further, so a
 * hostile message cannot exhaust the worker's memory. Derived from what the producer packs, with
 * room for messages of other producer versions, so anything the api queued always decodes.
 */
export const MAX_INFLATED_MESSAGE_BYTES = 4 * MAX_PACKED_JSON_BYTES;

/** Level 1: ~half the CPU of the default level for ~15% more bytes (still ~6× smaller than v1). */
const GZIP_LEVEL = 1;

/**
 * Up to this raw size gzip runs inline (≤ ~0.2 ms): the thread-pool round trip would cost more CPU
 * than the compression. Larger groups (bulk requests, ~2.5 ms per 1,000 events) leave the event loop
 * free; one large output chunk keeps them to a single round trip.
 */
const INLINE_GZIP_MAX_BYTES = 64 * 1024;
const THREAD_POOL_GZIP = { level: GZIP_LEVEL, chunkSize: 256 * 1024 };

const eventListSchema = z.array(normalizedEventSchema).min(1);

const messageEnvelopeSchema = z.discriminatedUnion("v", [
  z.strictObject({ v: z.literal(1), tenant_id: z.uuid(), events: eventListSchema }),
  z.strictObject({ v: z.literal(2), tenant_id: z.uuid(), events_gzip: z.base64().min(1) }),
]);

/** A decoded message, whichever version it arrived in. */
export interface EventMessage {
  v: 1 | 2;
  tenant_id: string;
  events: NormalizedEvent[];
}

const gzipAsync = promisify(gzip);

/** Packs one tenant's events into as few message bodies as fit `maxMessageBytes` each. */
export async function encodeEventMessages(
  tenantId: string,
  events: NormalizedEvent[],
  maxMessageBytes: number,
  rawBytesPerMessage = maxMessageBytes,
): Promise<string[]> {
  const messages = await packEventMessages(
    tenantId,
    [{ events, owner: 0 }],
    maxMessageBytes,
    rawBytesPerMessage,
  );
  return messages.map((message) => message.body);
}

interface PackedEvent<Owner> {
  json: string;
  owner: Owner;
}

/**
 * Like encodeEventMessages for the events of several publishers of one tenant (the queue coalesces
 * concurrent publishes): each body says whose events it carries, so each publisher is acknowledged
 * only when every body holding its events is on the queue.
 *
 * Events are grouped by their raw JSON size up to `rawBytesPerMessage` (by default the message
 * limit, so a message holds as many events as a v1 message did and the worker's batches keep their
 * size), then each group is compressed once (large ones off the event loop). A group whose body
 * still exceeds `maxMessageBytes` (random-looking data: base64 adds back what gzip saved) is halved
 * and compressed again. An event is never split; one always fits because events are capped far
 * below the limit.
 */
export async function packEventMessages<Owner>(
  tenantId: string,
  parts: Array<{ events: NormalizedEvent[]; owner: Owner }>,
  maxMessageBytes: number,
  rawBytesPerMessage = maxMessageBytes,
): Promise<Array<{ body: string; owners: Set<Owner> }>> {
  const rawBudget = Math.min(rawBytesPerMessage, MAX_PACKED_JSON_BYTES);
  const groups: PackedEvent<Owner>[][] = [];
  let pending: PackedEvent<Owner>[] = [];
  let pendingBytes = ENVELOPE_OVERHEAD;
  for (const { events, owner } of parts) {
    for (const event of events) {
      if (event.tenant_id !== tenantId) throw new Error("encodeEventMessages: event of another tenant");
      const json = JSON.stringify(event);
      const bytes = Buffer.byteLength(json) + 1;
      // prepare-events refuses these (413); one reaching here is a bug, and must fail before a 2xx.
      if (bytes > EVENT_LIMITS.maxEventBytes + 1)
        throw new Error(`encodeEventMessages: an event of ${bytes} bytes is over the per-event limit`);
      if (pending.length > 0 && pendingBytes + bytes > rawBudget) {
        groups.push(pending);
        pending = [];
        pendingBytes = ENVELOPE_OVERHEAD;
      }
      pending.push({ json, owner });
      pendingBytes += bytes;
    }
  }
  if (pending.length > 0) groups.push(pending);

  const encodeGroup = async (
    group: PackedEvent<Owner>[],
  ): Promise<Array<{ body: string; owners: Set<Owner> }>> => {
    const body = await encodeBody(tenantId, group);
    if (body.length <= maxMessageBytes) return [{ body, owners: new Set(group.map((event) => event.owner)) }];
    if (group.length === 1) throw new Error(`encodeEventMessages: one event needs ${body.length} bytes`);
    const half = Math.ceil(group.length / 2);
    return [...(await encodeGroup(group.slice(0, half))), ...(await encodeGroup(group.slice(half)))];
  };
  return (await Promise.all(groups.map(encodeGroup))).flat();
}

/**
 * Below this raw size a message goes out as v1: gzip's fixed cost per call (~30 µs) buys nothing
 * there, since SQS bills per 64 KiB and a few events are one chunk either way. Single-event POSTs
 * mostly land here; bulk requests are far above it.
 */
const UNCOMPRESSED_MAX_BYTES = 4 * 1024;

/**
 * SQS accepts #x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD and above; JSON.stringify leaves U+FFFE/U+FFFF
 * raw. Characters above U+FFFF (emoji, 𝔘) are escaped too: the fauxqs emulator refuses them.
 */
function sqsSafe(json: string): string {
  return json.replace(/[\uFFFE\uFFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF]/g, (chars) =>
    Array.from({ length: chars.length }, (_, i) => `\\u${chars.charCodeAt(i).toString(16)}`).join(""),
  );
}

/**
 * A v1 body for a small group, else a v2 body. Their length is their byte size only for v2 (ASCII:
 * JSON punctuation, a uuid and base64); a v1 body is far below any limit, so the char count is safe.
 */
async function encodeBody(tenantId: string, events: Array<{ json: string }>): Promise<string> {
  const rawJson = `[${events.map((event) => event.json).join(",")}]`;
  if (rawJson.length <= UNCOMPRESSED_MAX_BYTES && Buffer.byteLength(rawJson) <= UNCOMPRESSED_MAX_BYTES)
    return `{"v":1,"tenant_id":${JSON.stringify(tenantId)},"events":${sqsSafe(rawJson)}}`;
  const raw = Buffer.from(rawJson);
  const compressed =
    raw.length <= INLINE_GZIP_MAX_BYTES
      ? gzipSync(raw, { level: GZIP_LEVEL })
      : await gzipAsync(raw, THREAD_POOL_GZIP);
  return `{"v":2,"tenant_id":${JSON.stringify(tenantId)},"events_gzip":"${compressed.toString("base64")}"}`;
}

export class MessageDecodeError extends Error {
  override name = "MessageDecodeError";
}

/**
 * Parses and re-validates a message body of any known version; the worker trusts nothing it did not
 * check itself. Synchronous: inflating one message takes ~2–3 ms per 1,000 events. Events are
 * checked by isQueuedEvent (a subset of the schema: what the api writes); only a message it refuses
 * is parsed by the zod schema, which names what is wrong.
 */
export function decodeEventMessage(body: string): EventMessage {
  const json = parseJson(body, "message body");
  const quick = quickEnvelope(json);
  if (quick) return quick;
  const envelope = messageEnvelopeSchema.safeParse(json);
  if (!envelope.success) throw schemaError("message does not match a known version (v1, v2)", envelope.error);
  const message = envelope.data;
  let events: NormalizedEvent[];
  if (message.v === 1) {
    events = message.events;
  } else {
    const list = parseJson(inflate(message.events_gzip), "inflated events");
    if (isQueuedEventList(list)) {
      events = list;
    } else {
      const parsed = eventListSchema.safeParse(list);
      if (!parsed.success)
        throw schemaError("message v2 events do not match the event schema", parsed.error, "events");
      events = parsed.data;
    }
  }
  if (events.some((event) => event.tenant_id !== message.tenant_id)) {
    throw new MessageDecodeError("message mixes tenants");
  }
  return { v: message.v, tenant_id: message.tenant_id, events };
}

/** A v1 message whose every event passes isQueuedEvent, decoded without the schema; else undefined. */
function quickEnvelope(json: unknown): EventMessage | undefined {
  if (json === null || typeof json !== "object") return undefined;
  const message = json as Record<string, unknown>;
  if (message.v !== 1 || !isUuid(message.tenant_id) || !isQueuedEventList(message.events)) return undefined;
  for (const key in message) if (key !== "v" && key !== "tenant_id" && key !== "events") return undefined;
  const tenantId = message.tenant_id as string;
  if (message.events.some((event) => event.tenant_id !== tenantId))
    throw new MessageDecodeError("message mixes tenants");
  return { v: 1, tenant_id: tenantId, events: message.events };
}

// The forms the api writes, each a subset of what the zod schema accepts (event-message.test.ts
// holds them together): lower-case UUIDs, `toISOString()` instants.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const INSTANT = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const PAYLOAD_HASH = /^[0-9a-f]{64}$/;
const SALT = /^[A-Za-z0-9_-]{22}$/;
const ACTION_TYPE_SET = new Set<unknown>(ACTION_TYPES);
const SEVERITY_SET = new Set<unknown>(SEVERITIES);
const OUTCOME_SET = new Set<unknown>(OUTCOMES);
const QUEUED_FIELDS = new Set<string>(Object.keys(normalizedEventSchema.shape));

const isUuid = (value: unknown): value is string => typeof value === "string" && UUID.test(value);
/** A real calendar instant: past day 28, the date must survive a round trip (no 31 April). */
const isInstant = (value: unknown): value is string =>
  typeof value === "string" &&
  INSTANT.test(value) &&
  (value.charCodeAt(8) < 0x32 || value.slice(8, 10) <= "28" || new Date(value).toISOString() === value);
const isText = (value: unknown, min: number, max: number) =>
  typeof value === "string" && value.length >= min && value.length <= max;
const isNullableText = (value: unknown, max: number) => value === null || isText(value, 0, max);
const isNullableRecord = (value: unknown) =>
  value === null ||
  (typeof value === "object" &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype &&
    !Object.hasOwn(value, "__proto__"));

/** True when `value` is an event as the api queues it (then the schema accepts it unchanged). */
export function isQueuedEvent(value: unknown): value is NormalizedEvent {
  if (value === null || typeof value !== "object") return false;
  const event = value as Record<string, unknown>;
  for (const key in event) if (!QUEUED_FIELDS.has(key)) return false;
  return (
    isUuid(event.id) &&
    isUuid(event.tenant_id) &&
    isInstant(event.occurred_at) &&
    isInstant(event.received_at) &&
    ACTION_TYPE_SET.has(event.action_type) &&
    isText(event.action, 1, 128) &&
    isText(event.resource_type, 1, 128) &&
    isText(event.resource_id, 1, 256) &&
    isNullableText(event.user_id, 256) &&
    isNullableText(event.session_id, 256) &&
    isNullableText(event.ip_address, 64) &&
    isNullableText(event.user_agent, 1024) &&
    SEVERITY_SET.has(event.severity) &&
    OUTCOME_SET.has(event.outcome) &&
    isNullableRecord(event.before_state) &&
    isNullableRecord(event.after_state) &&
    isNullableRecord(event.metadata) &&
    Array.isArray(event.redacted) &&
    event.redacted.every((path) => typeof path === "string") &&
    typeof event.payload_hash === "string" &&
    PAYLOAD_HASH.test(event.payload_hash) &&
    (event.salt === undefined || (typeof event.salt === "string" && SALT.test(event.salt)))
  );
}

function isQueuedEventList(value: unknown): value is NormalizedEvent[] {
  return Array.isArray(value) && value.length > 0 && value.every(isQueuedEvent);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MessageDecodeError(`${what} is not JSON`);
  }
}

function inflate(base64: string): string {
  try {
    return gunzipSync(Buffer.from(base64, "base64"), {
      maxOutputLength: MAX_INFLATED_MESSAGE_BYTES,
    }).toString();
  } catch (error) {
    const tooLarge = (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
    throw new MessageDecodeError(
      tooLarge
        ? `message v2 inflates beyond ${MAX_INFLATED_MESSAGE_BYTES} bytes`
        : "message v2 events_gzip is not valid gzip",
    );
  }
}

function schemaError(what: string, error: z.ZodError, prefix?: string): MessageDecodeError {
  const first = error.issues[0];
  const path = [...(prefix ? [prefix] : []), ...(first?.path ?? [])].join(".");
  return new MessageDecodeError(`${what}: ${path} ${first?.message}`);
}
