// The SQS message codec: packing, the one-tenant rule, characters SQS refuses, and a decoder that
// trusts nothing.
import { describe, expect, test } from "vitest";
import type { NormalizedEvent } from "../src/events/event-schema.ts";
import { prepareEvents } from "../src/events/prepare-events.ts";
import { sensitiveKeyMatcher } from "../src/events/redaction.ts";
import {
  decodeEventMessage,
  EVENT_MESSAGE_VERSION,
  encodeEventMessages,
  MessageDecodeError,
} from "../src/queue/event-message.ts";

const TENANT = "0190a0a0-0000-7000-8000-000000000001";
const OTHER_TENANT = "0190a0a0-0000-7000-8000-000000000002";

async function makeEvents(
  count: number,
  extra: Record<string, unknown> = {},
  tenantId = TENANT,
): Promise<NormalizedEvent[]> {
  const items = Array.from({ length: count }, (_, index) => ({
    action_type: "CREATE",
    resource_type: "doc",
    resource_id: `d-${index}`,
    ...extra,
  }));
  return prepareEvents(
    items,
    { tenantId, isSensitiveKey: sensitiveKeyMatcher(["password"]) },
    async () => null,
    { bulk: true },
  );
}

/** Characters SQS accepts in a message body (#x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD #x10000–#x10FFFF). */
function sqsAccepts(body: string): boolean {
  for (const char of body) {
    const code = char.codePointAt(0)!;
    const ok =
      code === 0x9 ||
      code === 0xa ||
      code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      code >= 0x10000;
    if (!ok) return false;
  }
  return true;
}

describe("encodeEventMessages", () => {
  test("packs many events into one message when they fit, and it decodes back to the same events", async () => {
    const events = await makeEvents(50);
    const bodies = encodeEventMessages(TENANT, events, 256 * 1024);
    expect(bodies).toHaveLength(1);
    const message = decodeEventMessage(bodies[0]!);
    expect(message.v).toBe(EVENT_MESSAGE_VERSION);
    expect(message.tenant_id).toBe(TENANT);
    expect(message.events).toEqual(events);
  });

  test("splits at the byte limit, never splits an event, keeps order and loses nothing", async () => {
    const events = await makeEvents(40, { metadata: { text: "é".repeat(3000) } });
    const limit = 32 * 1024;
    const bodies = encodeEventMessages(TENANT, events, limit);
    expect(bodies.length).toBeGreaterThan(3);
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(limit);
    const decoded = bodies.flatMap((body) => decodeEventMessage(body).events);
    expect(decoded).toEqual(events);
    // Packing is greedy: every message but the last is too full to take the next event.
    const perMessage = bodies.map((body) => decodeEventMessage(body).events.length);
    expect(perMessage.slice(0, -1).every((count) => count === perMessage[0])).toBe(true);
  });

  test("one event per message when the limit leaves room for only one", async () => {
    const events = await makeEvents(3, { metadata: { text: "x".repeat(2000) } });
    const bodies = encodeEventMessages(TENANT, events, 3000);
    expect(bodies).toHaveLength(3);
  });

  test("produces nothing for no events", () => {
    expect(encodeEventMessages(TENANT, [], 1024)).toEqual([]);
  });

  test("refuses an event of another tenant: one message carries one tenant", async () => {
    const events = [...(await makeEvents(1)), ...(await makeEvents(1, {}, OTHER_TENANT))];
    expect(() => encodeEventMessages(TENANT, events, 256 * 1024)).toThrow(/another tenant/);
  });

  test("escapes U+FFFE and U+FFFF, which SQS refuses, and decodes them back", async () => {
    const events = await makeEvents(1, {
      resource_id: "a\ufffeb\uffffc",
      metadata: { "k\ufffe": "v\uffff", emoji: "😀", ctl: "\u0001\u001f" },
    });
    const body = encodeEventMessages(TENANT, events, 256 * 1024)[0]!;
    expect(body).not.toMatch(/[\ufffe\uffff]/);
    expect(body).toContain("\\ufffe");
    expect(sqsAccepts(body)).toBe(true);
    const decoded = decodeEventMessage(body).events[0]!;
    expect(decoded.resource_id).toBe("a\ufffeb\uffffc");
    expect(decoded.metadata).toEqual({ "k\ufffe": "v\uffff", emoji: "😀", ctl: "\u0001\u001f" });
  });

  test("lone surrogates are escaped too, so the body stays well-formed", async () => {
    // Validation refuses them; the codec must still never produce a body SQS rejects.
    const events = (await makeEvents(1)).map((event) => ({ ...event, resource_id: "a\ud800b" }));
    const body = encodeEventMessages(TENANT, events, 256 * 1024)[0]!;
    expect(sqsAccepts(body)).toBe(true);
    expect(decodeEventMessage(body).events[0]!.resource_id).toBe("a\ud800b");
  });
});

describe("decodeEventMessage", () => {
  const envelope = async () => JSON.parse(encodeEventMessages(TENANT, await makeEvents(2), 256 * 1024)[0]!);

  test.each(["", "not json", "{", "[]", "null", '"text"', "42"])("rejects the garbage body %j", (body) => {
    expect(() => decodeEventMessage(body)).toThrow(MessageDecodeError);
  });

  test("rejects another version", async () => {
    const message = await envelope();
    expect(() => decodeEventMessage(JSON.stringify({ ...message, v: 2 }))).toThrow(/schema v1/);
    expect(() => decodeEventMessage(JSON.stringify({ ...message, v: "1" }))).toThrow(MessageDecodeError);
    const { v: _version, ...unversioned } = message;
    expect(() => decodeEventMessage(JSON.stringify(unversioned))).toThrow(MessageDecodeError);
  });

  test("rejects a message whose events belong to different tenants", async () => {
    const message = await envelope();
    message.events[1].tenant_id = OTHER_TENANT;
    expect(() => decodeEventMessage(JSON.stringify(message))).toThrow(/mixes tenants/);
    message.events[1].tenant_id = TENANT;
    message.tenant_id = OTHER_TENANT;
    expect(() => decodeEventMessage(JSON.stringify(message))).toThrow(/mixes tenants/);
  });

  test("re-validates every event: empty lists, unknown fields, bad enums and missing fields are refused", async () => {
    const message = await envelope();
    expect(() => decodeEventMessage(JSON.stringify({ ...message, events: [] }))).toThrow(MessageDecodeError);
    expect(() => decodeEventMessage(JSON.stringify({ ...message, extra: 1 }))).toThrow(MessageDecodeError);
    const tampered = structuredClone(message);
    tampered.events[0].severity = "LOUD";
    expect(() => decodeEventMessage(JSON.stringify(tampered))).toThrow(/events\.0\.severity/);
    const missing = structuredClone(message);
    delete missing.events[1].payload_hash;
    expect(() => decodeEventMessage(JSON.stringify(missing))).toThrow(/payload_hash/);
    const unknown = structuredClone(message);
    unknown.events[0].seq = 5;
    expect(() => decodeEventMessage(JSON.stringify(unknown))).toThrow(MessageDecodeError);
  });
});
