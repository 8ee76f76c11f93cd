// Against a real OpenSearch cluster, when OPENSEARCH_URL is set (docker compose mode, CI with a
// service container): index a few events, search them back, and check tenant isolation; the repair
// loop fills a gap from PostgreSQL up to the head and restores documents deleted from the cluster
// behind Vigil's back, with the watermark to match. Without a cluster the suite is skipped, and
// the test below says so in the output.
import { randomBytes, randomUUID } from "node:crypto";
import type { StoredEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { createLogger } from "@vigil/shared/logging/logger";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { ensureEventIndex } from "@vigil/shared/search/opensearch/event-index";
import { OpenSearchEventSearch } from "@vigil/shared/search/opensearch/event-search";
import { indexStoredEvents } from "@vigil/shared/search/opensearch/index-events";
import { countRequest, SearchIndexRepairer } from "@vigil/shared/search/opensearch/index-repair";
import { readSearchIndexStatus } from "@vigil/shared/search/opensearch/index-watermark";
import { createOpenSearchClient } from "@vigil/shared/search/opensearch/opensearch-client";
import { createTestPipeline, queuedEvent } from "@vigil/testkit";
import { afterAll, describe, expect, test } from "vitest";

const OPENSEARCH_URL = process.env.OPENSEARCH_URL;

test.skipIf(Boolean(OPENSEARCH_URL))("opensearch integration: skipped — OPENSEARCH_URL not set", () => {
  console.warn(
    "opensearch integration: skipped — OPENSEARCH_URL not set (request-level tests still ran against the recording fake)",
  );
  expect(OPENSEARCH_URL).toBeFalsy();
});

describe.runIf(Boolean(OPENSEARCH_URL))("opensearch integration (real cluster)", () => {
  const prefix = `vigil-it-${randomUUID().slice(0, 8)}`;
  const target = {
    client: createOpenSearchClient(OPENSEARCH_URL ?? "http://127.0.0.1:9200"),
    indexPrefix: prefix,
  };
  const tenantA = randomUUID();
  const tenantB = randomUUID();
  afterAll(async () => {
    await target.client.indices.delete({ index: `${prefix}-*` }).catch(() => undefined);
    await target.client.indices.deleteIndexTemplate({ name: prefix }).catch(() => undefined);
    await target.client.close();
  });

  const event = (tenant_id: string, seq: number, overrides: Partial<StoredEvent> = {}): StoredEvent => ({
    id: randomUUID(),
    tenant_id,
    seq,
    occurred_at: new Date(Date.UTC(2026, 2, 1, 0, 0, seq)).toISOString(),
    received_at: new Date(Date.UTC(2026, 2, 1, 0, 0, seq)).toISOString(),
    action_type: "UPDATE",
    action: "invoice.approve",
    resource_type: "invoice",
    resource_id: `inv-${seq}`,
    user_id: "alice",
    session_id: null,
    ip_address: null,
    user_agent: null,
    severity: seq % 2 ? "INFO" : "ERROR",
    outcome: "success",
    before_state: null,
    after_state: null,
    metadata: { note: seq === 2 ? "quarterly close" : "routine" },
    redacted: [],
    hash: "0".repeat(64),
    ...overrides,
  });

  test("index, search by filter, q and cursor, and never across tenants", async () => {
    await ensureEventIndex(target);
    await ensureEventIndex(target); // idempotent
    const a = [1, 2, 3].map((seq) => event(tenantA, seq));
    const b = [1, 2].map((seq) => event(tenantB, seq, { metadata: { note: "quarterly close" } }));
    const outcome = await indexStoredEvents(target, [...a, ...b]);
    expect(outcome).toMatchObject({ indexed: 5, failed: [] });
    await indexStoredEvents(target, a); // re-indexing overwrites, never duplicates
    await target.client.indices.refresh({ index: `${prefix}-*` });

    const search = new OpenSearchEventSearch(target);
    const find = async (...args: Parameters<typeof search.findEvents>) =>
      (await search.findEvents(...args)).events;
    const base = { filter: { from: "2026-01-01T00:00:00Z" }, sort: "seq" as const, limit: 10, after: null };
    expect((await find(tenantScope(tenantA), base)).map((found) => found.seq)).toEqual([1, 2, 3]);
    expect(await find(tenantScope(tenantA), base)).toEqual(a);
    expect(
      (
        await find(tenantScope(tenantA), {
          ...base,
          filter: { ...base.filter, severity: ["ERROR"] },
        })
      ).map((found) => found.seq),
    ).toEqual([2]);
    expect(
      (await find(tenantScope(tenantA), { ...base, filter: { ...base.filter, q: "quarterly" } })).map(
        (found) => found.seq,
      ),
    ).toEqual([2]);
    expect(
      (
        await find(tenantScope(tenantA), {
          ...base,
          sort: "-occurred_at",
          after: { key: a[2]!.occurred_at, seq: 3 },
        })
      ).map((found) => found.seq),
    ).toEqual([2, 1]);
    const onlyB = await find(tenantScope(tenantB), {
      ...base,
      filter: { ...base.filter, q: "quarterly" },
    });
    expect(onlyB.map((found) => found.tenant_id)).toEqual([tenantB, tenantB]);
    expect(await find(tenantScope(randomUUID()), base)).toEqual([]);
  });
  test("the repair loop's _count request counts one tenant's seq range (the watermark's reconciliation)", async () => {
    const tenant = randomUUID();
    const other = randomUUID();
    const outcome = await indexStoredEvents(target, [
      ...Array.from({ length: 10 }, (_, n) => event(tenant, n + 1)),
      ...Array.from({ length: 4 }, (_, n) => event(other, n + 1)),
    ]);
    expect(outcome.failed).toEqual([]);
    await target.client.indices.refresh({ index: `${prefix}-*` });
    const count = async (tenantId: string, from_seq: number, to_seq: number) =>
      Number(
        (
          (await target.client.count(countRequest(prefix, tenantId, { from_seq, to_seq }))).body as {
            count: number;
          }
        ).count,
      );
    expect(await count(tenant, 1, 10)).toBe(10);
    expect(await count(tenant, 3, 7)).toBe(5);
    expect(await count(other, 1, 10)).toBe(4);
    expect(await count(randomUUID(), 1, 10)).toBe(0);
  });
  test("the repair loop on the real cluster: a gap is filled up to the head, deleted documents come back, the watermark says so", async () => {
    const pipeline = await createTestPipeline();
    try {
      const { tenant } = await pipeline.createTenantWithKey();
      const stored = Array.from({ length: 40 }, () =>
        queuedEvent(tenant.id, { id: randomUUID(), payload_hash: randomBytes(32).toString("hex") }),
      );
      await storeEvents(pipeline.database.db, stored);
      expect(await readSearchIndexStatus(pipeline.database.db, tenant.id)).toMatchObject({
        indexed_seq: 0,
        head_seq: 40,
      });
      const repairer = new SearchIndexRepairer(
        pipeline.database.db,
        target,
        createLogger("worker", "silent"),
        {
          graceMs: 0,
          leafSize: 4,
        },
      );
      const count = async (from_seq: number, to_seq: number) => {
        await target.client.indices.refresh({ index: `${prefix}-*` });
        const response = await target.client.count(countRequest(prefix, tenant.id, { from_seq, to_seq }));
        return Number((response.body as { count: number }).count);
      };

      // Nothing indexed yet: one round indexes all 40 from PostgreSQL, and (the round refreshing
      // before it counts) reconciles nothing it has just written.
      const first = await repairer.runRound();
      expect(first).toMatchObject({ ran: true, gap_events: 40, reconciled_events: 0, failed: 0 });
      expect(await count(1, 40)).toBe(40);
      expect(await readSearchIndexStatus(pipeline.database.db, tenant.id)).toMatchObject({
        indexed_seq: 40,
        head_seq: 40,
        lag_seq: 0,
      });

      // Behind Vigil's back: four documents are deleted from the cluster.
      const vanished = [3, 17, 18, 40];
      const deleted = await target.client.deleteByQuery({
        index: `${prefix}-*`,
        routing: tenant.id,
        refresh: true,
        body: {
          query: {
            bool: { filter: [{ term: { tenant_id: tenant.id } }, { terms: { seq: vanished } }] },
          },
        },
      });
      expect((deleted.body as { deleted: number }).deleted).toBe(4);
      expect(await count(1, 40)).toBe(36);

      // The next round's reconciliation finds exactly the shortfall and re-indexes those ranges.
      const second = await repairer.runRound();
      expect(second).toMatchObject({ ran: true, gap_events: 0, failed: 0 });
      expect(second.reconciled_events).toBeGreaterThanOrEqual(4);
      expect(second.reconciled_events).toBeLessThanOrEqual(12); // three leaves of 4 seqs: 1-4(ish), 17-20, 37-40
      expect(await count(1, 40)).toBe(40);
      const search = new OpenSearchEventSearch(target);
      const found = await search.findEvents(tenantScope(tenant.id), {
        filter: { from: "2000-01-01T00:00:00Z" },
        sort: "seq",
        limit: 50,
        after: null,
      });
      expect(found.events.map((event) => event.seq)).toEqual(Array.from({ length: 40 }, (_, n) => n + 1));
      expect(found.events.map((event) => event.id)).toEqual(stored.map((event) => event.id));

      // And a round with nothing missing re-indexes nothing.
      expect(await repairer.runRound()).toMatchObject({ gap_events: 0, reconciled_events: 0, failed: 0 });
    } finally {
      await pipeline.close();
    }
  }, 60_000);
});
