// VigilClient against a misbehaving api (through a fault proxy, real api + worker behind it): an
// outage with the queue bound holding and every drop reported, 429 Retry-After, 413 and 422.
import v8 from "node:v8";
import vm from "node:vm";
import type { RunningService, TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DropInfo, VigilClient } from "../src/index.ts";
import type { FaultProxy } from "./support/fault-proxy.ts";
import { type ProxiedPipeline, startProxiedPipeline } from "./support/proxied-pipeline.ts";
import { FAST_RETRY, invoiceEvent, storedSummary, waitForStored } from "./support/stored-events.ts";

v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;
const retainedHeapMb = () => {
  collectGarbage();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

describe("VigilClient ingest through faults", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  let proxy: FaultProxy;

  let running: ProxiedPipeline | undefined;

  beforeAll(async () => {
    running = await startProxiedPipeline();
    ({ pipeline, api, proxy } = running);
  });
  afterAll(() => running?.close());

  // The full-size run (queue bound 10,000, 50,000 calls) is in bench/sdk-bench.ts.
  test("api stopped, queue bound 2,000: 10,000 log() → 8,000 dropped, ≤ 2 sockets; after the api returns the 2,000 arrive once", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    await api.stop();
    proxy.resetCounters();
    proxy.plan = () => "forward";
    const dropReasons = new Map<string, number>();
    const client = new VigilClient({
      baseUrl: proxy.url,
      apiKey: key,
      maxQueueEvents: 2_000,
      maxConcurrentRequests: 2,
      retry: FAST_RETRY,
      onDrop: (info) => dropReasons.set(info.reason, (dropReasons.get(info.reason) ?? 0) + info.ids.length),
    });
    try {
      const heapBefore = retainedHeapMb();
      let accepted = 0;
      for (let index = 0; index < 10_000; index++) if (client.log(invoiceEvent(index)).accepted) accepted++;
      const heapAfterQueueing = retainedHeapMb();
      expect(accepted).toBe(2_000);
      expect(client.counters()).toMatchObject({ accepted: 2_000, dropped: 8_000, pending: 2_000 });
      expect(Object.fromEntries(dropReasons)).toEqual({ queue_full: 8_000 });
      // What stays is the 10,000 queued events (~3 MB of JSON), not the 50,000 offered.
      expect(heapAfterQueueing - heapBefore).toBeLessThan(24);
      expect(client.counters().pendingBytes).toBeLessThan(2 * 1024 * 1024);
      // Let the client fail against the absent api for a while: still bounded, still 2 sockets at most.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(proxy.requests.length).toBeGreaterThan(2);
      expect(proxy.maxActiveRequests).toBeLessThanOrEqual(2);
      expect(proxy.maxOpenSockets).toBeLessThanOrEqual(2);
      expect(client.counters()).toMatchObject({ pending: 2_000, sent: 0, failed: 0 });
      expect(retainedHeapMb() - heapBefore).toBeLessThan(12);
    } finally {
      api = await pipeline.start("api");
      proxy.target = api.url;
    }
    const result = await client.shutdown({ timeoutMs: 30_000 });
    expect(result).toEqual({ sent: 2_000, dropped: 8_000, pending: 0, failed: 0 });
    expect(proxy.maxActiveRequests).toBeLessThanOrEqual(2);
    const stored = await waitForStored(pipeline, tenant.id, 2_000);
    expect(stored).toEqual({ rows: 2_000, distinctIds: 2_000, minSeq: 1, maxSeq: 2_000 });
  });

  test("429 with Retry-After: the retry waits at least that long and the event is stored once", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    proxy.resetCounters();
    proxy.plan = (request) =>
      request.number === 1 ? { status: 429, headers: { "Retry-After": "1" } } : "forward";
    const client = new VigilClient({ baseUrl: proxy.url, apiKey: key, retry: FAST_RETRY });
    client.log(invoiceEvent(1));
    expect(await client.shutdown({ timeoutMs: 10_000 })).toMatchObject({ sent: 1, failed: 0 });
    const [first, second] = proxy.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1_000);
    expect(second!.body).toBe(first!.body); // the same bytes, so the same id
    expect(await waitForStored(pipeline, tenant.id, 1)).toMatchObject({ rows: 1, distinctIds: 1 });
  });

  test("413 splits the batch; 422 reports the rejected item by index and sends the rest", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey(["ingest", "read"], { retention_days: 1 });
    proxy.resetCounters();
    // A batch of more than 40 events is "too large" here: the client halves until it fits.
    proxy.plan = (request) =>
      request.body.split('"action_type"').length - 1 > 40 ? { status: 413 } : "forward";
    const drops: DropInfo[] = [];
    const client = new VigilClient({
      baseUrl: proxy.url,
      apiKey: key,
      batchSize: 100,
      retry: FAST_RETRY,
      onDrop: (info) => drops.push(info),
    });
    for (let index = 0; index < 99; index++) client.log(invoiceEvent(index));
    // Valid locally, refused by the server: older than the tenant's retention.
    const old = client.log({
      ...invoiceEvent(99),
      occurred_at: new Date(Date.now() - 10 * 86_400_000).toISOString(),
    });
    expect(old.accepted).toBe(true);
    const result = await client.shutdown({ timeoutMs: 10_000 });
    expect(result).toEqual({ sent: 99, dropped: 0, pending: 0, failed: 1 });
    expect(proxy.requests.some((request) => request.number === 1)).toBe(true);
    expect(drops).toEqual([
      expect.objectContaining({
        reason: "rejected",
        ids: [old.id],
        message: expect.stringContaining("occurred_at"),
      }),
    ]);
    expect(await waitForStored(pipeline, tenant.id, 99)).toMatchObject({ rows: 99, distinctIds: 99 });
    expect((await storedSummary(pipeline, tenant.id)).rows).toBe(99);
  });
});
