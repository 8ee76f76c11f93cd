// The short fuzz run of the test command: 1,000 generated hostile requests across every route and
// the stream upgrade against the real api, worker and streamer processes. `pnpm fuzz` runs more.
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuzzReportMarkdown, runFuzz } from "./fuzz-runner.ts";
import { FUZZ_SERVICE_ENV, prepareFuzzTarget } from "./fuzz-target.ts";

let pipeline: TestPipeline;

beforeAll(async () => {
  pipeline = await createTestPipeline();
});
afterAll(async () => {
  await pipeline?.close();
});

describe("fuzz (short run)", () => {
  it("answers 1,000 hostile requests with no 5xx, crash or hang, and stores every accepted event once", async () => {
    const [api, worker, streamer] = await Promise.all([
      pipeline.start("api", FUZZ_SERVICE_ENV),
      pipeline.start("worker", FUZZ_SERVICE_ENV),
      pipeline.start("streamer", FUZZ_SERVICE_ENV),
    ]);
    const target = await prepareFuzzTarget(pipeline, { api, worker, streamer });
    const report = await runFuzz(target, { cases: 1_000, seed: 20261207, concurrency: 6 });
    const summary = fuzzReportMarkdown(report);
    console.log(summary);
    expect(report.failures, summary).toEqual([]);
    expect(report.acceptedEvents).toBeGreaterThan(50);
    expect(Object.keys(report.byFamily).length).toBeGreaterThanOrEqual(12);
  }, 240_000);
});
