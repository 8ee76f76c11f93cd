// Stopping `pnpm start`: Ctrl-C with events still queued drains them first, so after a restart all
// are stored; kill -9 of the launcher itself leaves nothing running for long (its services stop on
// their own, its PostgreSQL is stopped by the next start); a folder or port in use is refused.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startLauncher } from "@vigil/testkit";
import { describe, expect, test } from "vitest";
import {
  eventually,
  ingest,
  launch,
  onFailure,
  stateDir,
  storedSummary,
  tenantWithKey,
} from "./launcher-fixture.ts";

describe("pnpm start stops cleanly", () => {
  test("Ctrl-C with 20,000 events queued drains them first; after a restart all 20,000 are stored", async () => {
    const dir = stateDir();
    const first = await launch(dir);
    const { tenantId, key } = await tenantWithKey(first);
    // The worker is paused (SIGSTOP) while the events are accepted, so all 20,000 are still queued
    // when Ctrl-C comes; it resumes once the launcher is draining.
    const workerPid = Number(first.output().match(/worker-1 .*\(pid (\d+)\)/)?.[1]);
    process.kill(workerPid, "SIGSTOP");
    onFailure.resume = () => process.kill(workerPid, "SIGCONT");
    await ingest(`http://127.0.0.1:${first.ports.api}`, key, 20_000);
    const adminUrl = first.devEnv().DATABASE_ADMIN_URL!;
    expect((await storedSummary(adminUrl, tenantId)).n).toBe(0);
    const draining = first.waitFor(/draining: \d+ message\(s\) queued/, 30_000);
    first.interrupt();
    await draining;
    process.kill(workerPid, "SIGCONT");
    expect(await first.exited).toBe(0);
    const output = first.output();
    expect(output.indexOf("stopping the api")).toBeGreaterThan(-1);
    expect(output.indexOf("stopping the api")).toBeLessThan(
      output.indexOf("queue drained: every accepted event is stored"),
    );
    expect(output).not.toContain("still queued");

    // The same data folder, started again (on other free ports).
    const second = await launch(dir);
    expect(await storedSummary(second.devEnv().DATABASE_ADMIN_URL!, tenantId)).toEqual({
      n: 20_000,
      ids: 20_000,
      seqs: 20_000,
      min: 1,
      max: 20_000,
    });
  }, 150_000);

  test("kill -9 of the launcher: its services and its PostgreSQL stop on their own (or at the next start)", async () => {
    const dir = stateDir();
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const postmasterPid = () =>
      Number(readFileSync(path.join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);
    const first = await launch(dir, ["--api", "2"]);
    // Replica n of a kind listens on the kind's port + 10 × (n − 1), and the launcher prints it.
    const secondApi = first.ports.api + 10;
    expect(first.output()).toMatch(new RegExp(`api-2 +http://127\\.0\\.0\\.1:${secondApi} `));
    expect((await fetch(`http://127.0.0.1:${secondApi}/readyz`)).status).toBe(200);
    const servicePids = [...first.output().matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1]));
    expect(servicePids).toHaveLength(4);

    // Launcher and its PostgreSQL watchdog killed together: the services stop on their own, and the
    // PostgreSQL left behind is stopped by the next start.
    const firstPostmaster = postmasterPid();
    const watchdog = execFileSync(
      "pgrep",
      ["-f", `kill -INT .* sh ${first.process.pid} ${firstPostmaster}$`],
      {
        encoding: "utf8",
      },
    ).trim();
    process.kill(Number(watchdog), "SIGKILL");
    process.kill(first.process.pid!, "SIGKILL");
    await first.exited;
    await eventually(async () => servicePids.every((pid) => !alive(pid)), 30_000);
    expect(alive(firstPostmaster)).toBe(true);
    const second = await launch(dir);
    expect(second.output()).toContain(
      `stopping PostgreSQL left running on ${path.join(dir, "pg")} by an earlier run (pid ${firstPostmaster})`,
    );
    expect((await fetch(`http://127.0.0.1:${second.ports.api}/readyz`)).status).toBe(200);

    // Launcher alone killed: its watchdog stops PostgreSQL within seconds.
    const secondPostmaster = postmasterPid();
    process.kill(second.process.pid!, "SIGKILL");
    await second.exited;
    await eventually(async () => !alive(secondPostmaster), 20_000);
  }, 180_000);

  test("a second start on a folder in use, or on a port in use, is refused in one line; the first keeps running", async () => {
    const dir = stateDir();
    const first = await launch(dir);
    const sameFolder = await startLauncher({ stateDir: dir });
    expect(await sameFolder.exited).toBe(1);
    expect(sameFolder.output()).toMatch(
      /vigil start failed: PostgreSQL on \S+ belongs to a running launcher \(pid \d+\): stop that one first/,
    );
    const samePort = await startLauncher({ stateDir: stateDir(), ports: { sqs: first.ports.sqs } });
    expect(await samePort.exited).toBe(1);
    expect(samePort.output()).toContain(`vigil start failed: port ${first.ports.sqs} is already in use`);
    expect(samePort.output()).not.toMatch(/\n\s+at /); // no stack trace
    expect((await fetch(`http://127.0.0.1:${first.ports.api}/readyz`)).status).toBe(200);
  }, 150_000);
});
