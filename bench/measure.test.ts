// The benchmark's CPU meter on a real process tree: a parent whose busy child exits mid-measurement
// (as a PostgreSQL backend does under the postmaster) keeps the child's CPU in the tree's total.
import { spawn } from "node:child_process";
import { expect, test } from "vitest";
import { processTreeCpuSeconds } from "./measure.ts";

test("a tree's CPU counts children that have exited, so it never falls", async () => {
  const script = `
    const { spawn } = require("node:child_process");
    const child = spawn(process.execPath, ["-e", "const t = Date.now(); while (Date.now() - t < 600);"]);
    child.on("exit", () => { process.stdout.write("reaped\\n"); setTimeout(() => {}, 5000); });`;
  const parent = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const whileBusy = processTreeCpuSeconds(parent.pid!);
    await new Promise<void>((resolve) => parent.stdout!.once("data", () => resolve()));
    const afterExit = processTreeCpuSeconds(parent.pid!);
    expect(afterExit).toBeGreaterThanOrEqual(whileBusy);
    expect(afterExit).toBeGreaterThanOrEqual(0.3);
  } finally {
    parent.kill("SIGKILL");
  }
});
