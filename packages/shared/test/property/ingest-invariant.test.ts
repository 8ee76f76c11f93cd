// The ingest door's invariant, as a property: whatever the api accepts, the worker can store.
// Generated client bodies (event-arbitraries.ts: valid, invalid and adversarial) go through what
// the api does — depth scan, JSON.parse, prepareEvents — and every accepted event through the real
// queue codec (encode, then decode with the worker's limits) and, for a sample, through storeEvents
// into the embedded PostgreSQL, where each must be stored exactly once. Refusals must be 4xx
// VigilErrors naming a field, never another exception (a 500). bench/ingest-invariant.ts runs all
// 10,000 generated events through the store path as well.
import { createTenant } from "@vigil/shared/tenants/tenants";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DEFAULT_REDACT_KEYS } from "../../src/events/event-constants.ts";
import { sensitiveKeyMatcher } from "../../src/events/redaction.ts";
import { storeEvents } from "../../src/ingest/store-events.ts";
import { verifyTenantLog } from "../../src/integrity/verify-tenant-log.ts";
import { tenantScope } from "../../src/query/tenant-scope.ts";
import { eventItemArb } from "./event-arbitraries.ts";
import { acceptAtTheDoor, type DoorOutcome, expectStorable, throughTheCodec } from "./ingest-door.ts";

const SEED = 20261207;
const NOW = new Date();
const TENANT = "0190a0a0-0000-7000-8000-0000000000aa";
const isSensitiveKey = sensitiveKeyMatcher(DEFAULT_REDACT_KEYS);

function tally(outcomes: DoorOutcome[]) {
  const count = (kind: DoorOutcome["kind"]) => outcomes.filter((outcome) => outcome.kind === kind).length;
  return { accepted: count("accepted"), refused: count("refused") };
}

describe("every event the api accepts survives the queue codec with the worker's limits", () => {
  test("10,000 generated bodies: accepted ones round-trip exactly, refused ones are 4xx naming a field", async () => {
    const outcomes: DoorOutcome[] = [];
    await fc.assert(
      fc.asyncProperty(eventItemArb({ now: NOW, tenantId: TENANT }), async (item) => {
        const outcome = await acceptAtTheDoor(item, { tenantId: TENANT, isSensitiveKey, now: NOW });
        outcomes.push(outcome);
        if (outcome.kind !== "accepted") return;
        expectStorable(outcome.event);
        expect(JSON.stringify(await throughTheCodec(TENANT, [outcome.event]))).toBe(
          JSON.stringify([outcome.event]),
        );
      }),
      { numRuns: 10_000, seed: SEED, endOnFailure: true },
    );
    const { accepted, refused } = tally(outcomes);
    // Not vacuous: both sides of the door are well exercised, and so are the adversarial shapes.
    expect(accepted).toBeGreaterThan(1_500);
    expect(refused).toBeGreaterThan(1_500);
    const collapsed = outcomes.filter(
      (outcome) => outcome.kind === "accepted" && outcome.event.redacted.some((path) => path.endsWith(".*")),
    );
    expect(collapsed.length).toBeGreaterThan(20);
  }, 120_000);
});

describe("and the store path stores each exactly once", () => {
  let pipeline: TestPipeline;
  let tenantId: string;

  beforeAll(async () => {
    pipeline = await createTestPipeline();
    tenantId = (await createTenant(pipeline.database.admin, { name: "property", retention_days: 3650 })).id;
  });
  afterAll(async () => pipeline?.close());

  test("a sample of 600 generated bodies: every accepted event stored once and re-hashes, a redelivery stores nothing", async () => {
    const items = fc.sample(eventItemArb({ now: NOW, tenantId }), { numRuns: 600, seed: SEED + 1 });
    const accepted = [];
    for (const item of items) {
      const outcome = await acceptAtTheDoor(item, { tenantId, isSensitiveKey, now: NOW });
      if (outcome.kind === "accepted") accepted.push(outcome.event);
    }
    expect(accepted.length).toBeGreaterThan(100);
    // Client ids may repeat across generated items: the first payload is stored, a different one is a conflict.
    const firstPayload = new Map<string, string>();
    for (const event of accepted)
      if (!firstPayload.has(event.id)) firstPayload.set(event.id, event.payload_hash);

    let stored = 0;
    for (let start = 0; start < accepted.length; start += 50) {
      const decoded = await throughTheCodec(tenantId, accepted.slice(start, start + 50));
      stored += (await storeEvents(pipeline.database.db, decoded)).stored;
    }
    expect(stored).toBe(firstPayload.size);
    const again = await storeEvents(pipeline.database.db, await throughTheCodec(tenantId, accepted));
    expect(again.stored).toBe(0);

    const [counts] = await pipeline.database.admin<{ rows: number; ids: number; max_seq: number }[]>`
      select count(*)::int as rows, count(distinct id)::int as ids, max(seq)::int as max_seq
      from events where tenant_id = ${tenantId}`;
    expect(counts).toEqual({ rows: firstPayload.size, ids: firstPayload.size, max_seq: firstPayload.size });
    // What was stored is what was hashed: the verifier recomputes every hash from the stored rows.
    const report = await verifyTenantLog(pipeline.database.db, tenantScope(tenantId));
    expect(report.checked).toBe(firstPayload.size);
    expect(report.problems.filter((problem) => !problem.problem.startsWith("checkpoint"))).toEqual([]);
  }, 120_000);
});
