// @vigil/sdk benchmark: `npx tsx bench/sdk-bench.ts [--quick]`. Measures, on this machine:
//  1. log(): 10,000 calls' wall time (target < 100 ms) and CPU per event over 100,000 calls;
//  2. the core bundle's size (minified + gzip) per entry point;
//  3. against the real stack (embedded PostgreSQL, fauxqs, api/worker processes): 10,000 log() →
//     shutdown sent 10,000, stored once with gapless seq; api stopped with the queue bound at
//     10,000: 50,000 log() → 40,000 dropped, retained heap, ≤ 2 requests/sockets, then the 10,000
//     arrive exactly once after the api returns;
//  4. the Hono middleware's cost: p50/p95 of 1,000 app requests without it, with Vigil down, and
//     with Vigil answering after 5 s (target: p95 grows by < 2 ms).
// Writes bench/results/sdk-<date>.{json,md}. Everything started here is stopped by PID at the end.
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { buildSdk, bundleSizes } from "../packages/sdk/scripts/build.ts";
import { vigilAudit } from "../packages/sdk/src/hono.ts";
import { VigilClient } from "../packages/sdk/src/index.ts";
import { startFaultProxy } from "../packages/sdk/test/support/fault-proxy.ts";
import { startBenchStack } from "./bench-stack.ts";
import { percentile, sleep, waitUntil } from "./measure.ts";

const quick = process.argv.includes("--quick");
const log = (line: string) => process.stderr.write(`[sdk-bench] ${line}\n`);
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;
const heapMb = () => {
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};
const results: Record<string, unknown> = {};

const sampleEvent = (index: number) => ({
  action_type: "UPDATE" as const,
  resource_type: "invoice",
  resource_id: `inv-${index}`,
  user_id: `user-${index % 50}`,
  after_state: { status: "approved", amount: index, lines: [{ sku: "a-1", qty: 2 }] },
  metadata: { password: "x", request: { ip: "10.0.0.1" } },
});

function instantAccept(): typeof fetch {
  return async () => new Response('{"accepted":0}', { status: 202 });
}

/** log() as users run it: the published ESM build (tsx-compiled sources carry extra name helpers). */
async function measureLogCost() {
  await buildSdk();
  const { VigilClient } = (await import(
    path.join(import.meta.dirname, "../packages/sdk/dist/esm/index.js")
  )) as typeof import("../packages/sdk/src/index.ts");
  const runs: number[] = [];
  for (let run = 0; run < 5; run++) {
    const client = new VigilClient({
      baseUrl: "http://bench.invalid",
      apiKey: "vgl_bench",
      fetch: instantAccept(),
    });
    const events = Array.from({ length: 10_000 }, (_, index) => sampleEvent(index));
    const started = performance.now();
    for (const event of events) client.log(event);
    runs.push(performance.now() - started);
    await client.shutdown({ timeoutMs: 5_000 });
  }
  const client = new VigilClient({
    baseUrl: "http://bench.invalid",
    apiKey: "vgl_bench",
    fetch: instantAccept(),
    maxQueueEvents: 200_000,
    maxQueueBytes: 512 * 1024 * 1024,
  });
  const events = Array.from({ length: 100_000 }, (_, index) => sampleEvent(index));
  const cpuBefore = process.cpuUsage();
  for (const event of events) client.log(event);
  const cpu = process.cpuUsage(cpuBefore);
  await client.shutdown({ timeoutMs: 10_000 });
  results.log = {
    ten_thousand_calls_ms: runs.map((value) => Math.round(value * 10) / 10),
    ten_thousand_calls_ms_median: Math.round(percentile(runs, 50) * 10) / 10,
    cpu_us_per_event: Math.round(((cpu.user + cpu.system) / 100_000) * 100) / 100,
  };
  log(`log(): ${JSON.stringify(results.log)}`);
}

async function measureBundleSize() {
  results.bundle = await bundleSizes();
  log(`bundle: ${JSON.stringify(results.bundle)}`);
}

async function measureAgainstStack() {
  const stack = await startBenchStack(log);
  try {
    const api = await stack.start("api");
    await stack.start("worker");
    const stored = async (tenantId: string) => {
      const [row] = await stack.admin<{ rows: number; ids: number; min: number; max: number }[]>`
        select count(*)::int as rows, count(distinct id)::int as ids, min(seq)::int as min, max(seq)::int as max
        from events where tenant_id = ${tenantId}`;
      return row!;
    };

    {
      const { tenant, key } = await stack.pipeline.createTenantWithKey();
      const client = new VigilClient({ baseUrl: api.url, apiKey: key });
      const started = performance.now();
      for (let index = 0; index < 10_000; index++) client.log(sampleEvent(index));
      const logMs = performance.now() - started;
      const result = await client.shutdown({ timeoutMs: 60_000 });
      const sentMs = performance.now() - started;
      await waitUntil(async () => (await stored(tenant.id)).rows >= 10_000, 120_000);
      const storedMs = performance.now() - started;
      await sleep(500);
      results.pipeline_10k = {
        log_ms: Math.round(logMs),
        shutdown: result,
        sent_ms: Math.round(sentMs),
        stored_ms: Math.round(storedMs),
        stored: await stored(tenant.id),
      };
      log(`10,000 through the pipeline: ${JSON.stringify(results.pipeline_10k)}`);
    }

    {
      const { tenant, key } = await stack.pipeline.createTenantWithKey();
      const proxy = await startFaultProxy(api.url);
      await stack.stopService("api");
      const client = new VigilClient({
        baseUrl: proxy.url,
        apiKey: key,
        maxQueueEvents: 10_000,
        maxConcurrentRequests: 2,
        retry: { baseDelayMs: 50, maxDelayMs: 1_000, maxAttempts: 100_000 },
      });
      const heapBefore = heapMb();
      for (let index = 0; index < 50_000; index++) client.log(sampleEvent(index));
      const afterLog = client.counters();
      await sleep(quick ? 2_000 : 10_000);
      const heapDuringOutage = heapMb() - heapBefore;
      const duringOutage = { ...client.counters(), requests_seen_by_proxy: proxy.requests.length };
      const restarted = await stack.start("api");
      proxy.target = restarted.url;
      const result = await client.shutdown({ timeoutMs: 60_000 });
      await waitUntil(async () => (await stored(tenant.id)).rows >= 10_000, 120_000);
      await sleep(500);
      results.outage = {
        after_50k_log: {
          accepted: afterLog.accepted,
          dropped: afterLog.dropped,
          pending: afterLog.pending,
          pending_bytes: afterLog.pendingBytes,
        },
        retained_heap_growth_mb: Math.round(heapDuringOutage * 10) / 10,
        during_outage: duringOutage,
        max_active_requests: proxy.maxActiveRequests,
        max_open_sockets: proxy.maxOpenSockets,
        shutdown: result,
        stored: await stored(tenant.id),
      };
      log(`outage: ${JSON.stringify(results.outage)}`);
      await proxy.close();
    }
  } finally {
    await stack.stop();
  }
}

async function measureMiddlewareOverhead() {
  // A "slow Vigil": accepts connections and answers each request after 5 s.
  const slow = createServer((_req, res) => {
    setTimeout(() => res.writeHead(202).end("{}"), 5_000).unref();
  });
  await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
  const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  const modes: Record<string, VigilClient | undefined> = {
    without_middleware: undefined,
    vigil_down: new VigilClient({
      baseUrl: "http://127.0.0.1:9",
      apiKey: "vgl_bench",
      retry: { baseDelayMs: 50, maxDelayMs: 500 },
    }),
    vigil_slow_5s: new VigilClient({ baseUrl: slowUrl, apiKey: "vgl_bench", requestTimeoutMs: 60_000 }),
  };
  const requests = 1_000;
  const latencies: Record<string, { p50: number; p95: number; p99: number; ok: number }> = {};
  for (const round of [0, 1]) {
    for (const [mode, client] of Object.entries(modes)) {
      const app = new Hono();
      if (client) app.use("*", vigilAudit({ client }));
      app.post("/invoices/:id", async (c) =>
        c.json({ id: c.req.param("id"), body: await c.req.json() }, 201),
      );
      const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
        const started = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(started));
      });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const samples: number[] = [];
      let ok = 0;
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < requests) {
            const index = next++;
            const started = performance.now();
            const response = await fetch(`${url}/invoices/${index}?token=t`, {
              method: "POST",
              headers: { "Content-Type": "application/json", Authorization: "Bearer x" },
              body: JSON.stringify({ amount: index, password: "p", items: [{ sku: "a", qty: 1 }] }),
            });
            await response.arrayBuffer();
            samples.push(performance.now() - started);
            if (response.status === 201) ok++;
          }
        }),
      );
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (round === 1) {
        latencies[mode] = {
          p50: Math.round(percentile(samples, 50) * 1000) / 1000,
          p95: Math.round(percentile(samples, 95) * 1000) / 1000,
          p99: Math.round(percentile(samples, 99) * 1000) / 1000,
          ok,
        };
      }
    }
  }
  for (const client of Object.values(modes)) await client?.shutdown({ timeoutMs: 100 });
  slow.close();
  slow.closeAllConnections();
  const base = latencies.without_middleware!.p95;
  results.middleware = {
    requests,
    concurrency: 4,
    latencies_ms: latencies,
    p95_growth_ms: {
      vigil_down: Math.round((latencies.vigil_down!.p95 - base) * 1000) / 1000,
      vigil_slow_5s: Math.round((latencies.vigil_slow_5s!.p95 - base) * 1000) / 1000,
    },
  };
  log(`middleware: ${JSON.stringify(results.middleware)}`);
}

await measureLogCost();
await measureBundleSize();
await measureMiddlewareOverhead();
await measureAgainstStack();

const date = new Date().toISOString().slice(0, 10);
const file = path.join(import.meta.dirname, "results", `sdk-${date}${quick ? "-quick" : ""}`);
writeFileSync(
  `${file}.json`,
  `${JSON.stringify({ date: new Date().toISOString(), quick, results }, null, 2)}\n`,
);
const r = results as any;
const md = `# @vigil/sdk benchmark, ${date}${quick ? " (quick)" : ""}

| figure | measured | target |
| --- | --- | --- |
| 10,000 log() calls (median of 5) | ${r.log.ten_thousand_calls_ms_median} ms (runs ${r.log.ten_thousand_calls_ms.join(", ")}) | < 100 ms — ${r.log.ten_thousand_calls_ms_median < 100 ? "PASS" : "MISS"} |
| CPU per log() (100,000 calls) | ${r.log.cpu_us_per_event} µs | |
| bundle \`@vigil/sdk\` min+gzip | ${r.bundle.index.gzip} B (min ${r.bundle.index.minified} B) | |
| bundle \`@vigil/sdk/hono\` / \`express\` min+gzip | ${r.bundle.hono.gzip} B / ${r.bundle.express.gzip} B | |
| 10,000 events through the pipeline | sent ${r.pipeline_10k.shutdown.sent}, stored ${r.pipeline_10k.stored.rows} (${r.pipeline_10k.stored.ids} distinct, seq ${r.pipeline_10k.stored.min}..${r.pipeline_10k.stored.max}), all stored after ${r.pipeline_10k.stored_ms} ms | exactly once, gapless |
| api down, bound 10,000, 50,000 log() | dropped ${r.outage.after_50k_log.dropped}, pending ${r.outage.after_50k_log.pending} (${(r.outage.after_50k_log.pending_bytes / 1048576).toFixed(1)} MiB), retained heap +${r.outage.retained_heap_growth_mb} MB, ≤ ${r.outage.max_active_requests} requests / ${r.outage.max_open_sockets} sockets at once | 40,000 dropped, ≤ 2 |
| after the api returns | sent ${r.outage.shutdown.sent}, stored ${r.outage.stored.rows} (${r.outage.stored.ids} distinct, seq ${r.outage.stored.min}..${r.outage.stored.max}) | exactly once |
| middleware p95, 1,000 requests × 4 concurrent | none ${r.middleware.latencies_ms.without_middleware.p95} ms · Vigil down ${r.middleware.latencies_ms.vigil_down.p95} ms (+${r.middleware.p95_growth_ms.vigil_down}) · Vigil 5 s slow ${r.middleware.latencies_ms.vigil_slow_5s.p95} ms (+${r.middleware.p95_growth_ms.vigil_slow_5s}) | growth < 2 ms — ${Math.max(r.middleware.p95_growth_ms.vigil_down, r.middleware.p95_growth_ms.vigil_slow_5s) < 2 ? "PASS" : "MISS"} |
| app requests answered 201 | none ${r.middleware.latencies_ms.without_middleware.ok} · down ${r.middleware.latencies_ms.vigil_down.ok} · slow ${r.middleware.latencies_ms.vigil_slow_5s.ok} of 1,000 | all |

Load average at the end: ${(await import("node:os"))
  .loadavg()
  .map((value) => value.toFixed(2))
  .join(" ")}
`;
writeFileSync(`${file}.md`, md);
process.stdout.write(md);
process.exit(0);
