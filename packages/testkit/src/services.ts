// Starts the real api / worker / streamer processes for cross-process tests, exactly as the dev
// stack does (node + tsx on the service's main.ts), with configuration passed as environment; or,
// for the benchmark, the bundle `pnpm build` wrote (what production runs).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SERVICE_NODE_FLAGS, serviceBundlePath } from "@vigil/devstack/build-services";
import { ENV_FILES } from "@vigil/shared/config/config";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** Node loader that runs the TypeScript sources directly (services, benchmark helper processes). */
export const TSX_LOADER = path.join(REPO_ROOT, "node_modules/tsx/dist/esm/index.mjs");

export type ServiceName = "api" | "worker" | "streamer";

/** "source": src/main.ts through tsx (tests, dev). "built": dist/main.mjs from `pnpm build`, plain node. */
export type ServiceRuntime = "source" | "built";

export interface RunningService {
  name: ServiceName;
  process: ChildProcess;
  pid: number;
  /** Base URL of the service's HTTP port (health port for the worker). */
  url: string;
  output: () => string;
  /** SIGTERM and wait for exit (graceful). */
  stop: () => Promise<number | null>;
  /** SIGKILL and wait for exit (crash). */
  kill: () => Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Services read `.env` and `.vigil/dev.env` (written by `pnpm start`) for variables the environment
 * lacks. A test service must see only what its test passes, so every variable those files name is
 * given as "" (which the config treats as unset, and which dotenv does not override).
 */
function unsetEnvFileVariables(): Record<string, string> {
  const unset: Record<string, string> = {};
  for (const file of ENV_FILES) {
    const full = path.join(REPO_ROOT, file);
    if (!existsSync(full)) continue;
    for (const line of readFileSync(full, "utf8").split("\n")) {
      const name = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
      if (name) unset[name] = "";
    }
  }
  return unset;
}

export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  port: number,
  runtime: ServiceRuntime = "source",
): Promise<RunningService> {
  const child = spawn(
    process.execPath,
    runtime === "built"
      ? [...SERVICE_NODE_FLAGS[name], serviceBundlePath(name)]
      : ["--import", TSX_LOADER, path.join(REPO_ROOT, "services", name, "src/main.ts")],
    {
      cwd: REPO_ROOT,
      env: {
        ...unsetEnvFileVariables(),
        PATH: process.env.PATH ?? "",
        NODE_ENV: "test",
        LOG_LEVEL: "info",
        HOST: "127.0.0.1",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited during start (code ${child.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not become healthy:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name,
    process: child,
    pid: child.pid!,
    url,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
