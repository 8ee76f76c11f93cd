// Live stream: store-to-client latency with many subscribers under a steady ingest rate, spread over
// one or more streamer processes, and the streamer's memory per idle connection. Loopback only,
// bounded duration. Latency is measured per delivered event as (client receive time − the row's
// stored_at), on a sample of subscribers (spread over the streamers like the rest) that receive
// exactly the same stream as all the others.
import { execFileSync, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { requestJson } from "@vigil/testkit/http-client";
import { TSX_LOADER } from "@vigil/testkit/services";
import { openStream, type StreamClient } from "../services/streamer/test/stream-client.ts";
import { makeEvent } from "../services/streamer/test/stream-fixtures.ts";
import type { BenchStack } from "./bench-stack.ts";
import {
  cpuMeter,
  cpuReport,
  type Figure,
  figure,
  formatNumber,
  memoryMb,
  percentile,
  sleep,
  type TargetCheck,
} from "./measure.ts";
import type { SectionResult } from "./report.ts";

/** The issue's target: store-to-client p99 at the highest rate, with as many streamers as it takes. */
export const STREAM_P99_TARGET_MS = 250;

export interface StreamBenchOptions {
  subscribers: number;
  /** Ingest rates to measure (events/s); the highest is the one the target is checked at. */
  rates: number[];
  /** Streamer process counts to measure each rate with; the subscribers are spread over them. */
  streamerCounts: number[];
  seconds: number;
  /** Subscribers whose every receive time is kept for the latency percentiles. */
  sampledSubscribers?: number;
}

/** User and system CPU seconds of a process since it started, from /proc (Linux). */
function userSystemSeconds(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** One (streamers × rate) measurement. */
export interface StreamLoadResult {
  streamers: number;
  eventsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  deliveriesPerSecond: number;
  /** Streamer CPU per delivered message (µs), one entry per streamer process. */
  cpuPerDeliveryUs: number[];
  complete: number;
  slowCloses: number;
  notes: string[];
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

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? "" : "s"}`;
const rateLabel = (rate: number) => `${rate.toLocaleString("en-US")} events/s`;

export async function benchStream(
  stack: BenchStack,
  options: StreamBenchOptions,
  log: (line: string) => void,
): Promise<SectionResult & { runs: StreamLoadResult[] }> {
  const notes: string[] = [];
  const api = stack.services.api ?? (await stack.start("api"));
  if (!stack.services.worker) await stack.start("worker");

  // 1. Memory per idle connection, on a fresh streamer.
  const [streamer] = await stack.startStreamers(1);
  const idle = await stack.pipeline.createTenantWithKey(["ingest", "read"]);
  await sleep(1000);
  const rssBefore = memoryMb(streamer!.pid).rss * 1024;
  const idleClients = await openMany(streamer!.url, idle.key, options.subscribers);
  await sleep(2000);
  const rssAfter = memoryMb(streamer!.pid).rss * 1024;
  const perConnectionKb = (rssAfter - rssBefore) / options.subscribers;
  log(
    `stream: ${options.subscribers} idle connections: RSS ${rssBefore} kB → ${rssAfter} kB (${formatNumber(perConnectionKb)} kB each)`,
  );
  for (const client of idleClients) client.close();

  // 2. Latency under load: every rate with every streamer count, each on fresh streamers.
  const runs: StreamLoadResult[] = [];
  for (const streamers of options.streamerCounts)
    for (const rate of options.rates)
      runs.push(await measureUnderLoad(stack, api, options, rate, streamers, log));

  const figures: Record<string, Figure> = {};
  for (const run of runs) {
    const label = `${plural(run.streamers, "streamer")}, ${rateLabel(run.eventsPerSecond)}`;
    figures[`${label}: latency p50`] = figure([run.p50], "ms");
    figures[`${label}: latency p95`] = figure([run.p95], "ms");
    figures[`${label}: latency p99`] = figure([run.p99], "ms");
    figures[`${label}: deliveries per second`] = figure([run.deliveriesPerSecond], "msg/s");
    figures[`${label}: streamer CPU per delivery (mean of processes)`] = figure(
      [run.cpuPerDeliveryUs.reduce((sum, value) => sum + value, 0) / run.cpuPerDeliveryUs.length],
      "µs",
    );
    notes.push(...run.notes);
  }
  figures["streamer RSS per idle connection"] = figure([perConnectionKb], "kB");
  notes.push(
    `Latency = client receive time − stored_at (transaction start in the worker), over ${options.sampledSubscribers ?? 20} sampled subscribers spread over the streamers like the others.`,
  );

  const topRate = Math.max(...options.rates);
  const atTop = runs
    .filter((run) => run.eventsPerSecond === topRate)
    .sort((a, b) => a.streamers - b.streamers);
  const meeting = atTop.find(
    (run) => run.p99 <= STREAM_P99_TARGET_MS && run.complete === options.subscribers,
  );
  const targets: TargetCheck[] = [
    {
      section: "stream",
      target: `store-to-client p99 ≤ ${STREAM_P99_TARGET_MS} ms with ${options.subscribers} subscribers at ${rateLabel(topRate)} (fewest streamers that meet it)`,
      measured: `${atTop.map((run) => `${plural(run.streamers, "streamer")}: p99 ${formatNumber(run.p99)} ms`).join("; ")} → ${meeting ? `met with ${plural(meeting.streamers, "streamer")}` : "not met"}`,
      pass: meeting !== undefined,
    },
    {
      section: "stream",
      target: "≤ 50 KB streamer RSS per idle connection",
      measured: `${formatNumber(perConnectionKb)} kB`,
      pass: perConnectionKb <= 50,
    },
  ];
  return { figures, targets, notes, runs };
}

/**
 * Subscribers (in a child process) spread round-robin over `streamerCount` fresh streamers, while
 * events are posted at `eventsPerSecond` to one tenant.
 */
async function measureUnderLoad(
  stack: BenchStack,
  api: { url: string; pid: number },
  options: StreamBenchOptions,
  eventsPerSecond: number,
  streamerCount: number,
  log: (line: string) => void,
): Promise<StreamLoadResult> {
  const notes: string[] = [];
  const streamers = await stack.startStreamers(streamerCount);
  const { tenant, key } = await stack.pipeline.createTenantWithKey(["ingest", "read"]);
  const sampled = options.sampledSubscribers ?? 20;
  // The subscribers live in a child process, so they do not starve this process (which hosts the
  // SQS emulator and posts the events) and the figure measures the streamers, not the runner.
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
  try {
    child.send({ urls: streamers.map((streamer) => streamer.url), key, count: options.subscribers, sampled });
    await nextMessage();
    const total = eventsPerSecond * options.seconds;
    const perTick = Math.max(1, Math.round(eventsPerSecond / 10));
    const setup = `${options.subscribers} subscribers over ${plural(streamerCount, "streamer")}, ${rateLabel(eventsPerSecond)}`;
    log(`stream: ${setup} for ${options.seconds} s`);
    const meter = cpuMeter({
      ...Object.fromEntries(
        streamers.map((streamer, index) => [`streamer ${index + 1}`, { pid: streamer.pid }]),
      ),
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
      const batch = Array.from({ length: Math.min(perTick, total - posted) }, (_, j) =>
        makeEvent(posted + j),
      );
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
      deliveredPerStreamer: number[];
      outOfOrder: number;
      slowCloses: number;
      receipts: Array<[number, number]>;
    };

    // Each streamer's CPU from the first post until its last delivery arrived (posting and drain).
    const cpuUntilDelivered = meter.since();
    const streamerTimes = streamers.map((streamer) => userSystemSeconds(streamer.pid));
    const stored = await stack.admin<{ seq: number; stored_at: Date }[]>`
      select seq, stored_at from events where tenant_id = ${tenant.id} order by seq`;
    const storedAt = new Map(stored.map((row) => [Number(row.seq), row.stored_at.getTime()]));
    const latencies = result.receipts.map(([seq, at]) => at - storedAt.get(seq)!);
    const { delivered, slowCloses, complete, outOfOrder } = result;
    const [p50, p95, p99] = [50, 95, 99].map((p) => percentile(latencies, p)) as [number, number, number];
    const cpuPerDeliveryUs = streamers.map(
      (_, index) =>
        (cpuUntilDelivered[`streamer ${index + 1}`]! * 1e6) /
        Math.max(1, result.deliveredPerStreamer[index]!),
    );
    const split = streamerTimes
      .map(
        (times, index) =>
          `streamer ${index + 1} ${formatNumber(times.user)} s user + ${formatNumber(times.system)} s system since its start`,
      )
      .join(", ");
    log(
      `stream: ${setup}: posted ${total} in ${postSeconds.toFixed(1)} s; ${complete}/${options.subscribers} subscribers got all; ${delivered} deliveries; ${slowCloses} slow-consumer closes; latency p50 ${formatNumber(p50)} ms, p95 ${formatNumber(p95)} ms, p99 ${formatNumber(p99)} ms; streamer CPU per delivery ${cpuPerDeliveryUs.map((us) => `${formatNumber(us)} µs`).join(" / ")}`,
    );
    notes.push(
      `${setup} for ${options.seconds} s (${formatNumber(total)} events, ${formatNumber(total * options.subscribers)} deliveries; every subscriber takes every event of the tenant; the subscribers run in one separate process on the same machine): latency p50 ${formatNumber(p50)} ms, p95 ${formatNumber(p95)} ms, p99 ${formatNumber(p99)} ms; ${complete}/${options.subscribers} subscribers received every event in seq order with no gap or duplicate (${outOfOrder} out-of-order deliveries in total), ${slowCloses} closed as slow consumers (4008); streamer CPU per delivery ${cpuPerDeliveryUs.map((us) => `${formatNumber(us)} µs`).join(" / ")}.`,
      `${setup}, while posting (${postSeconds.toFixed(1)} s): ${cpuReport(cpuDuringLoad, postSeconds, total / 1000, "1,000 events")}; ${split}; \`${execFileSync("uptime").toString().trim()}\`.`,
    );
    return {
      streamers: streamerCount,
      eventsPerSecond,
      p50,
      p95,
      p99,
      deliveriesPerSecond: delivered / Math.max(postSeconds, 1),
      cpuPerDeliveryUs,
      complete,
      slowCloses,
      notes,
    };
  } finally {
    if (child.exitCode === null) child.kill();
  }
}
