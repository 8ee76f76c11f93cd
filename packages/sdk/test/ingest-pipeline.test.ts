// VigilClient.log() against the real api + worker processes: every accepted event stored exactly
// once with gapless seq, also when responses are lost after the api accepted (same ids on retry);
// invalid events refused at the call; a forged key not retried.
import type { RunningService, TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DropInfo, VigilClient } from "../src/index.ts";
import type { FaultProxy } from "./support/fault-proxy.ts";
import { type ProxiedPipeline, startProxiedPipeline } from "./support/proxied-pipeline.ts";
import { FAST_RETRY, invoiceEvent, waitForStored } from "./support/stored-events.ts";

describe("VigilClient ingest against the real pipeline", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  let proxy: FaultProxy;

  let running: ProxiedPipeline | undefined;

  beforeAll(async () => {
    running = await startProxiedPipeline();
    ({ pipeline, api, proxy } = running);
  });
  afterAll(() => running?.close());

  test("10,000 log() calls: shutdown reports 10,000 sent; 10,000 distinct events stored, seq 1..10,000", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    const client = new VigilClient({ baseUrl: api.url, apiKey: key });
    const ids = new Set<string>();
    for (let index = 0; index < 10_000; index++) {
      const result = client.log(invoiceEvent(index));
      expect(result.accepted).toBe(true);
      ids.add(result.id);
    }
    expect(ids.size).toBe(10_000);
    const result = await client.shutdown({ timeoutMs: 30_000 });
    expect(result).toEqual({ sent: 10_000, dropped: 0, pending: 0, failed: 0 });
    const stored = await waitForStored(pipeline, tenant.id, 10_000);
    expect(stored).toEqual({ rows: 10_000, distinctIds: 10_000, minSeq: 1, maxSeq: 10_000 });
    const [secret] = await pipeline.database.admin`
      select count(*)::int as n from events where tenant_id = ${tenant.id} and metadata::text like '%never-stored%'`;
    expect(secret!.n).toBe(0);
    // The ids the client assigned are the stored ids.
    const sample = [...ids].slice(0, 50);
    const [found] = await pipeline.database.admin`
      select count(*)::int as n from events where tenant_id = ${tenant.id} and id = any(${sample}::uuid[])`;
    expect(found!.n).toBe(50);
  });

  test("responses lost after the api accepted: every event stored exactly once, retries > 0", async () => {
    const { tenant, key } = await pipeline.createTenantWithKey();
    proxy.resetCounters();
    proxy.plan = (request) => (request.number <= 3 ? "forward-then-drop" : "forward");
    const client = new VigilClient({ baseUrl: proxy.url, apiKey: key, batchSize: 250, retry: FAST_RETRY });
    for (let index = 0; index < 2_000; index++) client.log(invoiceEvent(index));
    const result = await client.shutdown({ timeoutMs: 30_000 });
    expect(result).toEqual({ sent: 2_000, dropped: 0, pending: 0, failed: 0 });
    expect(client.counters().retries).toBeGreaterThanOrEqual(3);
    const stored = await waitForStored(pipeline, tenant.id, 2_000);
    expect(stored).toEqual({ rows: 2_000, distinctIds: 2_000, minSeq: 1, maxSeq: 2_000 });
  });

  test("invalid events are refused at log() with the reason, never sent; 401 is not retried", async () => {
    const { key } = await pipeline.createTenantWithKey();
    const drops: DropInfo[] = [];
    const client = new VigilClient({ baseUrl: api.url, apiKey: key, onDrop: (info) => drops.push(info) });
    expect(client.log({ action_type: "UPDATE", resource_type: "invoice", resource_id: "" })).toMatchObject({
      accepted: false,
      reason: "invalid: resource_id must not be empty",
    });
    expect(client.log(null as never)).toMatchObject({ accepted: false });
    expect(client.log({ ...invoiceEvent(1), surprise: 1 } as never).reason).toContain("surprise");
    expect(drops.map((drop) => drop.reason)).toEqual(["invalid", "invalid", "invalid"]);

    const forged = new VigilClient({
      baseUrl: proxy.url,
      apiKey: `vgl_${"x".repeat(40)}`,
      retry: FAST_RETRY,
    });
    proxy.resetCounters();
    proxy.plan = () => "forward";
    forged.log(invoiceEvent(1));
    expect(await forged.shutdown({ timeoutMs: 5_000 })).toEqual({
      sent: 0,
      dropped: 0,
      pending: 0,
      failed: 1,
    });
    expect(proxy.requests).toHaveLength(1);
  });
});
