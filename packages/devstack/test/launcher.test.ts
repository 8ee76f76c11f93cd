// `pnpm start` as a supervisor: a worker kill -9'd three times while events are ingested is restarted
// each time and the stack stays up, with every event stored exactly once and gapless; Ctrl-C with
// events still queued drains them before stopping, so after a restart all are stored.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createApiKey } from "@vigil/shared/auth/api-keys";
import { createTenant } from "@vigil/shared/tenants/tenants";
import { type Launcher, requestJson, sampleEvent, startLauncher } from "@vigil/testkit";
import postgres from "postgres";
import { afterAll, afterEach, describe, expect, test } from "vitest";

const roots: string[] = [];
const launchers: Launcher[] = [];
let resumeOnFailure: (() => void) | undefined;
afterEach(async () => {
  try {
    resumeOnFailure?.();
  } catch {}
  resumeOnFailure = undefined;
  for (const launcher of launchers.splice(0)) {
    if (launcher.process.exitCode === null && launcher.process.signalCode === null) {
      launcher.interrupt();
      launcher.interrupt(); // a second Ctrl-C: stop without draining
      await Promise.race([launcher.exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    }
  }
});
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function stateDir(): string {
  const root = mkdtempSync(path.join(tmpdir(), "vigil-launcher-"));
  chmodSync(root, 0o755); // PostgreSQL runs as the OS user `postgres` when tests run as root
  roots.push(root);
  return path.join(root, "state");
}

async function launch(dir: string, args: string[] = []): Promise<Launcher> {
  const launcher = await startLauncher({ stateDir: dir, args });
  launchers.push(launcher);
  await launcher.waitFor(/press Ctrl-C/, 90_000, true);
  return launcher;
}

async function tenantWithKey(launcher: Launcher) {
  const sql = postgres(launcher.devEnv().DATABASE_ADMIN_URL!, { max: 1, onnotice: () => {} });
  try {
    const tenant = await createTenant(sql, { name: `launcher-${Date.now()}` });
    const { key } = await createApiKey(sql, {
      tenantId: tenant.id,
      name: "launcher test",
      scopes: ["ingest", "read"],
    });
    return { tenantId: tenant.id, key };
  } finally {
    await sql.end();
  }
}

async function storedSummary(adminUrl: string, tenantId: string) {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<
      { n: number; ids: number; seqs: number; min: number | null; max: number | null }[]
    >`
      select count(*)::int as n, count(distinct id)::int as ids, count(distinct seq)::int as seqs,
             min(seq)::int as min, max(seq)::int as max
      from events where tenant_id = ${tenantId}`;
    return row!;
  } finally {
    await sql.end();
  }
}

async function ingest(apiUrl: string, key: string, total: number, from = 0): Promise<void> {
  for (let start = from; start < from + total; start += 1000) {
    const body = Array.from({ length: Math.min(1000, from + total - start) }, (_, i) =>
      sampleEvent(start + i),
    );
    const response = await requestJson(`${apiUrl}/api/v1/logs/bulk`, { key, body });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
  }
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("pnpm start supervises its services", () => {
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

  test("Ctrl-C with 20,000 events queued drains them first; after a restart all 20,000 are stored", async () => {
    const dir = stateDir();
    const first = await launch(dir);
    const { tenantId, key } = await tenantWithKey(first);
    // The worker is paused (SIGSTOP) while the events are accepted, so all 20,000 are still queued
    // when Ctrl-C comes; it resumes once the launcher is draining.
    const workerPid = Number(first.output().match(/worker-1 .*\(pid (\d+)\)/)?.[1]);
    process.kill(workerPid, "SIGSTOP");
    resumeOnFailure = () => process.kill(workerPid, "SIGCONT");
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

  test("kill -9 of the launcher: its services stop on their own; the next start stops the PostgreSQL it left", async () => {
    const dir = stateDir();
    const first = await launch(dir, ["--api", "2"]);
    // Replica n of a kind listens on the kind's port + 10 × (n − 1), and the launcher prints it.
    const secondApi = first.ports.api + 10;
    expect(first.output()).toMatch(new RegExp(`api-2 +http://127\\.0\\.0\\.1:${secondApi} `));
    expect((await fetch(`http://127.0.0.1:${secondApi}/readyz`)).status).toBe(200);
    const servicePids = [...first.output().matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1]));
    expect(servicePids).toHaveLength(4);

    process.kill(first.process.pid!, "SIGKILL");
    await first.exited;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await eventually(async () => servicePids.every((pid) => !alive(pid)), 30_000);

    const second = await launch(dir);
    expect(second.output()).toMatch(/stopping PostgreSQL left running on \S+ by an earlier run \(pid \d+\)/);
    expect((await fetch(`http://127.0.0.1:${second.ports.api}/readyz`)).status).toBe(200);
  }, 150_000);

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
