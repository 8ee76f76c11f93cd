// `pnpm bench [--quick] [--only=ingest,queries,export,stream] [--events=N] [--tenants=N] [--runs=N]
//  [--ingest-events=N] [--clients=N] [--seconds=N]`
// Stands up its own embedded stack (bench-stack.ts), measures each section next to its floor or
// ceiling in the same run, prints every target with PASS/MISS and writes bench/results/<date>.json
// and .md (quick runs: <date>-quick.*). Everything started is stopped by PID, also on error.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "@vigil/testkit/services";
import { type BenchStack, startBenchStack } from "./bench-stack.ts";
import { benchIngest } from "./ingest-bench.ts";
import { machineInfo, type RunReport, renderMarkdown, type SectionReport, writeReport } from "./report.ts";

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
  },
  strict: true,
});

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replaceAll("_", ""));
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}

const quick = args.quick ?? false;
const options = {
  quick,
  /** Events of the query/export dataset. */
  events: integer("events", args.events, quick ? 20_000 : 1_000_000),
  tenants: integer("tenants", args.tenants, quick ? 4 : 20),
  runs: integer("runs", args.runs, quick ? 1 : 3),
  ingestEvents: integer("ingest-events", args["ingest-events"], quick ? 10_000 : 50_000),
  clients: integer("clients", args.clients, 32),
  seconds: integer("seconds", args.seconds, quick ? 3 : 8),
  /** Folder for CPU profiles (node --cpu-prof) of the api and worker processes. */
  profile: args.profile ? path.resolve(args.profile) : undefined,
  only: (args.only?.split(",").map((name) => name.trim()) ?? [...SECTIONS]) as Section[],
};
for (const name of options.only)
  if (!SECTIONS.includes(name))
    throw new Error(`--only: unknown section "${name}" (known: ${SECTIONS.join(", ")})`);

const log = (line: string) =>
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main() {
  const startedAt = new Date().toISOString();
  if (options.profile) mkdirSync(options.profile, { recursive: true });
  log(`options: ${JSON.stringify(options)}`);
  let stack: BenchStack | undefined;
  const stopOnSignal = () => void stack?.stop().finally(() => process.exit(130));
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  const sections: SectionReport[] = [];
  try {
    stack = await startBenchStack(
      log,
      options.profile
        ? {
            NODE_OPTIONS: `--import=${path.join(REPO_ROOT, "bench/cpu-profiler.mjs")}`,
            VIGIL_BENCH_PROFILE_DIR: options.profile,
          }
        : {},
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
  } finally {
    await stack?.stop();
  }
  const report: RunReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `pnpm bench ${process.argv.slice(2).join(" ")}`.trim(),
    options,
    machine: machineInfo(),
    sections,
  };
  const results = path.join(REPO_ROOT, "bench/results");
  const written = writeReport(report, results, `${startedAt.slice(0, 10)}${quick ? "-quick" : ""}`);
  process.stdout.write(`\n${renderMarkdown(report)}`);
  log(`wrote ${path.relative(REPO_ROOT, written.json)} and ${path.relative(REPO_ROOT, written.markdown)}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`benchmark failed: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
