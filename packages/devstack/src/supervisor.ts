// Keeps the embedded stack's service processes running: one child per replica (api-1, worker-2, …),
// restarted when it exits unexpectedly, with exponential backoff, and given up on (with a message
// saying so) when it keeps dying before it ever stays up. PostgreSQL and the queue belong to the
// launcher and stay up meanwhile, so a crashed worker's messages simply wait on the queue.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TSX_LOADER = path.join(REPO_ROOT, "node_modules/tsx/dist/esm/index.mjs");
const EXIT_WITH_LAUNCHER = path.join(REPO_ROOT, "packages/devstack/src/exit-with-launcher.ts");

export const SERVICE_KINDS = ["api", "worker", "streamer"] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

export interface ServiceInstance {
  /** `api-1`, `worker-3`, … */
  readonly id: string;
  readonly kind: ServiceKind;
  /** HTTP port (the worker's health/metrics port). */
  readonly port: number;
  /** The running process's pid; undefined while it waits to be restarted or after it stopped. */
  pid: number | undefined;
  /** Unexpected exits so far (each followed by a restart unless the instance gave up). */
  restarts: number;
  /** When the current process answered /healthz (undefined until it does). */
  healthySince: number | undefined;
  startedAt: number;
  state: "starting" | "running" | "restarting" | "stopping" | "stopped" | "failed";
}

export interface SupervisorOptions {
  /** Environment of one instance (its port variable included). */
  env: (instance: ServiceInstance) => Record<string, string>;
  /** Each line a service prints. */
  onOutput?: (instance: ServiceInstance, line: string) => void;
  /** Restarts, give-ups and other lifecycle news, one line each. */
  onNotice?: (message: string) => void;
  /** Called once when an instance exceeds the crash-loop limit. */
  onGiveUp?: (instance: ServiceInstance, message: string) => void;
  /** First restart delay; doubled for each consecutive short-lived run, up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run shorter than this (from start to exit) counts as a crash-loop crash. */
  stableAfterMs?: number;
  /** Consecutive short-lived runs after which the instance is given up. */
  crashLoopLimit?: number;
}

export class ServiceSupervisor {
  readonly instances: ServiceInstance[] = [];
  private readonly children = new Map<ServiceInstance, ChildProcess>();
  private readonly quickCrashes = new Map<ServiceInstance, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly options: Required<Omit<SupervisorOptions, "onOutput" | "onGiveUp">> &
    Pick<SupervisorOptions, "onOutput" | "onGiveUp">;

  constructor(options: SupervisorOptions) {
    this.options = {
      onNotice: () => {},
      initialBackoffMs: 250,
      maxBackoffMs: 8_000,
      stableAfterMs: 10_000,
      crashLoopLimit: 5,
      ...options,
    };
  }

  add(kind: ServiceKind, index: number, port: number): ServiceInstance {
    const instance: ServiceInstance = {
      id: `${kind}-${index}`,
      kind,
      port,
      pid: undefined,
      restarts: 0,
      healthySince: undefined,
      startedAt: 0,
      state: "starting",
    };
    this.instances.push(instance);
    this.launch(instance);
    return instance;
  }

  of(kind: ServiceKind): ServiceInstance[] {
    return this.instances.filter((instance) => instance.kind === kind);
  }

  /** Resolves when every instance has answered /healthz, or rejects when one gives up first. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const failed = this.instances.find((instance) => instance.state === "failed");
      if (failed) throw new Error(`${failed.id} gave up before it became healthy`);
      if (this.instances.every((instance) => instance.healthySince !== undefined)) return;
      if (Date.now() > deadline) {
        const waiting = this.instances.filter((instance) => instance.healthySince === undefined);
        throw new Error(`${waiting.map((instance) => instance.id).join(", ")} did not become healthy`);
      }
      await sleep(100);
    }
  }

  /** SIGTERM the given instances (no restart) and wait for them to exit; SIGKILL after `graceMs`. */
  async stop(instances: readonly ServiceInstance[] = this.instances, graceMs = 30_000): Promise<void> {
    await Promise.all(
      instances.map(async (instance) => {
        instance.state = "stopping";
        const child = this.children.get(instance);
        if (!child) {
          instance.state = "stopped";
          return;
        }
        await new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
          setTimeout(() => child.kill("SIGKILL"), graceMs).unref();
        });
        instance.state = "stopped";
      }),
    );
  }

  /** Stops everything and cancels pending restarts. */
  async stopAll(graceMs?: number): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.stop(this.instances, graceMs);
  }

  private launch(instance: ServiceInstance): void {
    const child = spawn(
      process.execPath,
      [
        "--import",
        TSX_LOADER,
        "--import",
        EXIT_WITH_LAUNCHER,
        path.join(REPO_ROOT, "services", instance.kind, "src/main.ts"),
      ],
      // Their own process group: a terminal's Ctrl-C reaches the launcher only, which drains first.
      { cwd: REPO_ROOT, env: this.options.env(instance), stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    this.children.set(instance, child);
    instance.pid = child.pid;
    instance.startedAt = Date.now();
    instance.healthySince = undefined;
    if (instance.state !== "stopping") instance.state = "starting";
    for (const stream of [child.stdout, child.stderr]) {
      let partial = "";
      stream?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.options.onOutput?.(instance, line);
      });
    }
    child.on("error", (error) =>
      this.options.onNotice(`${instance.id} could not be started: ${error.message}`),
    );
    child.on("exit", (code, signal) => this.exited(instance, child, code, signal));
    void this.watchHealth(instance, child);
  }

  private async watchHealth(instance: ServiceInstance, child: ChildProcess): Promise<void> {
    while (this.children.get(instance) === child && child.exitCode === null && child.signalCode === null) {
      try {
        const response = await fetch(`http://127.0.0.1:${instance.port}/healthz`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (response.ok && this.children.get(instance) === child) {
          instance.healthySince = Date.now();
          if (instance.state === "starting") instance.state = "running";
          return;
        }
      } catch {}
      await sleep(150);
    }
  }

  private exited(
    instance: ServiceInstance,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (this.children.get(instance) !== child) return;
    this.children.delete(instance);
    instance.pid = undefined;
    if (instance.state === "stopping" || instance.state === "stopped") {
      instance.state = "stopped";
      return;
    }
    const ranMs = Date.now() - instance.startedAt;
    const quick = ranMs < this.options.stableAfterMs ? (this.quickCrashes.get(instance) ?? 0) + 1 : 0;
    this.quickCrashes.set(instance, quick);
    const how = signal ?? `code ${code}`;
    if (quick >= this.options.crashLoopLimit) {
      instance.state = "failed";
      const message = `${instance.id} exited (${how}) ${quick} times in a row within ${Math.round(this.options.stableAfterMs / 1000)} s of starting; giving up on it — its last log lines above say why`;
      this.options.onNotice(message);
      this.options.onGiveUp?.(instance, message);
      return;
    }
    instance.restarts++;
    instance.state = "restarting";
    const delay = Math.min(
      this.options.initialBackoffMs * 2 ** Math.max(quick - 1, 0),
      this.options.maxBackoffMs,
    );
    this.options.onNotice(
      `${instance.id} exited (${how}) after ${(ranMs / 1000).toFixed(1)} s; restarting in ${(delay / 1000).toFixed(1)} s (restart ${instance.restarts})`,
    );
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (instance.state !== "restarting") return;
      this.launch(instance);
      this.options.onNotice(`${instance.id} restarted (pid ${instance.pid})`);
    }, delay);
    this.timers.add(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
