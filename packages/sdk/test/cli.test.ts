// The client CLI through its real binary (the `vigil` bin of @vigil/sdk, bundled as `pnpm build`
// does; `pnpm vigil` delegates to the same code) against the real api, worker and streamer: login stores 0600 credentials (a refresh token rotates
// on use), tail/export/verify/search/stats/history work, and exit codes are what a Unix user expects.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createTestPipeline,
  eventually,
  REPO_ROOT,
  type RunningService,
  type TestPipeline,
  TSX_LOADER,
} from "@vigil/testkit";
import { signerKey, verifierKeyOf } from "@vigil/verify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildCli } from "../scripts/build.ts";
import { VigilClient } from "../src/index.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const binDir = mkdtempSync(path.join(tmpdir(), "vigil-cli-bin-"));
const CLI_BUNDLE = path.join(binDir, "cli.mjs");

type RunOptions = { home: string; stdin?: string; env?: Record<string, string> };

function run(command: string[], options: RunOptions): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, command, {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: options.home, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdin.end(options.stdin ?? "");
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const vigil = (args: string[], options: { home: string; stdin?: string; env?: Record<string, string> }) =>
  run([CLI_BUNDLE, ...args], options);

describe("vigil client commands through the real binary", () => {
  let pipeline: TestPipeline;
  let api: RunningService;
  let streamer: RunningService;
  let tenantId: string;
  let key: string;
  let verifierKey: string;
  const home = mkdtempSync(path.join(tmpdir(), "vigil-cli-home-"));

  beforeAll(async () => {
    await buildCli(CLI_BUNDLE);
    pipeline = await createTestPipeline();
    const seed = new Uint8Array(randomBytes(32));
    const signer = { name: "vigil-cli-test", privateKeySeed: seed };
    verifierKey = await verifierKeyOf(signer);
    const env = { CHECKPOINT_SIGNING_KEY: await signerKey(signer), CHECKPOINT_INTERVAL_SECONDS: "1" };
    [api, , streamer] = await Promise.all([
      pipeline.start("api", env),
      pipeline.start("worker", env),
      pipeline.start("streamer", env),
    ]);
    ({
      tenant: { id: tenantId },
      key,
    } = await pipeline.createTenantWithKey());
    const client = new VigilClient({ baseUrl: api.url, apiKey: key });
    for (let index = 0; index < 50; index++) {
      client.log({
        action_type: index === 0 ? "CREATE" : "UPDATE",
        resource_type: "invoice",
        resource_id: `inv-${index % 5}`,
        user_id: "alice",
        before_state: { total: index },
        after_state: { total: index + 1, note: "=cmd|' /C calc'!A0" },
      });
    }
    await client.shutdown();
    await eventually(
      async () => (await client.searchPage({ limit: 1, sort: "-seq" })).data[0]?.seq === 50 || undefined,
    );
  });
  afterAll(async () => pipeline?.close());

  test("login with an API key saves it 0600; export, verify, tail, search, stats and history use it", async () => {
    const login = await vigil(["login", "--url", api.url, "--stream-url", streamer.url, "--api-key-stdin"], {
      home,
      stdin: `${key}\n`,
    });
    expect(login.code, login.stderr).toBe(0);
    const file = path.join(home, ".config/vigil/credentials.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ url: api.url, api_key: key });
    expect(login.stdout).not.toContain(key);

    const out = path.join(home, "events.ndjson");
    const exported = await vigil(["export", "--format", "ndjson", "-o", out], { home });
    expect(exported.code, exported.stderr).toBe(0);
    // Each export is itself recorded through the queue; under load its own record can be stored
    // before the export's snapshot is taken, so it may hold that one record beside the 50 events.
    const lines = readFileSync(out, "utf8").trim().split("\n");
    const ownRecords = lines.filter((line) => JSON.parse(line).action === "vigil.events.export");
    expect(lines.length - ownRecords.length).toBe(50);
    expect(ownRecords.length).toBeLessThanOrEqual(1);
    expect(exported.stderr).toContain(`exported ${lines.length} rows`);
    const csv = await vigil(["export", "--format", "csv"], { home });
    expect(csv.code).toBe(0);
    // Vigil's own export records reach the log through the queue, so this export holds the 50 events
    // plus however many of them (the first export's, perhaps its own) were stored when it began.
    const csvRows = csv.stdout.trimEnd().split("\n").slice(1);
    const exportRecords = csvRows.filter((row) => row.includes(",vigil.events.export,"));
    expect(csvRows.length - exportRecords.length).toBe(50);
    expect(exportRecords.length).toBeLessThanOrEqual(2);
    expect(csv.stderr).toContain(`exported ${csvRows.length} rows`);

    // A signed checkpoint covers the events within a second or two (CHECKPOINT_INTERVAL_SECONDS=1).
    const verified = await eventually(async () => {
      const attempt = await vigil(["verify", "--to-seq", "50", "--key", verifierKey], { home });
      return attempt.code === 0 ? attempt : undefined;
    });
    expect(verified.stdout).toMatch(
      /^ok: 50\/50 event hashes recomputed, seq 1\.\.50 proven against the checkpoint of size \d+ signed by vigil-cli-test/,
    );
    const unpinned = await vigil(["verify", "--to-seq", "50"], { home });
    expect(unpinned.code).toBe(0);
    expect(unpinned.stderr).toContain(verifierKey);
    const otherKey = await verifierKeyOf({
      name: "someone-else",
      privateKeySeed: new Uint8Array(32).fill(7),
    });
    const untrusted = await vigil(["verify", "--to-seq", "50", "--key", otherKey], { home });
    expect(untrusted.code).toBe(3);
    expect(untrusted.stdout).toMatch(/^FAILED/);

    const tail = await vigil(["tail", "--since", "40", "--count", "10", "--json"], { home });
    expect(tail.code, tail.stderr).toBe(0);
    expect(
      tail.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).seq),
    ).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);

    const search = await vigil(["search", "--resource-id", "inv-1", "--max", "3"], { home });
    expect(search.code).toBe(0);
    expect(search.stdout.trim().split("\n")).toHaveLength(3);
    expect(search.stdout).toContain("invoice/inv-1");
    expect(search.stdout).not.toContain("\u001b["); // not a terminal: no colour

    const stats = await vigil(["stats", "--bucket", "hour"], { home });
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^\d+ events/);
    expect(stats.stdout).toMatch(/UPDATE\s+49/);
    expect(stats.stdout).toMatch(/[▁▂▃▄▅▆▇█]/);

    const history = await vigil(["history", "invoice", "inv-2"], { home });
    expect(history.code).toBe(0);
    expect(history.stdout).toContain("~ total: 2 → 3");
  });

  test("login with a password stores a refresh token that rotates on use; a platform admin names the tenant", async () => {
    const adminHome = mkdtempSync(path.join(tmpdir(), "vigil-cli-admin-"));
    const login = await vigil(
      ["login", "--url", api.url, "--username", "admin@localhost", "--password-stdin"],
      {
        home: adminHome,
        stdin: "admin-password-for-tests\n",
      },
    );
    expect(login.code, login.stderr).toBe(0);
    const file = path.join(adminHome, ".config/vigil/credentials.json");
    const before = JSON.parse(readFileSync(file, "utf8"));
    expect(before.refresh_token).toBeTruthy();
    expect(JSON.stringify(before)).not.toContain("admin-password-for-tests");
    const stats = await vigil(["stats", "--tenant-id", tenantId, "--json"], { home: adminHome });
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout).total).toBeGreaterThanOrEqual(50);
    const after = JSON.parse(readFileSync(file, "utf8"));
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("exit codes: 64 usage, 77 refused credential, 69 unreachable, 0 for help", async () => {
    const empty = mkdtempSync(path.join(tmpdir(), "vigil-cli-empty-"));
    const unknownOption = await vigil(["tail", "--bogus"], { home: empty });
    expect(unknownOption.code).toBe(64);
    expect(unknownOption.stderr).toMatch(/bogus/);
    expect((await vigil(["search"], { home: empty })).code).toBe(64); // not logged in
    expect((await vigil(["history", "invoice"], { home: empty, env: { VIGIL_API_KEY: key } })).code).toBe(64);
    const forged = await vigil(["search", "--url", api.url, "--api-key", `vgl_${"q".repeat(40)}`], {
      home: empty,
    });
    expect(forged.code).toBe(77);
    expect(forged.stderr).toMatch(/401/);
    expect(
      (await vigil(["stats", "--url", "http://127.0.0.1:9", "--api-key", key], { home: empty })).code,
    ).toBe(69);
    const help = await vigil(["export", "--help"], { home: empty });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: vigil export/);
    // `pnpm vigil` runs the same commands (and keeps `verify --tenant` for the operator's database check).
    const viaPnpm = await run(
      ["--import", TSX_LOADER, path.join(REPO_ROOT, "packages/cli/src/main.ts"), "tail", "--help"],
      {
        home: empty,
      },
    );
    expect(viaPnpm.code).toBe(0);
    expect(viaPnpm.stdout).toMatch(/usage: vigil tail/);
  });
});
