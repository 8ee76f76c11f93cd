// `pnpm start`: the whole pipeline on the embedded default (see stack.ts), with the supervisor
// restarting any service that crashes. `pnpm start -- --api 2 --workers 3 --streamers 2` runs that many
// replicas of each. Ctrl-C drains (api stops accepting, workers store what is queued) and then stops
// everything; a second Ctrl-C stops at once.
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  inheritedEnvironment,
  loadDevStackConfig,
  silenceAwsSdkNodeVersionWarning,
} from "@vigil/shared/config/config";
import { EmbeddedPostgresError } from "./embedded-postgres.ts";
import { type EmbeddedStack, type Replicas, startEmbeddedStack } from "./stack.ts";
import type { ServiceKind } from "./supervisor.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

const USAGE =
  "usage: pnpm start [-- --api N] [--workers N] [--streamers N] [--drain-seconds N]   (N ≥ 1; defaults 1, 1, 1, 120)";

function say(message: string) {
  process.stdout.write(`\x1b[36m[vigil]\x1b[0m ${message}\n`);
}

class UsageError extends Error {}

export function parseStartArguments(args: readonly string[]): { replicas: Replicas; drainSeconds: number } {
  const replicas: Replicas = { api: 1, worker: 1, streamer: 1 };
  let drainSeconds = 120;
  const flags: Record<string, ServiceKind | "drain"> = {
    "--api": "api",
    "--workers": "worker",
    "--worker": "worker",
    "--streamers": "streamer",
    "--streamer": "streamer",
    "--drain-seconds": "drain",
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") continue;
    const [flag, inline] = arg.split("=", 2) as [string, string | undefined];
    const target = flags[flag];
    if (!target) throw new UsageError(`unknown argument ${arg}`);
    const raw = inline ?? args[++i];
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > (target === "drain" ? 3600 : 20))
      throw new UsageError(
        `${flag} needs a whole number between 1 and ${target === "drain" ? 3600 : 20} (got ${raw ?? "nothing"})`,
      );
    if (target === "drain") drainSeconds = value;
    else replicas[target] = value;
  }
  return { replicas, drainSeconds };
}

async function main() {
  silenceAwsSdkNodeVersionWarning();
  const { replicas, drainSeconds } = parseStartArguments(process.argv.slice(2));
  const config = loadDevStackConfig();
  const prefixWidth = Math.max(...Object.entries(replicas).map(([kind, count]) => `${kind}-${count}`.length));
  let stack: EmbeddedStack | undefined;
  let stopping = false;
  let exitCode = 0;
  const stopStack = async (code: number) => {
    exitCode = Math.max(exitCode, code);
    if (stopping) return;
    stopping = true;
    await stack?.stopNow();
    say("stopped");
    process.exit(exitCode);
  };

  stack = await startEmbeddedStack({
    stateDir: path.resolve(REPO_ROOT, config.VIGIL_DEV_DATA_DIR),
    pgPort: config.VIGIL_DEV_PG_PORT,
    sqsPort: config.VIGIL_DEV_SQS_PORT,
    replicas,
    basePorts: { api: config.API_PORT, worker: config.WORKER_METRICS_PORT, streamer: config.STREAMER_PORT },
    admin: config,
    inheritedEnv: inheritedEnvironment(),
    logFile: config.LOG_FILE,
    visibilityTimeoutSeconds: 10,
    say,
    onOutput: (instance, line) =>
      process.stdout.write(`\x1b[35m${instance.id.padEnd(prefixWidth)}\x1b[0m| ${line}\n`),
    onGiveUp: () => {
      say("stopping the stack: a service cannot stay up (fix the cause above and start again)");
      void stopStack(1);
    },
  });
  const running = stack;

  // Ctrl-C: the first drains, a second (after a moment, so one keypress relayed twice counts once) stops now.
  let firstInterrupt = 0;
  const drainAbort = new AbortController();
  const onInterrupt = async () => {
    if (firstInterrupt) {
      if (Date.now() - firstInterrupt < 1_000 || drainAbort.signal.aborted) return;
      say("second Ctrl-C: stopping now without draining");
      drainAbort.abort();
      return;
    }
    firstInterrupt = Date.now();
    if (stopping) return;
    stopping = true;
    const result = await running.drainAndStop({
      drainTimeoutMs: drainSeconds * 1000,
      signal: drainAbort.signal,
    });
    say("stopped");
    process.exit(result.drained ? 0 : 1);
  };
  process.on("SIGINT", () => void onInterrupt());
  process.on("SIGTERM", () => void onInterrupt());

  try {
    await running.supervisor.waitHealthy(120_000);
  } catch (error) {
    if (stopping) return; // a crash loop already stops the stack; never print "ready" then
    say(`start failed: ${error instanceof Error ? error.message : String(error)}`);
    await stopStack(1);
    return;
  }
  if (stopping) return;
  say("ready:");
  for (const instance of running.supervisor.instances) {
    const where =
      instance.kind === "api"
        ? `http://127.0.0.1:${instance.port}   (docs: /docs, OpenAPI: /openapi.json)`
        : instance.kind === "streamer"
          ? `ws://127.0.0.1:${instance.port}/api/v1/logs/stream`
          : `http://127.0.0.1:${instance.port}/metrics`;
    say(`  ${instance.id.padEnd(prefixWidth)}  ${where}   (pid ${instance.pid})`);
  }
  for (const line of running.bootstrapLines) say(line);
  say("first tenant and API key:  pnpm vigil tenant create --name acme");
  say("crashed services are restarted; press Ctrl-C to drain the queue and stop (twice to stop at once)");
}

main().catch((error) => {
  // Problems a user can fix are one line; anything else keeps its stack for a bug report.
  const known =
    error instanceof EmbeddedPostgresError || error instanceof ConfigError || error instanceof UsageError;
  const { code, port } = (error ?? {}) as { code?: string; port?: number };
  const text =
    code === "EADDRINUSE"
      ? `port ${port} is already in use: stop what listens there or choose other ports (VIGIL_DEV_SQS_PORT, VIGIL_DEV_PG_PORT, API_PORT, STREAMER_PORT, WORKER_METRICS_PORT)`
      : known
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
  process.stderr.write(`vigil start failed: ${text}\n${error instanceof UsageError ? `${USAGE}\n` : ""}`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
