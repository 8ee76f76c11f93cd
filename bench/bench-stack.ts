// The stack a benchmark run measures, on the embedded default: its own PostgreSQL (default
// settings, fsync on, in a fresh temp folder), the fauxqs SQS emulator, a migrated database, and
// the real api / worker / streamer processes. Everything binds 127.0.0.1 and everything started
// here is stopped by PID in `stop()`, which run.ts calls on success and on error.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "@vigil/devstack/embedded-postgres";
import { startSqsEmulator } from "@vigil/devstack/queues";
import { prepareTemplateDatabase } from "@vigil/testkit/database";
import { createPipeline, type TestPipeline } from "@vigil/testkit/isolated-pipeline";
import { freePort } from "@vigil/testkit/ports";
import type { RunningService, ServiceName, ServiceRuntime } from "@vigil/testkit/services";
import type postgres from "postgres";

/**
 * Per-key and per-tenant rate limits are raised for the benchmark: it measures capacity, and the
 * limiter's own cost is still paid on every request.
 */
export const BENCH_SERVICE_ENV: Record<string, string> = {
  RATE_LIMIT_PER_KEY_RPS: "1000000",
  RATE_LIMIT_PER_KEY_BURST: "1000000",
  RATE_LIMIT_PER_TENANT_RPS: "1000000",
  RATE_LIMIT_PER_TENANT_BURST: "1000000",
  WORKER_WAIT_TIME_SECONDS: "1",
  WORKER_VISIBILITY_TIMEOUT_SECONDS: "60",
  STREAM_MAX_CONNECTIONS_PER_TENANT: "10000",
  // Hundreds of subscribers connect from 127.0.0.1 within seconds; the upgrade limiter still runs.
  STREAM_UPGRADES_PER_MINUTE_PER_IP: "1000000",
  STREAM_UPGRADES_PER_MINUTE_PER_CREDENTIAL: "1000000",
};

export interface BenchStack {
  pipeline: TestPipeline;
  /** Superuser connection to the benchmark database (bypasses RLS; for seeding and direct SQL). */
  admin: postgres.Sql;
  adminUrl: string;
  pgPid: number | undefined;
  services: Partial<Record<ServiceName, RunningService>>;
  /** Every running streamer process (the first is also `services.streamer`). */
  streamers: RunningService[];
  start: (name: ServiceName, overrides?: Record<string, string>) => Promise<RunningService>;
  /**
   * Replaces the running streamers with `count` fresh ones, each its own process on its own
   * 127.0.0.1 port; they share nothing but the database (each LISTENs and reads its feeds itself).
   */
  startStreamers: (count: number, overrides?: Record<string, string>) => Promise<RunningService[]>;
  stopService: (name: ServiceName) => Promise<void>;
  stop: () => Promise<void>;
}

export async function startBenchStack(
  log: (line: string) => void,
  serviceEnv: Record<string, string> = {},
  serviceRuntime: ServiceRuntime = "source",
): Promise<BenchStack> {
  const dataRoot = mkdtempSync(path.join(tmpdir(), "vigil-bench-"));
  chmodSync(dataRoot, 0o755); // PostgreSQL runs as the OS user `postgres` when the bench runs as root
  const pgPassword = "vigil-bench";
  const cleanups: Array<() => Promise<unknown>> = [
    async () => rmSync(dataRoot, { recursive: true, force: true }),
  ];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error) => log(`cleanup failed: ${error}`));
    cleanups.length = 0;
  };
  try {
    log("starting embedded PostgreSQL");
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(dataRoot, "pg"),
      port: await freePort(),
      password: pgPassword,
    });
    cleanups.push(() => pg.stop());
    await prepareTemplateDatabase(pg.superuserUrl());
    const sqs = await startSqsEmulator(0);
    cleanups.push(() => sqs.stop());
    const pipeline = await createPipeline({
      postgres: { port: pg.port, password: pgPassword },
      sqsEndpoint: sqs.endpoint,
      visibilityTimeoutSeconds: 60,
      serviceRuntime,
    });
    cleanups.push(() => pipeline.close());
    const services: BenchStack["services"] = {};
    const streamers: RunningService[] = [];
    // A service that exits while nobody stopped it is a finding: its last output says why (a
    // measurement that only reports "process vanished" cannot be explained afterwards).
    const stopping = new Set<RunningService>();
    const stopProcess = async (service: RunningService) => {
      stopping.add(service);
      await Promise.race([service.stop(), new Promise((resolve) => setTimeout(resolve, 20_000))]);
      await service.kill();
    };
    const stopService = async (name: ServiceName) => {
      if (name === "streamer") {
        delete services.streamer;
        await Promise.all(streamers.splice(0).map(stopProcess));
        return;
      }
      const service = services[name];
      delete services[name];
      if (service) await stopProcess(service);
    };
    cleanups.push(async () => {
      for (const name of Object.keys(services) as ServiceName[]) await stopService(name);
      await stopService("streamer");
    });
    const startProcess = async (name: ServiceName, overrides: Record<string, string>) => {
      const service = await pipeline.start(name, { ...BENCH_SERVICE_ENV, ...serviceEnv, ...overrides });
      void service.exited.then((code) => {
        if (stopping.has(service)) return;
        log(
          `${name} (pid ${service.pid}) exited unasked, code ${code}; its last output:\n${service.output().slice(-4000)}`,
        );
      });
      return service;
    };
    const startStreamers = async (count: number, overrides: Record<string, string> = {}) => {
      await stopService("streamer");
      for (let index = 0; index < count; index++) streamers.push(await startProcess("streamer", overrides));
      services.streamer = streamers[0];
      return [...streamers];
    };
    return {
      pipeline,
      admin: pipeline.database.admin,
      adminUrl: pipeline.database.adminUrl,
      pgPid: pg.pid,
      services,
      streamers,
      start: async (name, overrides = {}) => {
        if (name === "streamer") return (await startStreamers(1, overrides))[0]!;
        await stopService(name);
        const service = await startProcess(name, overrides);
        services[name] = service;
        return service;
      },
      startStreamers,
      stopService,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
