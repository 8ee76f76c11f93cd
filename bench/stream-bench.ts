// Live stream: store-to-client latency with many subscribers under a steady ingest rate, and the
// streamer's memory per idle connection. Loopback only, bounded duration. Latency is measured per
// delivered event as (client receive time − the row's stored_at), on a sample of subscribers that
// receive exactly the same stream as all the others.
import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { requestJson } from "@vigil/testkit/http-client";
import { TSX_LOADER } from "@vigil/testkit/services";
import { openStream, type StreamClient } from "../services/streamer/test/stream-client.ts";
import { makeEvent } from "../services/streamer/test/stream-fixtures.ts";
import type { BenchStack } from "./bench-stack.ts";
import { cpuMeter, cpuReport, figure, formatNumber, memoryMb, percentile, sleep } from "./measure.ts";
import type { SectionResult } from "./report.ts";

export interface StreamBenchOptions {
  subscribers: number;
  eventsPerSecond: number;
  seconds: number;
  /** Subscribers whose every receive time is kept for the latency percentiles. */
  sampledSubscribers?: number;
}

/** Opens `count` idle subscribers (all events, no since), keeping only their seqs. */
async function openMany(url: string, key: string, count: number) {
  const clients: StreamClient[] = [];
  // Opened in small waves so the handshake burst does not dominate the start.
  for (let offset = 0; offset < count; offset += 50) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(50, count - offset) }, () =>
        openStream(url, { token: key, keep: "seq" }),
      ),
    );
    clients.push(...wave);
  }
  await Promise.all(clients.map((client) => client.waitFor(() => client.ready !== null, 60_000)));
  return clients;
}

export async function benchStream(
  stack: BenchStack,
  options: StreamBenchOptions,
  log: (line: string) => void,
): Promise<SectionResult> {
  const notes: string[] = [];
  const api = stack.services.api ?? (await stack.start("api"));
  if (!stack.services.worker) await stack.start("worker");

  // 1. Memory per idle connection, on a fresh streamer.
  const streamer = await stack.start("streamer");
  const idle = await stack.pipeline.createTenantWithKey(["ingest", "read"]);
  await sleep(1000);
  const rssBefore = memoryMb(streamer.pid).rss * 1024;
  const idleClients = await openMany(streamer.url, idle.key, options.subscribers);
  await sleep(2000);
  const rssAfter = memoryMb(streamer.pid).rss * 1024;
  const perConnectionKb = (rssAfter - rssBefore) / options.subscribers;
  log(
    `stream: ${options.subscribers} idle connections: RSS ${rssBefore} kB → ${rssAfter} kB (${formatNumber(perConnectionKb)} kB each)`,
  );
  for (const client of idleClients) client.close();

  // 2. Latency under load at the target rate, then at a quarter of it (how much load the machine
  //    takes within the target), each on a fresh streamer.
  const atTarget = await measureUnderLoad(stack, api, options, options.eventsPerSecond, log);
  const headroomRate = Math.max(1, Math.round(options.eventsPerSecond / 4));
  const atQuarter = await measureUnderLoad(stack, api, options, headroomRate, log);
  notes.push(
    ...atTarget.notes,
    ...atQuarter.notes,
    `Latency = client receive time − stored_at (transaction start in the worker), over ${options.sampledSubscribers ?? 20} sampled subscribers.`,
  );
  return {
    figures: {
      latencyP50: figure([atTarget.p50], "ms"),
      latencyP99: figure([atTarget.p99], "ms"),
      deliveriesPerSecond: figure([atTarget.deliveriesPerSecond], "msg/s"),
      quarterRateLatencyP50: figure([atQuarter.p50], "ms"),
      quarterRateLatencyP99: figure([atQuarter.p99], "ms"),
      idleRssPerConnection: figure([perConnectionKb], "kB"),
    },
    targets: [],
    notes,
  };
}

/** Subscribers (in a child process) on a fresh streamer while events are posted at `eventsPerSecond`. */
async function measureUnderLoad(
  stack: BenchStack,
  api: { url: string; pid: number },
  options: StreamBenchOptions,
  eventsPerSecond: number,
  log: (line: string) => void,
) {
  const notes: string[] = [];
  const streamer = await stack.start("streamer");
  const { tenant, key } = await stack.pipeline.createTenantWithKey(["ingest", "read"]);
  const sampled = options.sampledSubscribers ?? 20;
  // The subscribers live in a child process, so they do not starve this process (which hosts the
  // SQS emulator and posts the events) and the figure measures the streamer, not the runner.
  const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), "stream-subscribers.ts"), {
    execArgv: ["--import", TSX_LOADER],
    env: { ...process.env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const nextMessage = () =>
    new Promise<any>((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`stream subscriber process exited (${code})`)));
    });
  child.send({ url: streamer.url, key, count: options.subscribers, sampled });
  await nextMessage();
  const total = eventsPerSecond * options.seconds;
  const perTick = Math.max(1, Math.round(eventsPerSecond / 10));
  log(`stream: ${options.subscribers} subscribers, ${eventsPerSecond} events/s for ${options.seconds} s`);
  const meter = cpuMeter({
    streamer: { pid: streamer.pid },
    subscribers: { pid: child.pid },
    api: { pid: api.pid },
    worker: { pid: stack.services.worker?.pid },
    postgres: { pid: stack.pgPid, tree: true },
    "bench+fauxqs": { pid: process.pid },
  });
  const started = Date.now();
  let posted = 0;
  let failedPosts = 0;
  const inflight: Promise<unknown>[] = [];
  while (posted < total) {
    const batch = Array.from({ length: Math.min(perTick, total - posted) }, (_, j) => makeEvent(posted + j));
    posted += batch.length;
    inflight.push(
      requestJson(`${api.url}/api/v1/logs/bulk`, { key, body: batch }).then(
        (response) => void (response.status === 202 || failedPosts++),
        () => void failedPosts++,
      ),
    );
    const due = started + (posted / eventsPerSecond) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  await Promise.all(inflight);
  const postSeconds = (Date.now() - started) / 1000;
  if (failedPosts) notes.push(`${failedPosts} bulk posts failed; their events count as not delivered.`);
  // Bounded drain: whatever has not arrived 30 s after the last post counts as not delivered.
  const resultMessage = nextMessage();
  const cpuDuringLoad = meter.since();
  child.send({ type: "collect", total, deadlineMs: Date.now() + 30_000 });
  const result = (await resultMessage) as {
    complete: number;
    delivered: number;
    outOfOrder: number;
    slowCloses: number;
    receipts: Array<[number, number]>;
  };

  const stored = await stack.admin<{ seq: number; stored_at: Date }[]>`
    select seq, stored_at from events where tenant_id = ${tenant.id} order by seq`;
  const storedAt = new Map(stored.map((row) => [Number(row.seq), row.stored_at.getTime()]));
  const latencies = result.receipts.map(([seq, at]) => at - storedAt.get(seq)!);
  const { delivered, slowCloses, complete, outOfOrder } = result;
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  log(
    `stream: posted ${total} in ${postSeconds.toFixed(1)} s; ${complete}/${options.subscribers} subscribers got all; ${delivered} deliveries; ${slowCloses} slow-consumer closes; latency p50 ${formatNumber(p50)} ms, p99 ${formatNumber(p99)} ms`,
  );
  notes.push(
    `At ${eventsPerSecond} events/s: ${options.subscribers} subscribers on one streamer, each subscribed to every event of the tenant, for ${options.seconds} s (${formatNumber(total)} events, ${formatNumber(total * options.subscribers)} deliveries); the subscribers run in a separate process on the same machine. Latency p50 ${formatNumber(p50)} ms, p99 ${formatNumber(p99)} ms.`,
    `At ${eventsPerSecond} events/s: ${complete}/${options.subscribers} subscribers received every event, each in seq order with no gap or duplicate (${outOfOrder} out-of-order deliveries in total); ${slowCloses} were closed as slow consumers (4008).`,
    `At ${eventsPerSecond} events/s, while posting (${postSeconds.toFixed(1)} s): ${cpuReport(cpuDuringLoad, postSeconds, total / 1000, "1,000 events")}.`,
  );
  return { p50, p99, deliveriesPerSecond: delivered / Math.max(postSeconds, 1), notes };
}
