// `pnpm bench [--quick] [--only=ingest,queries,export,stream] [--events=N] [--tenants=N] [--runs=N]
//  [--ingest-events=N] [--clients=N] [--seconds=N] [--profile=<dir>] [--runtime=built|source]
//  [--streamers=1,2] [--stream-rates=1000,2000] [--name=<results file name, default the date>]`
// Stands up its own embedded stack (bench-stack.ts), measures each section next to its floor or
// ceiling in the same run, prints every target with PASS/MISS and writes bench/results/<date>.json
// and .md (quick runs: <date>-quick.*). Everything started is stopped by PID, also on error.
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildServices } from "@vigil/devstack/build-services";
import { REPO_ROOT, type ServiceRuntime } from "@vigil/testkit/services";
import { type BenchStack, startBenchStack } from "./bench-stack.ts";
import { benchExport } from "./export-bench.ts";
import { benchIngest } from "./ingest-bench.ts";
import { formatFigure, type TargetCheck } from "./measure.ts";
import { benchQueries } from "./query-bench.ts";
import {
  machineInfo,
  type RunReport,
  renderMarkdown,
  type SectionReport,
  type SectionResult,
  writeReport,
} from "./report.ts";
import { benchStream } from "./stream-bench.ts";

const SECTIONS = ["ingest", "queries", "export", "stream"] as const;
type Section = (typeof SECTIONS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    events: { type: "string" },
    tenants: { type: "string" },
    runs: { type: "string" },
    "ingest-events": { type: "string" },
    clients: { type: "string" },
    seconds: { type: "string" },
    profile: { type: "string" },
    runtime: { type: "string", default: "built" },
    streamers: { type: "string" },
    name: { type: "string" },
    "stream-rates": { type: "string" },
  },
  strict: true,
});

function integerList(name: string, value: string | undefined, fallback: number[]): number[] {
  return value === undefined ? fallback : value.split(",").map((item) => integer(name, item.trim(), 1));
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replaceAll("_", ""));
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}

if (args.name !== undefined && !/^[\w.-]{1,80}$/.test(args.name))
  throw new Error("--name must be a plain file name (letters, digits, . _ -)");
const quick = args.quick ?? false;
const options = {
  quick,
  /** Events of the query dataset, and of the exported tenant. */
  events: integer("events", args.events, quick ? 20_000 : 1_000_000),
  tenants: integer("tenants", args.tenants, quick ? 4 : 20),
  runs: integer("runs", args.runs, quick ? 1 : 3),
  ingestEvents: integer("ingest-events", args["ingest-events"], quick ? 10_000 : 50_000),
  clients: integer("clients", args.clients, 32),
  seconds: integer("seconds", args.seconds, quick ? 3 : 8),
  /** Folder for CPU profiles (node --cpu-prof) of the api and worker processes. */
  profile: args.profile ? path.resolve(args.profile) : undefined,
  /** "built" (default): the services as `pnpm build` bundles them, run by plain node, as in production; "source": through tsx. */
  runtime: args.runtime as ServiceRuntime,
  /** Streamer process counts the stream section measures (the subscribers are spread over them). */
  streamers: integerList("streamers", args.streamers, [1, 2]),
  /** Ingest rates (events/s) of the stream section; the target is checked at the highest. */
  streamRates: integerList("stream-rates", args["stream-rates"], quick ? [500] : [1000, 2000]),
  only: (args.only?.split(",").map((name) => name.trim()) ?? [...SECTIONS]) as Section[],
};
if (options.runtime !== "built" && options.runtime !== "source")
  throw new Error('--runtime must be "built" or "source"');
for (const name of options.only)
  if (!SECTIONS.includes(name))
    throw new Error(`--only: unknown section "${name}" (known: ${SECTIONS.join(", ")})`);

const log = (line: string) =>
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main() {
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  if (options.profile) mkdirSync(options.profile, { recursive: true });
  log(`options: ${JSON.stringify(options)}`);
  let stack: BenchStack | undefined;
  const stopOnSignal = () => void stack?.stop().finally(() => process.exit(130));
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  // A stray rejection in a section must not leave the services running without their PostgreSQL.
  process.once("unhandledRejection", (error) => {
    process.stderr.write(
      `benchmark failed: ${(error as Error)?.stack ?? error}\n${serviceOutputTails(stack)}`,
    );
    void stack?.stop().finally(() => process.exit(1));
  });
  const sections: SectionReport[] = [];
  try {
    if (options.runtime === "built") {
      log("building the services (pnpm build)");
      await buildServices();
    }
    stack = await startBenchStack(
      log,
      options.profile
        ? {
            NODE_OPTIONS: `--import=${path.join(REPO_ROOT, "bench/cpu-profiler.mjs")}`,
            VIGIL_BENCH_PROFILE_DIR: options.profile,
          }
        : {},
      options.runtime,
    );
    if (options.only.includes("ingest")) {
      log("ingest");
      const result = await benchIngest(
        stack,
        {
          events: options.ingestEvents,
          runs: options.runs,
          clients: options.clients,
          seconds: options.seconds,
          tenants: 4,
          writers: 4,
        },
        log,
      );
      sections.push({
        name: "Ingest",
        labels: {
          endToEnd: "end to end, bulk of 1,000 (HTTP → SQS → worker → PostgreSQL, all committed)",
          barePipeline:
            "bare pipeline: the same bulks → the same SQS emulator → INSERT into `events`, no guarantees (bare-pipeline.ts)",
          directInsert: "limit: multi-row INSERT of the same rows into `events` (4 connections)",
          directCopy: "limit: COPY of the same rows into `events` (4 connections)",
          singlePosts: `single-event POST, ${options.clients} clients (api alone)`,
          httpFloor: `HTTP floor: Hono handler answering 202, ${options.clients} clients`,
          storeLatencyP50: "store latency p50 (accept → committed) at half the end-to-end rate",
          storeLatencyP99: "store latency p99 at half the end-to-end rate",
        },
        ...result,
      });
    }
    if (options.only.includes("queries")) {
      log("queries");
      try {
        sections.push(await runQuerySection(stack));
      } catch (error) {
        sections.push(failedSection("queries", error, stack));
      }
    }
    if (options.only.includes("export")) {
      log("export");
      try {
        const result = await benchExport(stack, { events: options.events, runs: options.runs }, log);
        sections.push({
          name: "Export",
          labels: {
            "export rows/s (HTTP, CSV)": `GET /api/v1/logs/export?format=csv, ${options.events.toLocaleString("en-US")} rows, body read to the end`,
            "export rows/s (HTTP, NDJSON)": "the same rows as NDJSON",
            "COPY TO STDOUT rows/s (CSV)":
              "limit: COPY (select the same columns … order by seq) TO STDOUT (CSV), read to the end",
          },
          ...result,
          notes: [
            `the api runs ${options.runtime === "built" ? "its bundle (pnpm build) with plain node" : "its TypeScript sources through tsx"}`,
            ...result.notes,
          ],
        });
      } catch (error) {
        sections.push(failedSection("export", error, stack));
      }
    }
    if (options.only.includes("stream")) {
      try {
        log("stream");
        const { runs: _runs, ...result } = await benchStream(
          stack,
          {
            subscribers: quick ? 100 : 500,
            rates: options.streamRates,
            streamerCounts: options.streamers,
            seconds: quick ? 3 : 10,
          },
          log,
        );
        sections.push({ name: "Stream", ...result });
      } catch (error) {
        sections.push(failedSection("stream", error, stack));
      }
    }
  } catch (error) {
    process.stderr.write(serviceOutputTails(stack));
    throw error;
  } finally {
    await stack?.stop();
  }
  const report: RunReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `pnpm bench ${process.argv.slice(2).join(" ")}`.trim(),
    options,
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((value) => Number(value.toFixed(2))) },
    sections,
  };
  const results = path.join(REPO_ROOT, "bench/results");
  const written = writeReport(
    report,
    results,
    args.name ?? `${startedAt.slice(0, 10)}${quick ? "-quick" : ""}`,
  );
  process.stdout.write(`\n${renderMarkdown(report)}`);
  log(`wrote ${path.relative(REPO_ROOT, written.json)} and ${path.relative(REPO_ROOT, written.markdown)}`);
}

/** A section that threw: recorded in the report (so the other sections' figures are kept). */
function failedSection(name: string, error: unknown, stack: BenchStack | undefined): SectionReport {
  process.stderr.write(
    `${name} section failed: ${(error as Error)?.stack ?? error}\n${serviceOutputTails(stack)}`,
  );
  return {
    name: `${name} (failed)`,
    figures: {},
    targets: [],
    notes: [`the ${name} section failed: ${(error as Error)?.message ?? error}`],
  };
}

/** The last lines each running service wrote, for a failed run's diagnosis. */
function serviceOutputTails(stack: BenchStack | undefined): string {
  const services = [...Object.values(stack?.services ?? {}), ...(stack?.streamers.slice(1) ?? [])];
  return services
    .map(
      (service) =>
        `--- ${service.name} (pid ${service.pid}), last output:\n${service.output().split("\n").slice(-15).join("\n")}\n`,
    )
    .join("");
}

/** Queries are measured by bench/query-bench.ts (written by the query module's owner). */
async function runQuerySection(stack: BenchStack): Promise<SectionReport> {
  const result = await benchQueries(
    stack,
    { events: options.events, tenants: options.tenants, runs: options.runs, quick },
    log,
  );
  return { name: "Queries", ...result, targets: [...result.targets, ...queryTargets(result.figures)] };
}

/** Upper bounds of the service's p95 per query (ms); every query also ≤ 2 × its direct SQL p95. */
const QUERY_P95_LIMITS_MS: Record<string, number | undefined> = {
  newest_page: 20,
  three_filters: 50,
  full_text: 150,
  stats_30d: 50,
};

/** The targets, checked on the figures query-bench.ts reports (figures it does not report are skipped). */
function queryTargets(figures: SectionResult["figures"]): TargetCheck[] {
  const targets: TargetCheck[] = [];
  for (const query of ["newest_page", "three_filters", "full_text", "stats_30d", "history"]) {
    const http = figures[`${query} p95 (HTTP)`];
    const direct = figures[`${query} p95 (direct SQL)`];
    if (!http || !direct) continue;
    targets.push({
      section: "queries",
      target: `${query}: p95 ≤ 2 × direct SQL p95`,
      measured: `${formatFigure(http)} vs ${formatFigure(direct)}`,
      pass: http.median <= 2 * direct.median,
    });
    const limit = QUERY_P95_LIMITS_MS[query];
    if (limit !== undefined)
      targets.push({
        section: "queries",
        target: `${query}: p95 ≤ ${limit} ms`,
        measured: formatFigure(http),
        pass: http.median <= limit,
      });
  }
  return targets;
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`benchmark failed: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
