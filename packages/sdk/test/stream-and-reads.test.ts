// Reads and the live stream against the real api, worker and streamer: search() follows cursors,
// get/history/stats/export answer typed, errors carry problem+json and the request id, and
// stream() yields a gapless, duplicate-free seq sequence across a streamer restart.
import { createTestPipeline, eventually, type RunningService, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { VigilApiError, VigilClient, type WebSocketConstructor } from "../src/index.ts";
import { startTcpForwarder, type TcpForwarder } from "./support/tcp-forwarder.ts";

describe("VigilClient reads and stream against the real pipeline", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  let streamer: RunningService;
  let forwarder: TcpForwarder;

  beforeAll(async () => {
    pipeline = await createTestPipeline();
    [api, , streamer] = await Promise.all([
      pipeline.start("api"),
      pipeline.start("worker"),
      pipeline.start("streamer"),
    ]);
    forwarder = await startTcpForwarder(streamer.url);
  });
  afterAll(async () => {
    await forwarder?.close();
    await pipeline?.close();
  });

  test("stream() across a streamer restart yields seq 1..600 once each, in order", async () => {
    const { key } = await pipeline.createTenantWithKey();
    const client = new VigilClient({
      baseUrl: api.url,
      apiKey: key,
      streamUrl: forwarder.url,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      flushIntervalMs: 20,
    });
    const seen: number[] = [];
    const reconnects: number[] = [];
    const stop = new AbortController();
    const consumed = (async () => {
      for await (const event of client.stream({
        since: 0,
        signal: stop.signal,
        onReconnect: (info) => reconnects.push(info.code),
      })) {
        seen.push(event.seq);
        if (seen.length === 600) break;
      }
    })();
    const logBatch = async (from: number, count: number) => {
      for (let index = from; index < from + count; index++) {
        client.log({ action_type: "CREATE", resource_type: "ticket", resource_id: `t-${index}` });
      }
      await client.flush();
    };

    await logBatch(0, 200);
    await eventually(async () => seen.length >= 200 || undefined);
    await streamer.stop(); // graceful: clients get 1012 and reconnect with since
    await logBatch(200, 200); // stored while no streamer runs
    streamer = await pipeline.start("streamer");
    forwarder.setTarget(streamer.url);
    await logBatch(400, 200);
    await Promise.race([
      consumed,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`stream stalled at ${seen.length}`)), 30_000),
      ),
    ]);
    stop.abort();
    expect(seen).toEqual(Array.from({ length: 600 }, (_, index) => index + 1));
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(reconnects[0]).toBe(1012);
    await client.shutdown();
  });

  test("search() pages through cursors; get, history, stats and export answer; errors are typed", async () => {
    const { key } = await pipeline.createTenantWithKey();
    const client = new VigilClient({ baseUrl: api.url, apiKey: key });
    const ids: string[] = [];
    for (let index = 0; index < 120; index++) {
      ids.push(
        client.log({
          action_type: index === 0 ? "CREATE" : "UPDATE",
          resource_type: "invoice",
          resource_id: index % 2 ? "inv-odd" : "inv-even",
          user_id: `user-${index % 3}`,
          before_state: { version: index },
          after_state: { version: index + 1 },
        }).id,
      );
    }
    await client.shutdown();
    await eventually(
      async () => (await client.searchPage({ limit: 1, sort: "-seq" })).data[0]?.seq === 120 || undefined,
    );

    const seqs: number[] = [];
    for await (const event of client.search({ sort: "seq", limit: 25 })) seqs.push(event.seq);
    expect(seqs).toEqual(Array.from({ length: 120 }, (_, index) => index + 1));

    const first = await client.get(ids[0]!);
    expect(first).toMatchObject({ id: ids[0], seq: 1, action_type: "CREATE", resource_id: "inv-even" });
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);

    const history = [];
    for await (const entry of client.history("invoice", "inv-odd", { limit: 7 })) history.push(entry);
    expect(history).toHaveLength(60);
    expect(history[0]!.diff.changed).toEqual([{ path: "version", old: 1, new: 2 }]);

    const stats = await client.stats({ bucket: "hour" });
    expect(stats.total).toBe(120);
    expect(stats.by_action_type).toMatchObject({ CREATE: 1, UPDATE: 119 });

    const csv = await new Response(await client.export({ format: "csv" })).text();
    // Vigil records each export in the tenant's own log; that record may land inside the export.
    const csvRows = csv
      .trim()
      .split("\n")
      .filter((line) => !line.includes("vigil.events.export"));
    expect(csvRows).toHaveLength(121);

    const missing = await client.get("0190b1d4-8f7e-7c2a-9d3e-1a2b3c4d5e6f").catch((error) => error);
    expect(missing).toBeInstanceOf(VigilApiError);
    expect(missing).toMatchObject({ status: 404, code: "NOT_FOUND" });
    expect(missing.requestId).toMatch(/.+/);
    expect(missing.problem.title).toBeTruthy();

    const forged = new VigilClient({ baseUrl: api.url, apiKey: `vgl_${"y".repeat(40)}` });
    const refused = await forged.searchPage().catch((error) => error);
    expect(refused).toMatchObject({ status: 401 });
  });

  test("stream() with a forged key throws a typed error instead of reconnecting forever", async () => {
    const forged = new VigilClient({
      baseUrl: api.url,
      apiKey: `vgl_${"z".repeat(40)}`,
      streamUrl: streamer.url,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    const error = await (async () => {
      for await (const _event of forged.stream()) return undefined;
    })().catch((caught) => caught);
    expect(error).toBeInstanceOf(VigilApiError);
    expect(error.status).toBe(401);
  });
});
