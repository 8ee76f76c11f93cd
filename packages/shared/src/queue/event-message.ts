// The SQS message format, versioned, shared by the producer (api) and the consumer (worker).
// One message carries many events of ONE tenant, packed up to the queue's size limit, so a bulk
// request of 1,000 events usually costs a single SendMessage call.
import { z } from "zod";
import { type NormalizedEvent, normalizedEventSchema } from "../events/event-schema.ts";

export const EVENT_MESSAGE_VERSION = 1;

export const eventMessageSchema = z.strictObject({
  v: z.literal(EVENT_MESSAGE_VERSION),
  tenant_id: z.uuid(),
  events: z.array(normalizedEventSchema).min(1),
});

export type EventMessage = z.infer<typeof eventMessageSchema>;

/** SQS accepts #x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD and above; JSON.stringify leaves U+FFFE/U+FFFF raw. */
function sqsSafe(json: string): string {
  return json.replace(/[\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
}

const ENVELOPE_OVERHEAD = 128;

/**
 * Packs one tenant's events into as few message bodies as fit `maxMessageBytes` each.
 * An event is never split; one event always fits because events are capped far below the limit.
 */
export function encodeEventMessages(
  tenantId: string,
  events: NormalizedEvent[],
  maxMessageBytes: number,
): string[] {
  return packEventMessages(tenantId, [{ events, owner: 0 }], maxMessageBytes).map((message) => message.body);
}

/**
 * Like encodeEventMessages for the events of several publishers of one tenant (the queue coalesces
 * concurrent publishes): each body says whose events it carries, so each publisher is acknowledged
 * only when every body holding its events is on the queue.
 */
export function packEventMessages<Owner>(
  tenantId: string,
  parts: Array<{ events: NormalizedEvent[]; owner: Owner }>,
  maxMessageBytes: number,
): Array<{ body: string; owners: Set<Owner> }> {
  const messages: Array<{ body: string; owners: Set<Owner> }> = [];
  let pending: string[] = [];
  let owners = new Set<Owner>();
  let pendingBytes = ENVELOPE_OVERHEAD;
  const flush = () => {
    if (pending.length === 0) return;
    messages.push({
      body: `{"v":${EVENT_MESSAGE_VERSION},"tenant_id":${JSON.stringify(tenantId)},"events":[${pending.join(",")}]}`,
      owners,
    });
    pending = [];
    owners = new Set();
    pendingBytes = ENVELOPE_OVERHEAD;
  };
  for (const { events, owner } of parts) {
    for (const event of events) {
      if (event.tenant_id !== tenantId) throw new Error("encodeEventMessages: event of another tenant");
      const encoded = sqsSafe(JSON.stringify(event));
      const bytes = Buffer.byteLength(encoded) + 1;
      if (pendingBytes + bytes > maxMessageBytes) flush();
      pending.push(encoded);
      owners.add(owner);
      pendingBytes += bytes;
    }
  }
  flush();
  return messages;
}

export class MessageDecodeError extends Error {
  override name = "MessageDecodeError";
}

/** Parses and re-validates a message body; the worker trusts nothing it did not check itself. */
export function decodeEventMessage(body: string): EventMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new MessageDecodeError("message body is not JSON");
  }
  const parsed = eventMessageSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new MessageDecodeError(
      `message does not match schema v${EVENT_MESSAGE_VERSION}: ${first?.path.join(".")} ${first?.message}`,
    );
  }
  if (parsed.data.events.some((event) => event.tenant_id !== parsed.data.tenant_id)) {
    throw new MessageDecodeError("message mixes tenants");
  }
  return parsed.data;
}
