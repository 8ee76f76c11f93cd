// The SQS message codec: packing by size (raw and compressed), the one-tenant rule, characters SQS
// refuses, both versions on the way in, and a decoder that trusts nothing (corrupt gzip, bombs).
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { EVENT_LIMITS, type NormalizedEvent } from "../src/events/event-schema.ts";
import { prepareEvents } from "../src/events/prepare-events.ts";
import { sensitiveKeyMatcher } from "../src/events/redaction.ts";
import {
  decodeEventMessage,
  EVENT_MESSAGE_VERSION,
  encodeEventMessages,
  MAX_INFLATED_MESSAGE_BYTES,
  MAX_PACKED_JSON_BYTES,
  MessageDecodeError,
  SQS_MAX_MESSAGE_BYTES,
} from "../src/queue/event-message.ts";

const TENANT = "0190a0a0-0000-7000-8000-000000000001";
const OTHER_TENANT = "0190a0a0-0000-7000-8000-000000000002";

async function makeEvents(
  count: number,
  extra: Record<string, unknown> | ((index: number) => Record<string, unknown>) = {},
  tenantId = TENANT,
): Promise<NormalizedEvent[]> {
  const items = Array.from({ length: count }, (_, index) => ({
    action_type: "CREATE",
    resource_type: "doc",
    resource_id: `d-${index}`,
    ...(typeof extra === "function" ? extra(index) : extra),
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

/** A v2 body around any payload, compressed or not: how a corrupt or hostile message is built. */
function v2Body(compressed: Buffer | string, tenantId = TENANT): string {
  const base64 = typeof compressed === "string" ? compressed : compressed.toString("base64");
  return JSON.stringify({ v: 2, tenant_id: tenantId, events_gzip: base64 });
}

const gzipJson = (value: unknown) => gzipSync(JSON.stringify(value));

/** Random base64 in every event: gzip cannot shrink it enough to pay for base64. */
const noise = (bytes: number) => () => ({ metadata: { noise: randomBytes(bytes).toString("base64") } });

/** The raw JSON size of the events a body carries, as the packer counts it. */
const rawBytes = (events: NormalizedEvent[]) => Buffer.byteLength(JSON.stringify(events));

describe("encodeEventMessages", () => {
  test("packs many events into one compressed v2 message, and it decodes back to the same events", async () => {
    const events = await makeEvents(50);
    const bodies = await encodeEventMessages(TENANT, events, 256 * 1024);
    expect(bodies).toHaveLength(1);
    const envelope = JSON.parse(bodies[0]!);
    expect(Object.keys(envelope)).toEqual(["v", "tenant_id", "events_gzip"]);
    expect(envelope.v).toBe(2);
    expect(bodies[0]!.length).toBeLessThan(rawBytes(events) / 3);
    const message = decodeEventMessage(bodies[0]!);
    expect(message.v).toBe(EVENT_MESSAGE_VERSION);
    expect(message.tenant_id).toBe(TENANT);
    expect(message.events).toEqual(events);
  });

  test("splits by raw size as v1 did, never splits an event, keeps order and loses nothing", async () => {
    const events = await makeEvents(40, { metadata: { text: "é".repeat(3000) } });
    const limit = 32 * 1024;
    const bodies = await encodeEventMessages(TENANT, events, limit);
    expect(bodies.length).toBeGreaterThan(3);
    const messages = bodies.map((body) => decodeEventMessage(body).events);
    for (const [index, body] of bodies.entries()) {
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(limit);
      // Compressible events: the raw budget, not the compressed size, decides where a message ends.
      expect(rawBytes(messages[index]!)).toBeLessThanOrEqual(limit);
      expect(Buffer.byteLength(body)).toBeLessThan(limit / 4);
    }
    expect(messages.flat()).toEqual(events);
    // Packing is greedy: every message but the last is too full to take the next event.
    const perMessage = messages.map((list) => list.length);
    expect(perMessage.slice(0, -1).every((count) => count === perMessage[0])).toBe(true);
  });

  test("a body still over the limit after compression is halved until every body fits", async () => {
    // Random base64 does not shrink once gzipped and base64-encoded again; a raw budget far above
    // the limit makes every first group too large.
    const events = await makeEvents(12, noise(3000));
    const limit = 16 * 1024;
    const bodies = await encodeEventMessages(TENANT, events, limit, 1024 * 1024);
    expect(bodies.length).toBeGreaterThanOrEqual(Math.ceil(rawBytes(events) / limit));
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(limit);
    expect(bodies.flatMap((body) => decodeEventMessage(body).events)).toEqual(events);
  });

  test("an event over the raw budget travels alone, and is refused only if its compressed body is too large", async () => {
    const compressible = await makeEvents(3, { metadata: { text: "x".repeat(5000) } });
    const bodies = await encodeEventMessages(TENANT, compressible, 3000);
    expect(bodies).toHaveLength(3);
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(3000);
    expect(bodies.flatMap((body) => decodeEventMessage(body).events)).toEqual(compressible);
    const random = await makeEvents(1, noise(3000));
    await expect(encodeEventMessages(TENANT, random, 3000)).rejects.toThrow(/one event needs/);
  });

  test("produces nothing for no events", async () => {
    expect(await encodeEventMessages(TENANT, [], 1024)).toEqual([]);
  });

  test("refuses an event of another tenant: one message carries one tenant", async () => {
    const events = [...(await makeEvents(1)), ...(await makeEvents(1, {}, OTHER_TENANT))];
    await expect(encodeEventMessages(TENANT, events, 256 * 1024)).rejects.toThrow(/another tenant/);
  });

  test("a small group (a single-event POST) goes out uncompressed as v1: gzip would buy nothing there", async () => {
    const events = await makeEvents(2);
    const [body, ...rest] = await encodeEventMessages(TENANT, events, 256 * 1024);
    expect(rest).toEqual([]);
    expect(JSON.parse(body!)).toEqual({
      v: 1,
      tenant_id: TENANT,
      events: JSON.parse(JSON.stringify(events)),
    });
    expect(decodeEventMessage(body!)).toEqual({ v: 1, tenant_id: TENANT, events });
    const bulk = await encodeEventMessages(TENANT, await makeEvents(40), 256 * 1024);
    expect(bulk.map((message) => JSON.parse(message).v)).toEqual([2]);
  });

  test.each([
    ["v1 (small, escaped)", 1, 0],
    ["v2 (inside the base64)", 2, 40],
  ])("characters SQS refuses (U+FFFE, U+FFFF, lone surrogates) never reach the queue: %s", async (_name, version, extraEvents) => {
    // Validation refuses lone surrogates; the codec must still never produce a body SQS rejects.
    const odd = (
      await makeEvents(1, {
        resource_id: "a\ufffeb\uffffc",
        metadata: { "k\ufffe": "v\uffff", emoji: "😀", ctl: "\u0001\u001f" },
      })
    ).map((event) => ({ ...event, user_id: "a\ud800b" }));
    const events = [...odd, ...(await makeEvents(extraEvents))];
    const body = (await encodeEventMessages(TENANT, events, 256 * 1024))[0]!;
    expect(JSON.parse(body).v).toBe(version);
    if (version === 2) expect(body).toMatch(/^[\x20-\x7e]+$/);
    // Nothing above U+FFFF either: the fauxqs emulator refuses it (found by the fuzz suite).
    expect(body).not.toMatch(/[\ud800-\udfff]/);
    expect(sqsAccepts(body)).toBe(true);
    const decoded = decodeEventMessage(body).events[0]!;
    expect(decoded.resource_id).toBe("a\ufffeb\uffffc");
    expect(decoded.user_id).toBe("a\ud800b");
    expect(decoded.metadata).toEqual({ "k\ufffe": "v\uffff", emoji: "😀", ctl: "\u0001\u001f" });
  });
});

describe("decodeEventMessage", () => {
  const events = () => makeEvents(2);
  const v1Envelope = async () => ({ v: 1, tenant_id: TENANT, events: await events() });

  test("still reads v1 bodies (queued or dead-lettered before the upgrade), escapes included", async () => {
    const message = await v1Envelope();
    message.events[0]!.resource_id = "a\ufffeb";
    // v1 producers escaped U+FFFE/U+FFFF, which SQS refuses, as \\ufffe.
    const body = JSON.stringify(message).replace("\ufffe", "\\ufffe");
    const decoded = decodeEventMessage(body);
    expect(decoded).toEqual({ v: 1, tenant_id: TENANT, events: message.events });
    expect(decoded.events[0]!.resource_id).toBe("a\ufffeb");
  });

  test.each(["", "not json", "{", "[]", "null", '"text"', "42"])("rejects the garbage body %j", (body) => {
    expect(() => decodeEventMessage(body)).toThrow(MessageDecodeError);
  });

  test("rejects an unknown or missing version", async () => {
    const message = await v1Envelope();
    expect(() => decodeEventMessage(JSON.stringify({ ...message, v: 3 }))).toThrow(/known version/);
    expect(() => decodeEventMessage(JSON.stringify({ ...message, v: "1" }))).toThrow(MessageDecodeError);
    const { v: _version, ...unversioned } = message;
    expect(() => decodeEventMessage(JSON.stringify(unversioned))).toThrow(MessageDecodeError);
    // Each version has its own shape: v2 carries events only compressed, v1 only plain.
    expect(() => decodeEventMessage(JSON.stringify({ ...message, v: 2 }))).toThrow(MessageDecodeError);
    const v2 = JSON.parse(v2Body(gzipJson(message.events)));
    expect(() => decodeEventMessage(JSON.stringify({ ...v2, v: 1 }))).toThrow(MessageDecodeError);
    expect(() => decodeEventMessage(JSON.stringify({ ...v2, events: message.events }))).toThrow(
      MessageDecodeError,
    );
  });

  test("rejects a v2 body whose base64 or gzip is corrupt", async () => {
    const compressed = gzipJson(await events());
    expect(decodeEventMessage(v2Body(compressed)).events).toHaveLength(2);
    const base64 = compressed.toString("base64");
    expect(() => decodeEventMessage(v2Body(""))).toThrow(MessageDecodeError);
    expect(() => decodeEventMessage(v2Body(`${base64.slice(0, 20)}!${base64.slice(20)}`))).toThrow(
      /events_gzip/,
    );
    expect(() => decodeEventMessage(v2Body(base64.slice(0, -5)))).toThrow(MessageDecodeError);
    expect(() => decodeEventMessage(v2Body(Buffer.from("plain text, not gzip")))).toThrow(/not valid gzip/);
    expect(() => decodeEventMessage(v2Body(compressed.subarray(0, compressed.length - 12)))).toThrow(
      /not valid gzip/,
    );
    const flipped = Buffer.from(compressed);
    flipped[flipped.length - 10]! ^= 0xff; // the CRC-32 trailer no longer matches
    expect(() => decodeEventMessage(v2Body(flipped))).toThrow(/not valid gzip/);
  });

  test("rejects a v2 body that inflates to something other than a list of valid events", async () => {
    const list = await events();
    expect(() => decodeEventMessage(v2Body(gzipSync("not json")))).toThrow(/not JSON/);
    expect(() => decodeEventMessage(v2Body(gzipJson({ events: list })))).toThrow(MessageDecodeError);
    expect(() => decodeEventMessage(v2Body(gzipJson([])))).toThrow(MessageDecodeError);
    const tampered = structuredClone(list);
    (tampered[1] as { severity: string }).severity = "LOUD";
    expect(() => decodeEventMessage(v2Body(gzipJson(tampered)))).toThrow(/events\.1\.severity/);
  });

  test("a decompression bomb is refused at the inflate limit, not inflated into memory", async () => {
    // ~16 MiB of one repeated character compresses to ~16 KiB.
    const bomb = gzipSync(`["${"a".repeat(4 * MAX_INFLATED_MESSAGE_BYTES)}"]`, { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const heapBefore = process.memoryUsage().arrayBuffers;
    expect(() => decodeEventMessage(v2Body(bomb))).toThrow(/inflates beyond/);
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(2 * MAX_INFLATED_MESSAGE_BYTES);
    // The largest messages the producer makes (raw JSON up to the SQS limit) are far below it.
    const full = await makeEvents(1000, (index) => ({ metadata: { text: `${index}`.repeat(400) } }));
    const bodies = await encodeEventMessages(TENANT, full, 1024 * 1024 - 1024);
    expect(bodies.length).toBeGreaterThan(1);
    expect(bodies.flatMap((body) => decodeEventMessage(body).events)).toEqual(full);
  });

  test("rejects a message whose events belong to different tenants, in either version", async () => {
    const message = await v1Envelope();
    message.events[1]!.tenant_id = OTHER_TENANT;
    expect(() => decodeEventMessage(JSON.stringify(message))).toThrow(/mixes tenants/);
    expect(() => decodeEventMessage(v2Body(gzipJson(message.events)))).toThrow(/mixes tenants/);
    message.events[1]!.tenant_id = TENANT;
    message.tenant_id = OTHER_TENANT;
    expect(() => decodeEventMessage(JSON.stringify(message))).toThrow(/mixes tenants/);
    expect(() => decodeEventMessage(v2Body(gzipJson(message.events), OTHER_TENANT))).toThrow(/mixes tenants/);
  });

  test("re-validates every event: empty lists, unknown fields, bad enums and missing fields are refused", async () => {
    const message = await v1Envelope();
    const v1 = (value: unknown) => () => decodeEventMessage(JSON.stringify(value));
    const v2 = (list: unknown) => () => decodeEventMessage(v2Body(gzipJson(list)));
    expect(v1({ ...message, events: [] })).toThrow(MessageDecodeError);
    expect(v1({ ...message, extra: 1 })).toThrow(MessageDecodeError);
    expect(() => decodeEventMessage(v2Body(gzipJson(message.events)).replace(/}$/, ',"extra":1}'))).toThrow(
      MessageDecodeError,
    );
    const tampered = structuredClone(message);
    (tampered.events[0] as { severity: string }).severity = "LOUD";
    expect(v1(tampered)).toThrow(/events\.0\.severity/);
    expect(v2(tampered.events)).toThrow(/events\.0\.severity/);
    const missing = structuredClone(message);
    delete (missing.events[1] as { payload_hash?: string }).payload_hash;
    expect(v1(missing)).toThrow(/payload_hash/);
    expect(v2(missing.events)).toThrow(/payload_hash/);
    const unknown = structuredClone(message);
    (unknown.events[0] as { seq?: number }).seq = 5;
    expect(v1(unknown)).toThrow(MessageDecodeError);
    expect(v2(unknown.events)).toThrow(MessageDecodeError);
  });
});

describe("the decoder's limits derive from what the producer packs", () => {
  test("the inflate cap is above the packing budget, which is above one event at its limit", () => {
    expect(MAX_PACKED_JSON_BYTES).toBeGreaterThanOrEqual(SQS_MAX_MESSAGE_BYTES);
    expect(MAX_PACKED_JSON_BYTES).toBeGreaterThan(EVENT_LIMITS.maxEventBytes);
    expect(MAX_INFLATED_MESSAGE_BYTES).toBeGreaterThanOrEqual(2 * MAX_PACKED_JSON_BYTES);
  });

  test("events at the state limits, incompressible, encode and decode with the worker's limits", async () => {
    const blob = () => ({ blob: randomBytes(24 * 1024).toString("base64") });
    const events = await makeEvents(8, () => ({
      before_state: blob(),
      after_state: blob(),
      metadata: blob(),
    }));
    const bodies = await encodeEventMessages(TENANT, events, SQS_MAX_MESSAGE_BYTES - 1024);
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
    expect(bodies.flatMap((body) => decodeEventMessage(body).events)).toEqual(events);
  });

  test("an event over the per-event limit is refused before the queue (a 500, never a 202 and a dead letter)", async () => {
    const [event] = await makeEvents(1);
    const oversize = { ...event!, metadata: { blob: "x".repeat(EVENT_LIMITS.maxEventBytes) } };
    await expect(encodeEventMessages(TENANT, [oversize], SQS_MAX_MESSAGE_BYTES - 1024)).rejects.toThrow(
      /over the per-event limit/,
    );
  });
});
