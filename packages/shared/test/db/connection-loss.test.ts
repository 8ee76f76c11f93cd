// A PostgreSQL backend that dies while a transaction or reserved connection is in flight (a
// failover, pg_terminate_backend, idle_in_transaction_session_timeout) must fail that work with a
// catchable error and leave the process and its pool working. postgres.js 3.4.9 instead crashed
// the process from a timer callback (porsager/postgres#1208); patches/postgres@3.4.9.patch fixes
// it. The scenario runs in a child process so a crash shows up here as an exit code.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { REPO_ROOT, TSX_LOADER } from "@vigil/testkit/services";
import { afterAll, beforeAll, expect, test } from "vitest";

const SCENARIO = path.join(path.dirname(fileURLToPath(import.meta.url)), "connection-loss-scenario.ts");

let pipeline: TestPipeline;

beforeAll(async () => {
  pipeline = await createTestPipeline();
}, 60_000);
afterAll(async () => {
  await pipeline?.close();
});

function runScenario(): Promise<{
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}> {
  const child = spawn(
    process.execPath,
    ["--import", TSX_LOADER, SCENARIO, pipeline.database.appUrl, pipeline.database.adminUrl],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

test("a backend killed mid-transaction rejects the work, the process survives, the pool recovers", async () => {
  const result = await runScenario();
  expect(result.stderr).not.toContain("TypeError");
  expect(result, result.stderr).toMatchObject({ code: 0, signal: null });

  const outcomes = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
  const closed = expect.stringMatching(/^(CONNECTION_CLOSED|CONNECTION_DESTROYED|57P01)$/);
  expect(outcomes).toEqual({
    withTenant: { rejectedWith: closed, poolRecovered: true },
    begin: { rejectedWith: closed, poolRecovered: true },
    // The reserved connection's later statement fails too; it must not run on a new backend
    // as if nothing happened, nor hang.
    reserved: { rejectedWith: closed, laterStatement: closed, poolRecovered: true },
  });
}, 60_000);
