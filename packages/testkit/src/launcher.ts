// Runs `pnpm start`'s launcher (packages/devstack/src/start.ts) as a user would, in its own process
// group so a test can press "Ctrl-C" (SIGINT to the whole group, as a terminal does), on free ports
// and a private state folder, and reads what it prints.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "./ports.ts";
import { REPO_ROOT, TSX_LOADER } from "./services.ts";

export interface Launcher {
  process: ChildProcess;
  ports: { api: number; streamer: number; worker: number; pg: number; sqs: number };
  /** Everything printed so far (stdout and stderr), colour codes removed. */
  output: () => string;
  /** Resolves with the first match of `pattern` in the output printed from now on (or already, with `fromStart`). */
  waitFor: (pattern: RegExp, timeoutMs?: number, fromStart?: boolean) => Promise<RegExpMatchArray>;
  /** Ctrl-C in the terminal: SIGINT to the launcher's process group. */
  interrupt: () => void;
  exited: Promise<number | null>;
  /** The settings the launcher wrote for `pnpm vigil` (database and queue URLs). */
  devEnv: () => Record<string, string>;
}

export interface LauncherOptions {
  stateDir: string;
  args?: string[];
  /** Checkout to run (default: this one); `command` replaces the node + tsx invocation (e.g. pnpm start). */
  cwd?: string;
  command?: string[];
  env?: Record<string, string>;
  ports?: Partial<Launcher["ports"]>;
}

export async function startLauncher(options: LauncherOptions): Promise<Launcher> {
  const ports = {
    api: options.ports?.api ?? (await freePort()),
    streamer: options.ports?.streamer ?? (await freePort()),
    worker: options.ports?.worker ?? (await freePort()),
    pg: options.ports?.pg ?? (await freePort()),
    sqs: options.ports?.sqs ?? (await freePort()),
  };
  const cwd = options.cwd ?? REPO_ROOT;
  const [command, ...args] = options.command ?? [
    process.execPath,
    "--import",
    TSX_LOADER,
    path.join(cwd, "packages/devstack/src/start.ts"),
    ...(options.args ?? []),
  ];
  const child = spawn(command!, args, {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      LOG_LEVEL: "info",
      VIGIL_DEV_DATA_DIR: options.stateDir,
      VIGIL_DEV_PG_PORT: String(ports.pg),
      VIGIL_DEV_SQS_PORT: String(ports.sqs),
      API_PORT: String(ports.api),
      STREAMER_PORT: String(ports.streamer),
      WORKER_METRICS_PORT: String(ports.worker),
      // The documented default, set explicitly (it was once refused as "Invalid email address").
      VIGIL_ADMIN_EMAIL: "admin@localhost",
      VIGIL_ADMIN_PASSWORD: "launcher-test-password",
      ...options.env,
    },
  });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing terminal colour codes
    output += chunk.toString().replace(/\x1b\[[0-9;]*m/g, "");
    if (output.length > 4_000_000) output = output.slice(-2_000_000);
    for (const wake of waiters) wake();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    process: child,
    ports,
    output: () => output,
    waitFor: (pattern, timeoutMs = 60_000, fromStart = false) => {
      const offset = fromStart ? 0 : output.length;
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.slice(offset).match(pattern);
          if (match) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `launcher did not print ${pattern} within ${timeoutMs} ms; output:\n${output.slice(-4000)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (waiters.has(check)) {
            check();
            if (waiters.has(check)) {
              waiters.delete(check);
              clearTimeout(timer);
              reject(
                new Error(`launcher exited before printing ${pattern}; output:\n${output.slice(-4000)}`),
              );
            }
          }
        });
        check();
      });
    },
    interrupt: () => {
      if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGINT");
      } catch {} // the group is already gone
    },
    exited,
    devEnv: () =>
      Object.fromEntries(
        readFileSync(path.join(options.stateDir, "dev.env"), "utf8")
          .split("\n")
          .filter((line) => line && !line.startsWith("#"))
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      ),
  };
}
