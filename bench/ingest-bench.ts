// Ingest: Vigil next to its limits, in the same run, alternating so both see the same table size.
//   - end to end: bulk POSTs of 1,000 → api → SQS → worker → PostgreSQL, timed until every row is
//     committed; limit: the same stored rows written straight into `events` (multi-row INSERT with
//     as many connections as the worker has pollers, and COPY).
//   - single-event POSTs/s with N clients against the api (worker stopped, so the api alone is
//     measured), next to a Hono handler that answers 202 without work (the HTTP floor).
//   - store latency, accept (received_at, stamped by the api) → committed and visible (the NOTIFY
//     the worker's transaction sends at commit), at half the measured end-to-end rate.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildServices } from "@vigil/devstack/build-services";
import { createEventQueues } from "@vigil/devstack/queues";
import type { Tenant } from "@vigil/shared/tenants/tenants";
import { REPO_ROOT, type ServiceRuntime } from "@vigil/testkit/services";
import { startBarePipeline } from "./bare-pipeline.ts";
import { type BenchStack, startBenchStack } from "./bench-stack.ts";
import { startHttpFloor } from "./http-floor-server.ts";
import { generateLoad } from "./load-generator.ts";
import {
  cpuMeter,
  cpuReport,
  figure,
  formatFigure,
  formatNumber,
  percentile,
  sleep,
  type TargetCheck,
  waitUntil,
} from "./measure.ts";
import { machineInfo, renderMarkdown, type SectionResult } from "./report.ts";
import { buildStoredRows, copyRows, type EventRow, insertRows } from "./stored-rows.ts";

export interface IngestOptions {
  /** Events per end-to-end run (and per baseline run). */
  events: number;
  runs: number;
  /** Concurrent clients for the single-event test. */
  clients: number;
  /** Seconds per single-event and latency measurement. */
  seconds: number;
  tenants: number;
  /** Worker pollers (the direct INSERT uses as many connections). */
  writers: number;
}

const BULK_SIZE = 1000;

export async function benchIngest(
  stack: BenchStack,
  options: IngestOptions,
  log: (line: string) => void,
): Promise<SectionResult> {
  const notes: string[] = [];
  const workerEnv = { WORKER_POLLERS: String(options.writers) };
  const api = stack.services.api ?? (await stack.start("api"));
  if (!stack.services.worker) await stack.start("worker", workerEnv);

  const senders: Array<{ tenant: Tenant; key: string }> = [];
  for (let index = 0; index < options.tenants; index++)
    senders.push(
      await stack.pipeline.createTenantWithKey(["ingest", "read"], { name: `ingest-bench-${index}` }),
    );
  const tenantIds = senders.map((sender) => sender.tenant.id);
  const keys = senders.map((sender) => sender.key);
  const storedCount = async () => {
    const [row] = await stack.admin<
      { n: number }[]
    >`select coalesce(sum(last_seq), 0)::bigint as n from tenant_sequences where tenant_id = any(${tenantIds}::uuid[])`;
    return row!.n;
  };

  const endToEnd: number[] = [];
  const bare: number[] = [];
  const directInsert: number[] = [];
  const directCopy: number[] = [];
  const singlePosts: number[] = [];
  const httpFloor: number[] = [];
  const latencyP50: number[] = [];
  const latencyP99: number[] = [];
  let baselineSeq = 0;
  const baselineTenant = "00000000-0000-7000-8000-00000000b001";

  for (let run = 1; run <= options.runs; run++) {
    // End to end: every bulk request accepted, then every row committed.
    const before = await storedCount();
    const meter = meterPipeline(stack);
    const started = performance.now();
    const load = await generateLoad({
      url: `${api.url}/api/v1/logs/bulk`,
      keys,
      body: { bulkSize: BULK_SIZE },
      connections: Math.max(options.tenants, 4),
      amount: Math.ceil(options.events / BULK_SIZE),
      timeoutSeconds: 600,
    });
    const expected = before + load.ok * BULK_SIZE;
    if (load.non2xx || load.errors)
      notes.push(
        `run ${run}: ${load.non2xx} non-2xx / ${load.errors} failed bulk requests (only accepted events are counted)`,
      );
    const drained = await waitUntil(async () => (await storedCount()) >= expected, 600_000, 25);
    const seconds = (performance.now() - started) / 1000;
    if (!drained)
      throw new Error(
        `end-to-end run ${run}: only ${(await storedCount()) - before} of ${expected - before} events were stored in time`,
      );
    endToEnd.push((expected - before) / seconds);
    notes.push(
      `run ${run}, end to end (${formatNumber(seconds)} s): ${cpuReport(meter.since(), seconds, (expected - before) / 1000, "1,000 events")}`,
    );
    log(
      `ingest run ${run}: end to end ${formatNumber((expected - before) / seconds)} events/s (api accepted at ${formatNumber(load.requestsPerSecond * BULK_SIZE)} events/s)`,
    );

    // The bare pipeline: the same requests through the same emulator into the same table, with none
    // of Vigil's guarantees (bare-pipeline.ts); what Vigil costs is the ratio to it.
    bare.push(await bareRun(stack, options, run, notes));
    log(`ingest run ${run}: bare pipeline ${formatNumber(bare.at(-1)!)} events/s`);

    // The limit: the same rows, straight into the same table and indexes.
    const rows = await buildStoredRows(baselineTenant, baselineSeq + 1, options.events, run * options.events);
    const copyRowsSet = await buildStoredRows(
      baselineTenant,
      baselineSeq + options.events + 1,
      options.events,
      run * options.events,
    );
    baselineSeq += 2 * options.events;
    directInsert.push(await timedWrites(stack, rows, options.writers, insertRows));
    directCopy.push(await timedWrites(stack, copyRowsSet, options.writers, copyRows));
    log(
      `ingest run ${run}: direct INSERT ${formatNumber(directInsert.at(-1)!)} rows/s, COPY ${formatNumber(directCopy.at(-1)!)} rows/s`,
    );

    // Single-event POSTs: the api alone (worker stopped, queue purged afterwards), then the floor.
    await stack.stopService("worker");
    const singleMeter = meterPipeline(stack);
    const single = await generateLoad({
      url: `${api.url}/api/v1/logs`,
      keys,
      body: "single",
      connections: options.clients,
      durationSeconds: options.seconds,
      timeoutSeconds: options.seconds + 60,
    });
    singlePosts.push(single.requestsPerSecond);
    notes.push(
      `run ${run}, single POSTs (${formatNumber(single.seconds)} s): ${cpuReport(singleMeter.since(), single.seconds, single.ok, "request")}`,
    );
    if (single.non2xx || single.errors)
      notes.push(`run ${run}: ${single.non2xx} non-2xx / ${single.errors} failed single POSTs`);
    await stack.pipeline.queue.purge();
    await stack.start("worker", workerEnv);
    const floor = await startHttpFloor();
    try {
      const floorLoad = await generateLoad({
        url: `${floor.url}/api/v1/logs`,
        body: "single",
        connections: options.clients,
        durationSeconds: options.seconds,
        timeoutSeconds: options.seconds + 60,
      });
      httpFloor.push(floorLoad.requestsPerSecond);
    } finally {
      await floor.stop();
    }
    log(
      `ingest run ${run}: single POST ${formatNumber(single.requestsPerSecond)} req/s (p99 ${single.latencyP99Ms} ms), HTTP floor ${formatNumber(httpFloor.at(-1)!)} req/s`,
    );

    // Store latency at half the end-to-end rate, in bulks of 100 spread over the clients.
    const rate = endToEnd.at(-1)! / 2;
    const latencies = await storeLatencies(stack, api.url, keys, tenantIds, rate, options.seconds);
    latencyP50.push(percentile(latencies, 50));
    latencyP99.push(percentile(latencies, 99));
    log(
      `ingest run ${run}: store latency at ${formatNumber(rate)} events/s: p50 ${latencyP50.at(-1)} ms, p99 ${latencyP99.at(-1)} ms (${latencies.length} events)`,
    );
  }

  const figures = {
    endToEnd: figure(endToEnd, "events/s"),
    barePipeline: figure(bare, "events/s"),
    directInsert: figure(directInsert, "rows/s"),
    directCopy: figure(directCopy, "rows/s"),
    singlePosts: figure(singlePosts, "req/s"),
    httpFloor: figure(httpFloor, "req/s"),
    storeLatencyP50: figure(latencyP50, "ms"),
    storeLatencyP99: figure(latencyP99, "ms"),
  };
  const bulkRatio = figures.endToEnd.median / figures.directInsert.median;
  const bareRatio = figures.endToEnd.median / figures.barePipeline.median;
  const singleRatio = figures.singlePosts.median / figures.httpFloor.median;
  const targets: TargetCheck[] = [
    {
      section: "ingest",
      target: "end-to-end bulk ingest ≥ 0.8 × the bare pipeline (what the guarantees cost)",
      measured: `${formatFigure(figures.endToEnd)} vs ${formatFigure(figures.barePipeline)} = ${bareRatio.toFixed(2)}×`,
      pass: bareRatio >= 0.8,
    },
    {
      section: "ingest",
      target: "end-to-end bulk ingest ≥ 0.7 × direct multi-row INSERT",
      measured: `${formatFigure(figures.endToEnd)} vs ${formatFigure(figures.directInsert)} = ${bulkRatio.toFixed(2)}×`,
      pass: bulkRatio >= 0.7,
    },
    {
      section: "ingest",
      target: "single-event POST ≥ 0.5 × HTTP floor",
      measured: `${formatFigure(figures.singlePosts)} vs ${formatFigure(figures.httpFloor)} = ${singleRatio.toFixed(2)}×`,
      pass: singleRatio >= 0.5,
    },
    {
      section: "ingest",
      target: "store latency p99 ≤ 1 s at half the max rate",
      measured: `p99 ${formatFigure(figures.storeLatencyP99)}, p50 ${formatFigure(figures.storeLatencyP50)}`,
      pass: figures.storeLatencyP99.median <= 1000,
    },
  ];
  return { figures, targets, notes };
}

/** One bare-pipeline run of the same size as the end-to-end run; returns events/s. */
async function bareRun(
  stack: BenchStack,
  options: IngestOptions,
  run: number,
  notes: string[],
): Promise<number> {
  const queues = await createEventQueues(
    stack.pipeline.sqsEndpoint,
    `bare-${randomBytes(4).toString("hex")}`,
    {
      maxReceiveCount: 5,
      visibilityTimeoutSeconds: 60,
    },
  );
  const bare = await startBarePipeline({
    sqsEndpoint: stack.pipeline.sqsEndpoint,
    queueUrl: queues.queueUrl,
    databaseUrl: stack.adminUrl,
    pollers: options.writers,
  });
  try {
    const before = await bare.storedCount();
    const meter = cpuMeter({
      "bare api": { pid: bare.apiPid },
      "bare worker": { pid: bare.workerPid },
      postgres: { pid: stack.pgPid, tree: true },
      "bench+fauxqs": { pid: process.pid },
    });
    const started = performance.now();
    const load = await generateLoad({
      url: `${bare.url}/bulk`,
      body: { bulkSize: BULK_SIZE },
      connections: Math.max(options.tenants, 4),
      amount: Math.ceil(options.events / BULK_SIZE),
      timeoutSeconds: 600,
    });
    const expected = before + load.ok * BULK_SIZE;
    if (!(await waitUntil(async () => (await bare.storedCount()) >= expected, 600_000, 25)))
      throw new Error(
        `bare run ${run}: only ${(await bare.storedCount()) - before} of ${expected - before} rows stored`,
      );
    const seconds = (performance.now() - started) / 1000;
    notes.push(
      `run ${run}, bare pipeline (${formatNumber(seconds)} s): ${cpuReport(meter.since(), seconds, (expected - before) / 1000, "1,000 events")}`,
    );
    return (expected - before) / seconds;
  } finally {
    await bare.stop();
  }
}

/**
 * CPU meter over the pipeline's processes; "bench+fauxqs" is this process alone (it hosts the SQS
 * emulator). What is left of the two cores went to the load generator and the machine's other work.
 */
function meterPipeline(stack: BenchStack) {
  return cpuMeter({
    api: { pid: stack.services.api?.pid },
    worker: { pid: stack.services.worker?.pid },
    postgres: { pid: stack.pgPid, tree: true },
    "bench+fauxqs": { pid: process.pid },
  });
}

/** Writes `rows` with `writers` concurrent connections in chunks of 1,000; returns rows/s. */
async function timedWrites(
  stack: BenchStack,
  rows: EventRow[],
  writers: number,
  write: (sql: BenchStack["admin"], rows: EventRow[]) => Promise<void>,
): Promise<number> {
  const { default: postgres } = await import("postgres");
  const sql = postgres(stack.adminUrl, { max: writers, onnotice: () => {} });
  try {
    await sql`select 1`;
    const chunks: EventRow[][] = [];
    for (let start = 0; start < rows.length; start += BULK_SIZE)
      chunks.push(rows.slice(start, start + BULK_SIZE));
    const started = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) await write(sql, chunk);
      }),
    );
    return rows.length / ((performance.now() - started) / 1000);
  } finally {
    await sql.end();
  }
}

/**
 * Paced bulk load at `eventsPerSecond`; for every stored event, the time from its received_at to
 * the arrival of the commit's NOTIFY (which covers its seq range) in milliseconds.
 */
async function storeLatencies(
  stack: BenchStack,
  apiUrl: string,
  keys: string[],
  tenantIds: string[],
  eventsPerSecond: number,
  seconds: number,
): Promise<number[]> {
  const bulkSize = 100;
  const commits: Array<{ tenantId: string; fromSeq: number; toSeq: number; at: number }> = [];
  const watched = new Set(tenantIds);
  const listener = await stack.admin.listen("vigil_events", (payload) => {
    const at = Date.now();
    const [tenantId, fromSeq, toSeq] = payload.split(":");
    if (watched.has(tenantId!))
      commits.push({ tenantId: tenantId!, fromSeq: Number(fromSeq), toSeq: Number(toSeq), at });
  });
  try {
    const [{ n: before } = { n: 0 }] = await stack.admin<
      { n: number }[]
    >`select coalesce(sum(last_seq), 0)::bigint as n from tenant_sequences where tenant_id = any(${tenantIds}::uuid[])`;
    const load = await generateLoad({
      url: `${apiUrl}/api/v1/logs/bulk`,
      keys,
      body: { bulkSize },
      connections: 8,
      overallRate: Math.max(1, Math.round(eventsPerSecond / bulkSize)),
      durationSeconds: seconds,
      timeoutSeconds: seconds + 60,
    });
    const expected = before + load.ok * bulkSize;
    await waitUntil(async () => {
      const [row] = await stack.admin<
        { n: number }[]
      >`select coalesce(sum(last_seq), 0)::bigint as n from tenant_sequences where tenant_id = any(${tenantIds}::uuid[])`;
      return row!.n >= expected;
    }, 120_000);
    await sleep(200); // the last NOTIFY
    const latencies: number[] = [];
    for (const commit of commits) {
      const rows = await stack.admin<{ received_at: Date }[]>`
        select received_at from events where tenant_id = ${commit.tenantId} and seq between ${commit.fromSeq} and ${commit.toSeq}`;
      for (const row of rows) latencies.push(commit.at - row.received_at.getTime());
    }
    return latencies;
  } finally {
    await listener.unlisten();
  }
}

const USAGE = `npx tsx bench/ingest-bench.ts [--runs=N] [--events=N] [--clients=N] [--seconds=N]
    [--profile=<dir>] [--runtime=built|source] [--env=NAME=VALUE ...] [--out=<file.md>]
The ingest section of \`pnpm bench\` alone, on its own embedded stack (stopped at the end). Prints the
report; writes it only to --out (never over bench/results/<date>.md). --profile writes V8 CPU
profiles of the api and worker (bench/cpu-profiler.mjs); --env sets a variable of every Vigil service
(an A/B of a setting, e.g. --env=QUEUE_PUBLISH_LINGER_MS=0).`;

/** Standalone: the ingest section alone, for measuring a change without a full `pnpm bench`. */
async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "1" },
      events: { type: "string", default: "50000" },
      clients: { type: "string", default: "32" },
      seconds: { type: "string", default: "8" },
      profile: { type: "string" },
      runtime: { type: "string", default: "built" },
      out: { type: "string" },
      env: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const number = (name: string, value: string) => {
    const parsed = Number(value.replaceAll("_", ""));
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
    return parsed;
  };
  const runtime = values.runtime as ServiceRuntime;
  if (runtime !== "built" && runtime !== "source") throw new Error('--runtime must be "built" or "source"');
  const log = (line: string) =>
    process.stdout.write(`[ingest ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const profile = values.profile ? path.resolve(values.profile) : undefined;
  if (runtime === "built") await buildServices();
  const serviceEnv: Record<string, string> = {};
  for (const pair of values.env) {
    const at = pair.indexOf("=");
    if (at < 1) throw new Error(`--env must be NAME=VALUE, got "${pair}"`);
    serviceEnv[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const stack = await startBenchStack(
    log,
    profile
      ? {
          ...serviceEnv,
          NODE_OPTIONS: `--import=${path.join(REPO_ROOT, "bench/cpu-profiler.mjs")}`,
          VIGIL_BENCH_PROFILE_DIR: profile,
        }
      : serviceEnv,
    runtime,
  );
  let result: SectionResult;
  try {
    result = await benchIngest(
      stack,
      {
        events: number("events", values.events),
        runs: number("runs", values.runs),
        clients: number("clients", values.clients),
        seconds: number("seconds", values.seconds),
        tenants: 4,
        writers: 4,
      },
      log,
    );
  } finally {
    await stack.stop();
  }
  const markdown = renderMarkdown({
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `npx tsx bench/ingest-bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
    options: values,
    machine: { ...machine, loadAverageAtEnd: machineInfo().loadAverageAtStart },
    sections: [{ name: "Ingest", ...result }],
  });
  process.stdout.write(`\n${markdown}`);
  if (values.out) writeFileSync(values.out, markdown);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`ingest benchmark failed: ${error?.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
