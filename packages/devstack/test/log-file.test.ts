// LOG_FILE: the same JSON lines a service prints on stdout also land in a file that pino-roll rotates
// by size, keeping LOG_FILE_KEEP old files; an unwritable path is one line on stderr, not a crash.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestPipeline, requestJson, sampleEvent, TSX_LOADER } from "@vigil/testkit";
import { afterAll, expect, test } from "vitest";

const dir = mkdtempSync(path.join(tmpdir(), "vigil-log-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs createLogger in its own process (as a service does) and returns its stdout and stderr. */
function logInChild(config: Record<string, unknown>, lines: number) {
  const script = `
    import { createLogger } from "@vigil/shared/logging/logger";
    const logger = createLogger("api", ${JSON.stringify(config)});
    // A few lines per tick, as a service logs: pino-roll rotates between writes, not inside one burst.
    for (let i = 0; i < ${lines}; i++) {
      logger.info({ i, password: "hunter2", pad: "x".repeat(100) }, "line");
      if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    setTimeout(() => process.exit(0), 300);
  `;
  return spawnSync(process.execPath, ["--import", TSX_LOADER, "--input-type=module", "-e", script], {
    cwd: path.resolve(import.meta.dirname, "../../shared"),
    encoding: "utf8",
    timeout: 20_000,
  });
}

function fileLines(folder: string): string[] {
  // pino-roll numbers files app.1.log, app.2.log, …; the highest number is the newest.
  const files = readdirSync(folder)
    .filter((name) => name.endsWith(".log"))
    .sort((a, b) => Number(a.split(".").at(-2)) - Number(b.split(".").at(-2)));
  return files.flatMap((name) => readFileSync(path.join(folder, name), "utf8").split("\n").filter(Boolean));
}

test("the file gets exactly the stdout lines, rotated by size, old files pruned", () => {
  const folder = path.join(dir, "rotated");
  const child = logInChild(
    {
      LOG_LEVEL: "info",
      LOG_FILE: path.join(folder, "{service}.log"),
      LOG_FILE_MAX_SIZE: "4k",
      LOG_FILE_FREQUENCY: "none",
      LOG_FILE_KEEP: 3,
    },
    300,
  );
  expect(child.status).toBe(0);
  const stdout = child.stdout.split("\n").filter(Boolean);
  expect(stdout).toHaveLength(300);
  expect(stdout[0]).not.toContain("hunter2"); // redaction applies before either destination
  const files = readdirSync(folder).filter((name) => name.endsWith(".log"));
  expect(files.every((name) => name.startsWith("api."))).toBe(true);
  expect(files.length).toBe(4); // the current file plus LOG_FILE_KEEP=3 rotated ones
  const kept = fileLines(folder);
  // ~55 KB of logs in 4 KB files: only the newest files remain, and they hold the newest lines in order.
  expect(kept.length).toBeGreaterThan(20);
  expect(kept).toEqual(stdout.slice(-kept.length));
});

test("an unwritable LOG_FILE is reported once on stderr and stdout logging goes on", () => {
  writeFileSync(path.join(dir, "a-file"), "");
  const unwritable = path.join(dir, "a-file", "logs", "app.log"); // its "folder" is a file
  const child = logInChild(
    {
      LOG_LEVEL: "info",
      LOG_FILE: unwritable,
      LOG_FILE_MAX_SIZE: "10m",
      LOG_FILE_FREQUENCY: "daily",
      LOG_FILE_KEEP: 7,
    },
    5,
  );
  expect(child.status).toBe(0);
  expect(child.stdout.split("\n").filter(Boolean)).toHaveLength(5);
  expect(child.stderr.split(`LOG_FILE ${unwritable} cannot be written`)).toHaveLength(2);
});

test("a service started with LOG_FILE writes its request lines to the file as well", async () => {
  const pipeline = await createTestPipeline();
  try {
    const folder = path.join(dir, "service");
    const api = await pipeline.start("api", { LOG_FILE: path.join(folder, "{service}.log") });
    const { key } = await pipeline.createTenantWithKey();
    const response = await requestJson(`${api.url}/api/v1/logs`, { key, body: sampleEvent(1) });
    expect(response.status).toBe(202);
    await api.stop();
    const lines = fileLines(folder).map((line) => JSON.parse(line));
    expect(lines.some((line) => line.service === "api" && line.msg === "api listening")).toBe(true);
    expect(lines.some((line) => JSON.stringify(line).includes("/api/v1/logs"))).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(key);
    const stdout = api
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"));
    expect(lines.map((line) => JSON.stringify(line))).toEqual(
      stdout.map((line) => JSON.stringify(JSON.parse(line))),
    );
  } finally {
    await pipeline.close();
  }
});
