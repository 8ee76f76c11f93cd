// How cost grows with work: query and stats latency at N/10 and N events (default 1,000,000 and
// 10,000,000, the same 20 tenants' share each), export rows/s and api RSS at N/10 and N rows, and
// ingest rate with 1, 20 and 1,000 tenants. Each size runs on its own fresh embedded stack
// (bench-stack.ts: PostgreSQL, fauxqs, the real services, all on 127.0.0.1, stopped by PID), so
// the smaller size is measured on a table of its own size. Writes bench/results/<name>.json and
// .md, with an EXPLAIN (ANALYZE, BUFFERS) of every query at both sizes (what to read when a query
// grows faster than 1.5×) and three charts drawn by plot.ts: <name>-queries.svg, -export.svg,
// -ingest.svg.
//
//   npx tsx bench/scaling.ts --events=10000000          the recorded run (1M and 10M; hours, see README)
//   npx tsx bench/scaling.ts --events=100000            a check of the script (10k and 100k; minutes)
//   knobs: --only=queries,export,ingest --tenant-counts=1,20,1000 --ingest-events=100000
//          --samples=100 --runtime=built|source --name=<file name> --replot=<report .json>
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildServices } from "@vigil/devstack/build-services";
import { Database } from "@vigil/shared/db/database";
import {
  resolveStatsWindow,
  statsParamsSchema,
  statsQuery,
  topUsersQuery,
} from "@vigil/shared/query/event-stats";
import { resourceHistoryQuery } from "@vigil/shared/query/resource-history";
import { resolveSearchQuery, searchKeysQuery, textRestKeysQuery } from "@vigil/shared/query/search-events";
import { searchParamsSchema } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { REPO_ROOT, type ServiceRuntime } from "@vigil/testkit/services";
import { type BenchStack, startBenchStack } from "./bench-stack.ts";
import { benchExport } from "./export-bench.ts";
import { generateLoad } from "./load-generator.ts";
import { cpuMeter, cpuReport, formatNumber, waitUntil } from "./measure.ts";
import { lineChart } from "./plot.ts";
import { HISTORY_PAGE, type QueryBenchResult, runQueryBench, THREE_FILTERS } from "./query-bench.ts";
import { machineInfo, type RunReport } from "./report.ts";
import { DAY_MS } from "./seed-events.ts";

const SECTIONS = ["queries", "export", "ingest"] as const;
type Section = (typeof SECTIONS)[number];
/** The issue's target: each query's p95 at the larger size within this factor of the smaller one's. */
const GROWTH_LIMIT = 1.5;
/** Bulk size of the tenant-count ingest runs: small enough that 1,000 tenants each get a request. */
const INGEST_BULK = 100;

interface Measured {
  /** `uptime` when the measurement ended: the machine's load beside every figure. */
  uptime: string;
  seconds: number;
}

interface QueryRun extends Measured, QueryBenchResult {
  /** pg_database_size after seeding (MB): what a size needs on disk. */
  databaseMb: number;
  /** EXPLAIN (ANALYZE, BUFFERS) of each query's SQL for one seeded tenant. */
  plans: Record<string, string>;
}

interface ExportRun extends Measured {
  events: number;
  figures: Record<string, number>;
  notes: string[];
}

interface IngestRun extends Measured {
  tenants: number;
  events: number;
  eventsPerSecond: number;
  cpu: string;
}

export interface ScalingReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  options: Record<string, unknown>;
  machine: RunReport["machine"];
  queries: QueryRun[];
  exports: ExportRun[];
  ingest: IngestRun[];
}

const log = (line: string) =>
  process.stdout.write(`[scaling ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const uptime = () => execFileSync("uptime").toString().trim();

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replaceAll("_", ""));
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}

/** Runs `work` on a fresh stack and stops the stack (by PID) whatever happens. */
let current: BenchStack | undefined;
async function onFreshStack<T>(runtime: ServiceRuntime, work: (stack: BenchStack) => Promise<T>): Promise<T> {
  current = await startBenchStack(log, {}, runtime);
  try {
    return await work(current);
  } finally {
    await current.stop();
    current = undefined;
  }
}

/** The SQL each query module runs for the page, stats or history, as compiled for one tenant. */
function querySql(tenantId: string, now: Date) {
  const scope = tenantScope(tenantId);
  const resolve = (input: Record<string, unknown>) =>
    resolveSearchQuery(scope, searchParamsSchema.parse(input), null, now);
  const page = (input: Record<string, unknown>) => searchKeysQuery(scope, resolve(input));
  const window = resolveStatsWindow(
    statsParamsSchema.parse({ from: new Date(now.getTime() - 30 * DAY_MS).toISOString(), bucket: "day" }),
    now,
  );
  const resource = "res-37";
  return {
    "newest_page (keys)": page({ limit: 100 }),
    "three_filters (keys)": page({
      user_id: "user-1",
      action_type: [THREE_FILTERS.action_type],
      severity: [THREE_FILTERS.severity],
      limit: THREE_FILTERS.limit,
    }),
    // A text page takes up to two statements: the head of the newest rows, then (when the head
    // does not fill the page) the GIN probe or the ordered walk; both are explained.
    "full_text (keys, head)": page({ q: resource, limit: 100 }),
    "full_text (keys, rest)": textRestKeysQuery(scope, resolve({ q: resource, limit: 100 }), resource),
    stats_30d: statsQuery(scope, window),
    "stats_30d (top users)": topUsersQuery(scope, window.from, window.to, window.endsNow),
    history: resourceHistoryQuery(scope, { resource_type: "user", resource_id: resource }, 0, HISTORY_PAGE),
  };
}

/** EXPLAIN (ANALYZE, BUFFERS) of every query, as the service role under the tenant's RLS scope. */
async function explainQueries(stack: BenchStack): Promise<Record<string, string>> {
  const [tenant] = await stack.admin<{ id: string }[]>`
    select id from tenants where name like 'query-bench-0-%' order by created_at desc limit 1`;
  if (!tenant) return {};
  const db = new Database({
    url: stack.pipeline.database.appUrl,
    poolSize: 1,
    applicationName: "vigil-scaling",
  });
  const plans: Record<string, string> = {};
  try {
    for (const [name, query] of Object.entries(querySql(tenant.id, new Date()))) {
      const compiled = query.compile();
      const rows = await db.withTenant(tenant.id, (tx) =>
        tx.unsafe(`explain (analyze, buffers) ${compiled.sql}`, compiled.parameters as never[]),
      );
      plans[name] = rows.map((row) => String(row["QUERY PLAN"])).join("\n");
    }
  } finally {
    await db.close();
  }
  return plans;
}

async function measureQueries(size: number, samples: number, runtime: ServiceRuntime): Promise<QueryRun> {
  const started = performance.now();
  return onFreshStack(runtime, async (stack) => {
    const result = await runQueryBench(stack, { events: size, tenants: 20, samples }, log);
    const plans = await explainQueries(stack);
    const [database] = await stack.admin<
      { bytes: string }[]
    >`select pg_database_size(current_database()) as bytes`;
    const databaseMb = Math.round(Number(database!.bytes) / 2 ** 20);
    const run = {
      ...result,
      plans,
      databaseMb,
      seconds: (performance.now() - started) / 1000,
      uptime: uptime(),
    };
    log(
      `queries at ${formatNumber(size)} events: p95 HTTP ${Object.entries(result.http)
        .map(([name, value]) => `${name} ${value.p95} ms`)
        .join(", ")} (${formatNumber(run.seconds)} s; ${run.uptime})`,
    );
    return run;
  });
}

async function measureExport(size: number, runtime: ServiceRuntime): Promise<ExportRun> {
  const started = performance.now();
  return onFreshStack(runtime, async (stack) => {
    const result = await benchExport(stack, { events: size, runs: 1 }, log);
    const run = {
      events: size,
      figures: Object.fromEntries(
        Object.entries(result.figures).map(([name, value]) => [name, value.median]),
      ),
      notes: result.notes,
      seconds: (performance.now() - started) / 1000,
      uptime: uptime(),
    };
    log(`export at ${formatNumber(size)} rows: ${JSON.stringify(run.figures)} (${run.uptime})`);
    return run;
  });
}

/** End-to-end ingest of `events` in bulks of INGEST_BULK spread evenly over each tenant count. */
async function measureIngest(
  tenantCounts: number[],
  events: number,
  runtime: ServiceRuntime,
): Promise<IngestRun[]> {
  return onFreshStack(runtime, async (stack) => {
    const api = await stack.start("api");
    const worker = await stack.start("worker", { WORKER_POLLERS: "4" });
    const ingest = async (keys: string[], tenantIds: string[], total: number) => {
      const stored = async () => {
        const [row] = await stack.admin<{ n: string }[]>`
          select coalesce(sum(last_seq), 0)::bigint as n from tenant_sequences where tenant_id = any(${tenantIds}::uuid[])`;
        return Number(row!.n);
      };
      const before = await stored();
      const meter = cpuMeter({
        api: { pid: api.pid },
        worker: { pid: worker.pid },
        postgres: { pid: stack.pgPid, tree: true },
        "bench+fauxqs": { pid: process.pid },
      });
      const started = performance.now();
      const load = await generateLoad({
        url: `${api.url}/api/v1/logs/bulk`,
        keys,
        body: { bulkSize: INGEST_BULK },
        connections: 16,
        amount: Math.ceil(total / INGEST_BULK),
        timeoutSeconds: 900,
      });
      const expected = before + load.ok * INGEST_BULK;
      if (!(await waitUntil(async () => (await stored()) >= expected, 900_000, 50)))
        throw new Error(
          `ingest: only ${(await stored()) - before} of ${expected - before} events were stored in time`,
        );
      const seconds = (performance.now() - started) / 1000;
      const accepted = expected - before;
      return {
        seconds,
        accepted,
        failed: load.non2xx + load.errors,
        cpu: cpuReport(meter.since(), seconds, accepted / 1000, "1,000 events"),
      };
    };
    // Warm-up (JIT, connections, queue) on a tenant of its own, not measured.
    const warm = await stack.pipeline.createTenantWithKey(["ingest"], { name: "scaling-warm-up" });
    await ingest([warm.key], [warm.tenant.id], Math.min(events, 20_000));
    const runs: IngestRun[] = [];
    for (const count of tenantCounts) {
      const senders = [];
      for (let index = 0; index < count; index++)
        senders.push(
          await stack.pipeline.createTenantWithKey(["ingest"], { name: `scaling-${count}-${index}` }),
        );
      const total = Math.max(events, count * INGEST_BULK);
      const result = await ingest(
        senders.map((sender) => sender.key),
        senders.map((sender) => sender.tenant.id),
        total,
      );
      const run: IngestRun = {
        tenants: count,
        events: result.accepted,
        eventsPerSecond: result.accepted / result.seconds,
        cpu: `${result.cpu}${result.failed ? `; ${result.failed} requests failed` : ""}`,
        seconds: result.seconds,
        uptime: uptime(),
      };
      log(
        `ingest with ${count} tenants: ${formatNumber(run.eventsPerSecond)} events/s (${run.events} events in ${formatNumber(run.seconds)} s; ${run.uptime})`,
      );
      runs.push(run);
    }
    return runs;
  });
}

// ---------------------------------------------------------------------------------------------
// Report

const QUERY_NAMES = ["newest_page", "three_filters", "full_text", "stats_30d", "history"] as const;
const EXPORT_FIGURES = {
  csvRate: "export rows/s (HTTP, CSV)",
  ndjsonRate: "export rows/s (HTTP, NDJSON)",
  copyRate: "COPY TO STDOUT rows/s (CSV)",
  csvRss: "api peak RSS during export (CSV)",
  ndjsonRss: "api peak RSS during export (NDJSON)",
} as const;

/** "Execution Time: 1.234 ms" of an EXPLAIN ANALYZE output. */
const executionMs = (plan: string | undefined) =>
  Number(/Execution Time: ([\d.]+) ms/.exec(plan ?? "")?.[1] ?? Number.NaN);

const minutes = (seconds: number) => `${formatNumber(seconds / 60)} min`;

export function renderScalingMarkdown(report: ScalingReport, stamp: string): string {
  const lines: string[] = [`# Vigil scaling — ${report.startedAt.slice(0, 10)}`, ""];
  const total = (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000;
  lines.push(
    `\`${report.command}\` · ${report.machine.cpus} × ${report.machine.cpuModel}, ${report.machine.memoryGb} GB, Node ${report.machine.node}`,
    `Started ${report.startedAt}, finished ${report.finishedAt} (${minutes(total)}). Load average at start ${report.machine.loadAverageAtStart.join(" / ")}, at end ${report.machine.loadAverageAtEnd?.join(" / ") ?? "n/a"}; every row below carries the \`uptime\` taken when it was measured. Each size ran on its own fresh stack.`,
    "",
  );
  const [small, large] = [report.queries[0], report.queries.at(-1)];
  if (small && large && small !== large) {
    const factor = large.events / small.events;
    lines.push(
      `## Queries and stats: ${formatNumber(small.events)} → ${formatNumber(large.events)} events (×${factor})`,
      "",
      `![query p95 by events](${stamp}-queries.svg)`,
      "",
      `Target: each query's p95 at ${formatNumber(large.events)} events within ${GROWTH_LIMIT}× its p95 at ${formatNumber(small.events)}.`,
      "",
      `| query | entries per answer | p95 HTTP, ${formatNumber(small.events)} | p95 HTTP, ${formatNumber(large.events)} | growth | p95 direct SQL, ${formatNumber(small.events)} | p95 direct SQL, ${formatNumber(large.events)} | growth | target |`,
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const name of QUERY_NAMES) {
      const httpGrowth = large.http[name].p95 / small.http[name].p95;
      const directGrowth = large.direct[name].p95 / small.direct[name].p95;
      lines.push(
        `| ${name} | ${small.rows?.[name] ?? "?"} → ${large.rows?.[name] ?? "?"} | ${small.http[name].p95} ms | ${large.http[name].p95} ms | ${httpGrowth.toFixed(2)}× | ${small.direct[name].p95} ms | ${large.direct[name].p95} ms | ${directGrowth.toFixed(2)}× | ${httpGrowth <= GROWTH_LIMIT ? "PASS" : "**MISS**"} |`,
      );
    }
    lines.push("");
  }
  if (small && large && small !== large && Object.keys(large.plans).length) {
    lines.push(
      "PostgreSQL's own execution time of each statement (EXPLAIN ANALYZE, one run, plans below):",
      "",
      `| statement | ${formatNumber(small.events)} | ${formatNumber(large.events)} | growth |`,
      "| --- | --- | --- | --- |",
    );
    for (const name of Object.keys(large.plans)) {
      const [before, after] = [executionMs(small.plans[name]), executionMs(large.plans[name])];
      lines.push(`| ${name} | ${before} ms | ${after} ms | ${(after / before).toFixed(2)}× |`);
    }
    lines.push("");
  }
  for (const run of report.queries)
    lines.push(
      `- ${formatNumber(run.events)} events across ${run.tenants} tenants: seeded in ${formatNumber(run.seedSeconds)} s${run.databaseMb ? ` (database ${formatNumber(run.databaseMb)} MB)` : ""}, section ${minutes(run.seconds)}; p50 HTTP ${QUERY_NAMES.map((name) => `${name} ${run.http[name].p50} ms`).join(", ")}; \`${run.uptime}\``,
    );
  if (report.queries.length) lines.push("");

  if (report.exports.length) {
    lines.push(
      "## Export",
      "",
      `![export api RSS by rows](${stamp}-export.svg)`,
      "",
      "| rows | CSV rows/s | NDJSON rows/s | COPY TO STDOUT rows/s | api peak RSS CSV | api peak RSS NDJSON | section | uptime |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const run of report.exports) {
      const value = (key: keyof typeof EXPORT_FIGURES) =>
        formatNumber(run.figures[EXPORT_FIGURES[key]] ?? Number.NaN);
      lines.push(
        `| ${formatNumber(run.events)} | ${value("csvRate")} | ${value("ndjsonRate")} | ${value("copyRate")} | ${value("csvRss")} MB | ${value("ndjsonRss")} MB | ${minutes(run.seconds)} | \`${run.uptime}\` |`,
      );
    }
    lines.push("");
  }

  if (report.ingest.length) {
    lines.push(
      "## Ingest by tenant count",
      "",
      `![ingest rate by tenants](${stamp}-ingest.svg)`,
      "",
      `End to end (bulk POSTs of ${INGEST_BULK}, 16 connections, the api key of each request in turn over the tenants, until every row is committed).`,
      "",
      "| tenants | events | events/s | CPU | uptime |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const run of report.ingest)
      lines.push(
        `| ${run.tenants.toLocaleString("en-US")} | ${run.events.toLocaleString("en-US")} | ${formatNumber(run.eventsPerSecond)} | ${run.cpu} | \`${run.uptime}\` |`,
      );
    lines.push("");
  }

  if (report.queries.some((run) => Object.keys(run.plans).length)) {
    lines.push(
      "## Plans",
      "",
      "EXPLAIN (ANALYZE, BUFFERS) of each query's SQL for one seeded tenant (the search's first key fetch; the rows themselves are then read by seq), after the timed samples.",
      "",
    );
    for (const run of report.queries)
      for (const [name, plan] of Object.entries(run.plans))
        lines.push(`### ${name} at ${formatNumber(run.events)} events`, "", "```text", plan, "```", "");
  }
  return `${lines.join("\n")}\n`;
}

/** The three charts, each written as <stamp>-<name>.svg into `directory`. */
export function writeScalingCharts(report: ScalingReport, directory: string, stamp: string): string[] {
  const charts: Record<string, string> = {};
  if (report.queries.length)
    charts.queries = lineChart({
      title: "Query p95 over HTTP by events stored",
      xLabel: "events (20 tenants)",
      yLabel: "p95 ms",
      logX: true,
      series: QUERY_NAMES.map((name) => ({
        name,
        points: report.queries.map((run) => [run.events, run.http[name].p95] as [number, number]),
      })),
    });
  if (report.exports.length)
    charts.export = lineChart({
      title: "Export: api peak RSS by rows exported",
      xLabel: "rows",
      yLabel: "MB",
      logX: true,
      reference: { y: 200, label: "200 MB target" },
      series: [
        { name: "CSV", key: EXPORT_FIGURES.csvRss },
        { name: "NDJSON", key: EXPORT_FIGURES.ndjsonRss },
      ].map(({ name, key }) => ({
        name,
        points: report.exports.map((run) => [run.events, run.figures[key] ?? Number.NaN] as [number, number]),
      })),
    });
  if (report.ingest.length)
    charts.ingest = lineChart({
      title: "End-to-end ingest rate by tenant count",
      xLabel: "tenants",
      yLabel: "events/s",
      logX: true,
      series: [
        {
          name: "events/s",
          points: report.ingest.map((run) => [run.tenants, run.eventsPerSecond] as [number, number]),
        },
      ],
    });
  return Object.entries(charts).map(([name, svg]) => {
    const file = path.join(directory, `${stamp}-${name}.svg`);
    writeFileSync(file, svg);
    return file;
  });
}

function writeScalingReport(report: ScalingReport, stamp: string): string[] {
  const directory = path.join(REPO_ROOT, "bench/results");
  const json = path.join(directory, `${stamp}.json`);
  const markdown = path.join(directory, `${stamp}.md`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(markdown, renderScalingMarkdown(report, stamp));
  return [json, markdown, ...writeScalingCharts(report, directory, stamp)];
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      events: { type: "string" },
      only: { type: "string" },
      "tenant-counts": { type: "string" },
      "ingest-events": { type: "string" },
      samples: { type: "string" },
      runtime: { type: "string", default: "built" },
      name: { type: "string" },
      replot: { type: "string" },
    },
    strict: true,
  });
  if (args.name !== undefined && !/^[\w.-]{1,80}$/.test(args.name))
    throw new Error("--name must be a plain file name (letters, digits, . _ -)");
  if (args.replot) {
    const report = JSON.parse(readFileSync(args.replot, "utf8")) as ScalingReport;
    const stamp = path.basename(args.replot, ".json");
    const written = writeScalingReport(report, stamp);
    log(`re-drew ${written.map((file) => path.relative(REPO_ROOT, file)).join(", ")}`);
    return;
  }
  const events = integer("events", args.events, 10_000_000);
  const options = {
    sizes: [Math.max(1000, Math.round(events / 10)), events],
    tenantCounts: (args["tenant-counts"] ?? "1,20,1000")
      .split(",")
      .map((value) => integer("tenant-counts", value, 1)),
    ingestEvents: integer("ingest-events", args["ingest-events"], 100_000),
    samples: integer("samples", args.samples, 100),
    runtime: args.runtime as ServiceRuntime,
    only: (args.only?.split(",").map((name) => name.trim()) ?? [...SECTIONS]) as Section[],
  };
  if (options.runtime !== "built" && options.runtime !== "source")
    throw new Error('--runtime must be "built" or "source"');
  for (const name of options.only)
    if (!SECTIONS.includes(name))
      throw new Error(`--only: unknown section "${name}" (known: ${SECTIONS.join(", ")})`);
  const stamp = args.name ?? `scaling-${new Date().toISOString().slice(0, 10)}`;
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  log(`options: ${JSON.stringify(options)}; ${uptime()}`);
  const stopOnSignal = () => void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  if (options.runtime === "built") {
    log("building the services (pnpm build)");
    await buildServices();
  }
  const report: ScalingReport = {
    startedAt,
    finishedAt: startedAt,
    command: `npx tsx bench/scaling.ts ${process.argv.slice(2).join(" ")}`.trim(),
    options,
    machine,
    queries: [],
    exports: [],
    ingest: [],
  };
  // The report is written again after every measurement: a run of hours that fails late (a process
  // gone, the disk full) still leaves what it measured.
  const checkpoint = () => {
    report.finishedAt = new Date().toISOString();
    writeScalingReport(report, stamp);
  };
  if (options.only.includes("queries"))
    for (const size of options.sizes) {
      report.queries.push(await measureQueries(size, options.samples, options.runtime));
      checkpoint();
    }
  if (options.only.includes("export"))
    for (const size of options.sizes) {
      report.exports.push(await measureExport(size, options.runtime));
      checkpoint();
    }
  if (options.only.includes("ingest"))
    report.ingest = await measureIngest(options.tenantCounts, options.ingestEvents, options.runtime);
  report.finishedAt = new Date().toISOString();
  report.machine.loadAverageAtEnd = os.loadavg().map((value) => Number(value.toFixed(2)));
  const written = writeScalingReport(report, stamp);
  process.stdout.write(`\n${renderScalingMarkdown(report, stamp).split("\n## Plans")[0]}`);
  log(`wrote ${written.map((file) => path.relative(REPO_ROOT, file)).join(", ")}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`scaling benchmark failed: ${error?.stack ?? error}\n`);
      void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    },
  );
