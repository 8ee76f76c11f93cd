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
  start: (name: ServiceName, overrides?: Record<string, string>) => Promise<RunningService>;
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
    const stopService = async (name: ServiceName) => {
      const service = services[name];
      delete services[name];
      if (service)
        await Promise.race([service.stop(), new Promise((resolve) => setTimeout(resolve, 20_000))]).then(() =>
          service.kill(),
        );
    };
    cleanups.push(async () => {
      for (const name of Object.keys(services) as ServiceName[]) await stopService(name);
    });
    return {
      pipeline,
      admin: pipeline.database.admin,
      adminUrl: pipeline.database.adminUrl,
      pgPid: pg.pid,
      services,
      start: async (name, overrides = {}) => {
        await stopService(name);
        const service = await pipeline.start(name, { ...BENCH_SERVICE_ENV, ...serviceEnv, ...overrides });
        services[name] = service;
        return service;
      },
      stopService,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
