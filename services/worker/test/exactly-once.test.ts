// Guarantees 1, 2 and 7 across real processes: every accepted event is stored exactly once, per
// tenant seq is 1..n without gaps under competing workers and crashes, and every stored hash and
// chain link recomputes.
import { randomUUID } from "node:crypto";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import {
  createTestPipeline,
  eventually,
  queuedEvent,
  type RunningService,
  requestJson,
  sampleEvent,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

async function postInChunks(
  apiUrl: string,
  key: string,
  events: Record<string, unknown>[],
  chunk: number,
  concurrency: number,
) {
  const chunks: Record<string, unknown>[][] = [];
  for (let start = 0; start < events.length; start += chunk) chunks.push(events.slice(start, start + chunk));
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < chunks.length) {
        const body = chunks[next++]!;
        const response = await requestJson(`${apiUrl}/api/v1/logs/bulk`, { key, body });
        expect(response.status, JSON.stringify(response.body)).toBe(202);
        ids.push(...response.body.ids);
      }
    }),
  );
  return ids;
}

async function tenantSeqStats(pipeline: TestPipeline, tenantId: string) {
  const [row] = await pipeline.database.admin<
    { n: number; distinct_seq: number; distinct_id: number; min_seq: number; max_seq: number }[]
  >`
    select count(*)::int as n, count(distinct seq)::int as distinct_seq, count(distinct id)::int as distinct_id,
           min(seq)::int as min_seq, max(seq)::int as max_seq
    from events where tenant_id = ${tenantId}`;
  return row!;
}

async function storedCount(pipeline: TestPipeline): Promise<number> {
  const [row] = await pipeline.database.admin<{ n: number }[]>`select count(*)::int as n from events`;
  return row!.n;
}

describe("20,000 events for 3 tenants, bulk and single posts, two competing workers", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  beforeAll(async () => {
    pipeline = await createTestPipeline();
    api = await pipeline.start("api");
    await Promise.all([pipeline.start("worker"), pipeline.start("worker")]);
  });
  afterAll(async () => pipeline?.close());

  test("are stored exactly once, seq 1..n per tenant, hashes and chain verify", async () => {
    const tenants = await Promise.all([1, 2, 3].map(() => pipeline.createTenantWithKey()));
    const sizes = [9_000, 7_000, 4_000];
    const accepted = new Map<string, string[]>();
    await Promise.all(
      tenants.map(async ({ tenant, key }, t) => {
        const events = Array.from({ length: sizes[t]! }, (_, i) => sampleEvent(i + t * 100_000));
        // The last 200 of each tenant go one by one, the rest in bulk requests of 500.
        const ids = await postInChunks(api.url, key, events.slice(0, -200), 500, 2);
        let next = sizes[t]! - 200;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < sizes[t]!) {
              const response = await requestJson(`${api.url}/api/v1/logs`, { key, body: events[next++] });
              expect(response.status).toBe(202);
              ids.push(response.body.id);
            }
          }),
        );
        accepted.set(tenant.id, ids);
      }),
    );
    expect([...accepted.values()].flat()).toHaveLength(20_000);

    await eventually(async () => (await storedCount(pipeline)) === 20_000, 120_000, 250);
    for (const [t, { tenant }] of tenants.entries()) {
      const stats = await tenantSeqStats(pipeline, tenant.id);
      expect(stats).toEqual({
        n: sizes[t],
        distinct_seq: sizes[t],
        distinct_id: sizes[t],
        min_seq: 1,
        max_seq: sizes[t],
      });
      const ids = await pipeline.database.admin<
        { id: string }[]
      >`select id from events where tenant_id = ${tenant.id}`;
      expect(new Set(ids.map((row) => row.id))).toEqual(new Set(accepted.get(tenant.id)));
      const report = await verifyTenantLog(pipeline.database.db, tenantScope(tenant.id));
      expect(report).toMatchObject({
        ok: true,
        checked: sizes[t],
        first_seq: 1,
        last_seq: sizes[t],
        problems: [],
      });
    }
    // Nothing left behind on the queue.
    expect(await pipeline.queue.depth()).toEqual({ visible: 0, inFlight: 0 });
  }, 180_000);

  test("the verifier detects an edited field, a deleted row and a dropped newest row", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    await postInChunks(
      api.url,
      key,
      Array.from({ length: 30 }, (_, i) => sampleEvent(i)),
      30,
      1,
    );
    await eventually(async () => (await tenantSeqStats(pipeline, tenant.id)).n === 30);
    const scope = tenantScope(tenant.id);
    expect((await verifyTenantLog(pipeline.database.db, scope)).ok).toBe(true);

    const admin = pipeline.database.admin;
    await admin`update events set resource_id = 'tampered' where tenant_id = ${tenant.id} and seq = 10`;
    await admin`delete from events where tenant_id = ${tenant.id} and seq = 20`;
    await admin`delete from events where tenant_id = ${tenant.id} and seq = 30`;
    const report = await verifyTenantLog(pipeline.database.db, scope);
    expect(report.ok).toBe(false);
    expect(report.problems.map((problem) => [problem.problem, problem.seq])).toEqual([
      ["hash_mismatch", 10],
      ["seq_gap", 21],
      ["head_mismatch", 30],
    ]);
  });
});

describe("a worker SIGKILLed again and again while it drains 20,000 events", () => {
  let pipeline: TestPipeline;
  beforeAll(async () => {
    // Every kill leaves messages in flight and bumps their receive count; the redrive threshold is
    // raised so this test measures crash recovery, not the dead-letter policy (tested elsewhere).
    pipeline = await createTestPipeline({ visibilityTimeoutSeconds: 3, maxReceiveCount: 100 });
  });
  afterAll(async () => pipeline?.close());

  test("still stores exactly 20,000, no duplicates, no gaps", async () => {
    const api = await pipeline.start("api");
    const tenants = await Promise.all([1, 2].map(() => pipeline.createTenantWithKey()));
    // Small bulk requests make many messages, so many batches and many kill points.
    for (const [t, { key }] of tenants.entries()) {
      await postInChunks(
        api.url,
        key,
        Array.from({ length: 10_000 }, (_, i) => sampleEvent(i + t * 10_000)),
        100,
        4,
      );
    }
    let kills = 0;
    let selfKills = 0;
    const deadline = Date.now() + 180_000;
    while (
      (await storedCount(pipeline)) < 20_000 ||
      (await pipeline.queue.depth()).visible + (await pipeline.queue.depth()).inFlight > 0
    ) {
      if (Date.now() > deadline) {
        const dlq = await pipeline.queue.depth(pipeline.queues.dlqUrl);
        throw new Error(
          `not drained in time: ${await storedCount(pipeline)} stored, DLQ ${JSON.stringify(dlq)}`,
        );
      }
      // Odd rounds: the worker kills itself right after its 2nd COMMIT, before the queue delete.
      // Even rounds: the test kills it from outside at a random moment (mid-transaction, mid-receive).
      const faulty = (selfKills + kills) % 2 === 0;
      const worker = await pipeline.start("worker", {
        WORKER_POLLERS: "2",
        ...(faulty ? { VIGIL_FAULT_KILL_AFTER_COMMIT_EVERY: "2" } : {}),
      });
      const outcome = await Promise.race([
        worker.exited.then(() => "self"),
        new Promise((resolve) =>
          setTimeout(resolve, faulty ? 6000 : 1000 + Math.random() * 1500, "external"),
        ),
      ]);
      if (outcome === "self") selfKills++;
      else {
        await worker.kill();
        kills++;
      }
    }
    expect(selfKills).toBeGreaterThan(0);
    // A last, undisturbed worker to pick up anything that became visible again meanwhile.
    const finalWorker = await pipeline.start("worker");
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await finalWorker.stop();

    expect(await storedCount(pipeline)).toBe(20_000);
    expect(await pipeline.queue.depth(pipeline.queues.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    for (const { tenant } of tenants) {
      expect(await tenantSeqStats(pipeline, tenant.id)).toEqual({
        n: 10_000,
        distinct_seq: 10_000,
        distinct_id: 10_000,
        min_seq: 1,
        max_seq: 10_000,
      });
      expect((await verifyTenantLog(pipeline.database.db, tenantScope(tenant.id))).ok).toBe(true);
    }
    const [ids] = await pipeline.database.admin<{ n: number }[]>`select count(*)::int as n from event_ids`;
    expect(ids!.n).toBe(20_000);
    console.info(`crash test: ${selfKills} kills between commit and delete, ${kills} external SIGKILLs`);
  }, 240_000);
});

describe("idempotency by client id", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  beforeAll(async () => {
    pipeline = await createTestPipeline();
    api = await pipeline.start("api");
    await pipeline.start("worker");
  });
  afterAll(async () => pipeline?.close());

  test("the same id posted twice (single and bulk) is stored once", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    const id = randomUUID();
    const event = sampleEvent(1, { id, occurred_at: "2026-01-02T03:04:05.678Z" });
    const first = await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body: event });
    expect(first.status).toBe(201);
    const again = await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body: event });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const bulk = await requestJson(`${api.url}/api/v1/logs/bulk`, { key, body: [event, sampleEvent(2)] });
    expect(bulk.status).toBe(202);
    await eventually(async () => (await tenantSeqStats(pipeline, tenant.id)).n === 2);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await tenantSeqStats(pipeline, tenant.id)).toMatchObject({ n: 2, max_seq: 2 });
  });

  test("a stored id sent with a different payload is a 409 naming the id", async () => {
    const { key } = await pipeline.createTenantWithKey();
    const id = randomUUID();
    expect(
      (await requestJson(`${api.url}/api/v1/logs?wait=true`, { key, body: sampleEvent(1, { id }) })).status,
    ).toBe(201);
    const conflict = await requestJson(`${api.url}/api/v1/logs`, { key, body: sampleEvent(2, { id }) });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("content-type")).toContain("application/problem+json");
    expect(conflict.body.errors).toEqual([
      { path: "id", message: "already stored with a different payload" },
    ]);
    const bulkConflict = await requestJson(`${api.url}/api/v1/logs/bulk`, {
      key,
      body: [sampleEvent(3), sampleEvent(2, { id })],
    });
    expect(bulkConflict.status).toBe(409);
    expect(bulkConflict.body.errors[0]).toMatchObject({ index: 1, path: "id" });
  });

  test("two different payloads with one id racing to the worker: the first is kept, the conflict recorded", async () => {
    const { tenant } = await pipeline.createTenantWithKey();
    const id = randomUUID();
    const base = queuedEvent(tenant.id, { id });
    // Straight onto the queue, as two api replicas would before either copy is stored.
    await pipeline.queue.publishEvents([{ ...base, payload_hash: "a".repeat(64) }]);
    await pipeline.queue.publishEvents([{ ...base, resource_id: "d2", payload_hash: "b".repeat(64) }]);
    await eventually(async () => {
      const [row] = await pipeline.database.admin<
        { n: number }[]
      >`select count(*)::int as n from event_conflicts where tenant_id = ${tenant.id}`;
      return row!.n === 1;
    });
    const stored = await pipeline.database.admin<
      { resource_id: string; seq: number }[]
    >`select resource_id, seq from events where tenant_id = ${tenant.id}`;
    expect(stored).toHaveLength(1);
    expect(stored[0]!.seq).toBe(1);
  });
});
