// `pnpm fuzz [--cases=10000] [--seed=N] [--concurrency=8]`: stands up its own embedded stack (the
// benchmark's: PostgreSQL, fauxqs and the real api, worker and streamer on 127.0.0.1), sends the
// generated hostile requests, prints the case mix and any failure, writes the report to
// bench/results/fuzz-<date>.md, stops everything by PID and exits 1 on any failure.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "@vigil/testkit/services";
import { startBenchStack } from "../../bench/bench-stack.ts";
import { fuzzPassed, fuzzReportMarkdown, runFuzz } from "./fuzz-runner.ts";
import { FUZZ_SERVICE_ENV, prepareFuzzTarget } from "./fuzz-target.ts";

const { values: args } = parseArgs({
  options: {
    cases: { type: "string", default: "10000" },
    seed: { type: "string" },
    concurrency: { type: "string", default: "8" },
  },
  strict: true,
});

const log = (line: string) =>
  process.stdout.write(`[fuzz ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function positiveInteger(name: string, value: string): number {
  const parsed = Number(value.replaceAll("_", ""));
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}

async function main(): Promise<boolean> {
  const cases = positiveInteger("cases", args.cases ?? "10000");
  const seed =
    args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positiveInteger("seed", args.seed);
  const stack = await startBenchStack(log, FUZZ_SERVICE_ENV, "source");
  try {
    const [api, worker, streamer] = [
      await stack.start("api"),
      await stack.start("worker"),
      await stack.start("streamer"),
    ];
    const target = await prepareFuzzTarget(stack.pipeline, { api, worker, streamer });
    log(
      `${cases} cases, seed ${seed} (rerun with --seed=${seed}); ${target.routes.length} documented routes`,
    );
    const report = await runFuzz(target, {
      cases,
      seed,
      concurrency: positiveInteger("concurrency", args.concurrency ?? "8"),
      log,
    });
    const markdown = `# Fuzz run ${new Date().toISOString()}\n\n${fuzzReportMarkdown(report)}\n`;
    process.stdout.write(`\n${markdown}\n`);
    const folder = path.join(REPO_ROOT, "bench/results");
    mkdirSync(folder, { recursive: true });
    const file = path.join(folder, `fuzz-${new Date().toISOString().slice(0, 10)}.md`);
    writeFileSync(file, markdown);
    log(`report written to ${path.relative(REPO_ROOT, file)}`);
    return fuzzPassed(report);
  } finally {
    await stack.stop();
  }
}

main().then(
  (passed) => process.exit(passed ? 0 : 1),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
