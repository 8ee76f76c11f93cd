// The worker's quick check of queued events (isQueuedEvent) must accept every event the api
// queues and nothing the event schema refuses, so skipping zod for them changes no decision: a
// message it refuses is still judged, and its problem named, by the schema.
import { queuedEvent } from "@vigil/testkit";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DEFAULT_REDACT_KEYS } from "../src/events/event-constants.ts";
import { normalizedEventSchema } from "../src/events/event-schema.ts";
import { sensitiveKeyMatcher } from "../src/events/redaction.ts";
import { isQueuedEvent } from "../src/queue/event-message.ts";
import { eventItemArb } from "./property/event-arbitraries.ts";
import { acceptAtTheDoor } from "./property/ingest-door.ts";

const NOW = new Date();
const TENANT = "0190a0a0-0000-7000-8000-0000000000aa";
const isSensitiveKey = sensitiveKeyMatcher(DEFAULT_REDACT_KEYS);

function agree(value: unknown): boolean {
  const quick = isQueuedEvent(value);
  if (quick) {
    const parsed = normalizedEventSchema.safeParse(value);
    expect(parsed.success).toBe(true);
    expect(parsed.data).toEqual(value);
  }
  return quick;
}

describe("isQueuedEvent agrees with normalizedEventSchema", () => {
  test("every event the api accepts from 1,000 generated bodies passes, and so do its mutations the schema accepts", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(eventItemArb({ now: NOW, tenantId: TENANT }), async (item) => {
        const outcome = await acceptAtTheDoor(item, { tenantId: TENANT, isSensitiveKey, now: NOW });
        if (outcome.kind !== "accepted") return;
        accepted++;
        const queued = JSON.parse(JSON.stringify(outcome.event));
        expect(agree(queued)).toBe(true);
        for (const mutation of MUTATIONS) agree({ ...queued, ...mutation });
      }),
      { numRuns: 1000, seed: 20261207 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  test.each(
    MUTATIONS.map((mutation) => [JSON.stringify(mutation).slice(0, 60), mutation]),
  )("%s is refused by the quick check", (_, mutation) => {
    const event = JSON.parse(JSON.stringify(BASE));
    expect(isQueuedEvent(event)).toBe(true);
    expect(agree({ ...event, ...mutation })).toBe(false);
  });
});

const BASE = queuedEvent(TENANT, {
  id: "0190a0a0-0000-7000-8000-0000000000ab",
  occurred_at: "2026-02-28T10:00:00.000Z",
  received_at: "2026-12-07T10:00:00.000Z",
  after_state: { a: 1 },
  salt: "AAAAAAAAAAAAAAAAAAAAAA",
});

const MUTATIONS: Array<Record<string, unknown>> = [
  { id: "not-a-uuid" },
  { tenant_id: "0190A0A0-0000-7000-8000-0000000000AA" },
  { occurred_at: "2026-02-30T10:00:00.000Z" },
  { occurred_at: "2026-04-31T10:00:00.000Z" },
  { received_at: "2026-12-07T10:00:00Z" },
  { received_at: "2026-12-07T24:00:00.000Z" },
  { action_type: "PURGE" },
  { action: "" },
  { resource_type: "x".repeat(129) },
  { resource_id: 5 },
  { user_id: undefined },
  { ip_address: "x".repeat(65) },
  { severity: "info" },
  { outcome: null },
  { metadata: [1] },
  { metadata: "text" },
  { redacted: [1] },
  { redacted: null },
  { payload_hash: "C".repeat(64) },
  { salt: "short" },
  { salt: null },
  { extra: 1 },
];
