// `pnpm start` as a supervisor: a worker kill -9'd three times while events are ingested is restarted
// each time and the stack stays up, with every event stored exactly once and gapless; a service that
// keeps dying at start is given up on with a clear message; a bad flag is one line.
import { startLauncher } from "@vigil/testkit";
import { describe, expect, test } from "vitest";
import {
  eventually,
  ingest,
  launch,
  launchers,
  stateDir,
  storedSummary,
  tenantWithKey,
} from "./launcher-fixture.ts";

describe("pnpm start restarts what crashes", () => {
  test("a worker kill -9'd three times during ingest is restarted each time; 7,000 events stored once, gapless", async () => {
    const launcher = await launch(stateDir());
    const apiUrl = `http://127.0.0.1:${launcher.ports.api}`;
    const { tenantId, key } = await tenantWithKey(launcher);
    let pid = Number(launcher.output().match(/worker-1 .*\(pid (\d+)\)/)?.[1]);
    expect(pid).toBeGreaterThan(0);

    const ingesting = (async () => {
      for (let part = 0; part < 7; part++) {
        await ingest(apiUrl, key, 1000, part * 1000);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    for (let kill = 1; kill <= 3; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const restarted = launcher.waitFor(/worker-1 restarted \(pid (\d+)\)/, 30_000);
      process.kill(pid, "SIGKILL");
      const [, newPid] = await restarted;
      expect(Number(newPid)).not.toBe(pid);
      pid = Number(newPid);
    }
    await ingesting;

    expect(launcher.output().match(/worker-1 exited \(SIGKILL\)/g)).toHaveLength(3);
    expect(launcher.output()).not.toMatch(/stopping the stack|giving up/);
    expect(launcher.process.exitCode).toBeNull();
    const adminUrl = launcher.devEnv().DATABASE_ADMIN_URL!;
    // A killed worker's messages come back after the visibility timeout (10 s in the embedded mode).
    await eventually(async () => (await storedSummary(adminUrl, tenantId)).n >= 7000, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // any late duplicate would show now
    expect(await storedSummary(adminUrl, tenantId)).toEqual({
      n: 7000,
      ids: 7000,
      seqs: 7000,
      min: 1,
      max: 7000,
    });
    expect((await fetch(`${apiUrl}/readyz`)).status).toBe(200);
  }, 150_000);

  test("a service that keeps dying at start is given up on with one clear message, and 'ready' is never printed", async () => {
    // WORKER_POLLERS=0 is refused by the configuration every service loads: each exits 78 at start.
    const launcher = await startLauncher({ stateDir: stateDir(), env: { WORKER_POLLERS: "0" } });
    launchers.push(launcher);
    expect(await launcher.exited).toBe(1);
    const output = launcher.output();
    const [, gaveUp] =
      output.match(/(\w+-1) exited \(code 78\) 5 times in a row within 10 s of starting; giving up on it/) ??
      [];
    expect(gaveUp).toBeDefined();
    // Four restarts with growing backoff before the fifth exit.
    for (let restart = 1; restart <= 4; restart++)
      expect(output).toMatch(
        new RegExp(
          `${gaveUp} exited \\(code 78\\) after [\\d.]+ s; restarting in [\\d.]+ s \\(restart ${restart}\\)`,
        ),
      );
    expect(output).toContain("WORKER_POLLERS");
    expect(output).not.toContain("ready:");
    expect(output.trimEnd().split("\n").at(-1)).toContain("stopped");
  }, 120_000);

  test("a bad flag is one line and the usage, before anything starts", async () => {
    const launcher = await startLauncher({ stateDir: stateDir(), args: ["--workers", "0"] });
    expect(await launcher.exited).toBe(2);
    expect(launcher.output()).toMatch(
      /^vigil start failed: --workers needs a whole number between 1 and 20 \(got 0\)\nusage: /,
    );
  });
});
