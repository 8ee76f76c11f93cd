// `pnpm start`: the whole pipeline on the embedded default. Starts a real PostgreSQL (data kept
// under .vigil/ between runs), the fauxqs SQS emulator, applies migrations, creates the queue and
// its dead-letter queue, then runs api, worker and streamer as three separate processes.
// Ctrl-C stops everything cleanly, services first so in-flight batches finish.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  inheritedEnvironment,
  loadDevStackConfig,
  silenceAwsSdkNodeVersionWarning,
} from "@vigil/shared/config/config";
import { ensureServiceRole, migrateToLatest } from "@vigil/shared/db/migrate";
import { ensureSystemTenant } from "@vigil/shared/tenants/tenants";
import postgres from "postgres";
import { bootstrapPlatform } from "./bootstrap.ts";
import { resolveDataDir, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { createEventQueues, startSqsEmulator } from "./queues.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TSX_LOADER = path.join(REPO_ROOT, "node_modules/tsx/dist/esm/index.mjs");
const SERVICES = ["api", "worker", "streamer"] as const;

function say(message: string) {
  process.stdout.write(`\x1b[36m[vigil]\x1b[0m ${message}\n`);
}

/** Secrets generated on first run and kept (mode 600) so data and credentials survive restarts. */
function loadOrCreateSecrets(file: string): { pgPassword: string; servicePassword: string } {
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const secrets = {
    pgPassword: randomBytes(18).toString("base64url"),
    servicePassword: randomBytes(18).toString("base64url"),
  };
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}

async function main() {
  silenceAwsSdkNodeVersionWarning();
  const config = loadDevStackConfig();
  const stateDir = path.resolve(REPO_ROOT, config.VIGIL_DEV_DATA_DIR);
  mkdirSync(stateDir, { recursive: true });
  const secrets = loadOrCreateSecrets(path.join(stateDir, "secrets.json"));

  const preferredPgDir = path.join(stateDir, "pg");
  const pgDir = resolveDataDir(preferredPgDir);
  if (pgDir !== preferredPgDir)
    say(`PostgreSQL cannot use ${preferredPgDir} as the 'postgres' user; data goes to ${pgDir}`);
  else chmodSync(stateDir, 0o755);
  say(`starting PostgreSQL on 127.0.0.1:${config.VIGIL_DEV_PG_PORT} (data: ${pgDir})`);
  const pg = await startEmbeddedPostgres({
    dataDir: pgDir,
    port: config.VIGIL_DEV_PG_PORT,
    password: secrets.pgPassword,
  });

  const root = postgres(pg.superuserUrl(), { max: 1, onnotice: () => {} });
  const exists = await root`select 1 from pg_database where datname = 'vigil'`;
  if (exists.length === 0) await root.unsafe("create database vigil");
  await root.end();
  const adminUrl = pg.superuserUrl("vigil");
  const migration = await migrateToLatest(adminUrl);
  const applied = migration.results?.filter((result) => result.status === "Success").length ?? 0;
  say(applied ? `applied ${applied} migration(s)` : "database schema is up to date");
  await ensureServiceRole(adminUrl, "vigil_service", secrets.servicePassword);
  const appUrl = `postgres://vigil_service:${encodeURIComponent(secrets.servicePassword)}@127.0.0.1:${config.VIGIL_DEV_PG_PORT}/vigil`;

  say(`starting the SQS emulator (fauxqs) on 127.0.0.1:${config.VIGIL_DEV_SQS_PORT}`);
  const sqs = await startSqsEmulator(config.VIGIL_DEV_SQS_PORT);
  const queues = await createEventQueues(sqs.endpoint, "vigil-events", {
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 60,
  });

  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await ensureSystemTenant(sql);
  const bootstrap = await bootstrapPlatform(appUrl, config);
  await sql.end();

  const serviceEnv: Record<string, string> = {
    DATABASE_URL: appUrl,
    DATABASE_ADMIN_URL: adminUrl,
    SQS_ENDPOINT: sqs.endpoint,
    SQS_QUEUE_URL: queues.queueUrl,
    SQS_DLQ_URL: queues.dlqUrl,
    AWS_REGION: "us-east-1",
    API_PORT: String(config.API_PORT),
    STREAMER_PORT: String(config.STREAMER_PORT),
    WORKER_METRICS_PORT: String(config.WORKER_METRICS_PORT),
  };
  // The CLI (`pnpm vigil …`) reads this file to reach the running stack.
  writeFileSync(
    path.join(stateDir, "dev.env"),
    `# written by pnpm start; read by pnpm vigil\n${Object.entries(serviceEnv)
      .map(([key, value]) => `${key}=${value}`)
      .join("\n")}\n`,
    { mode: 0o600 },
  );

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  for (const name of SERVICES) {
    const child = spawn(
      process.execPath,
      ["--import", TSX_LOADER, path.join(REPO_ROOT, "services", name, "src/main.ts")],
      {
        cwd: REPO_ROOT,
        env: {
          ...inheritedEnvironment(),
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          ...serviceEnv,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const prefix = `\x1b[35m${name.padEnd(8)}\x1b[0m| `;
    for (const stream of [child.stdout, child.stderr]) {
      let partial = "";
      stream?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
      });
    }
    child.on("exit", (code, signal) => {
      children.delete(name);
      if (!stopping) {
        say(`${name} exited (${signal ?? code}); stopping the stack`);
        void shutdown(1);
      }
    });
    children.set(name, child);
  }

  await waitHealthy(`http://127.0.0.1:${config.API_PORT}/healthz`);
  say("ready:");
  say(`  api       http://127.0.0.1:${config.API_PORT}   (docs: /docs, OpenAPI: /openapi.json)`);
  say(`  streamer  ws://127.0.0.1:${config.STREAMER_PORT}/api/v1/logs/stream`);
  say(`  worker    http://127.0.0.1:${config.WORKER_METRICS_PORT}/metrics`);
  for (const line of bootstrap.lines) say(line);
  say("first tenant and API key:  pnpm vigil tenant create --name acme");
  say("press Ctrl-C to stop");

  async function shutdown(code: number) {
    if (stopping) return;
    stopping = true;
    say("stopping services…");
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 20_000).unref();
          }),
      ),
    );
    await sqs.stop();
    await pg.stop();
    say("stopped");
    process.exit(code);
  }
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));
}

async function waitHealthy(url: string) {
  for (let attempt = 0; attempt < 300; attempt++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not become healthy`);
}

main().catch((error) => {
  process.stderr.write(`vigil start failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
