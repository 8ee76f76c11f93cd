// The embedded stack (what `pnpm start` runs, and `pnpm chaos` and the launcher tests drive): a real
// PostgreSQL with data kept in the state folder, the fauxqs SQS emulator, migrations, the queue and
// its dead-letter queue, the platform admin, then N api, worker and streamer processes under the
// supervisor, which share nothing but PostgreSQL and SQS. `drainAndStop` is the clean stop: api
// replicas stop accepting, workers empty the queue (bounded wait), then everything stops.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { DevStackConfig } from "@vigil/shared/config/config";
import { ensureServiceRole, migrateToLatest } from "@vigil/shared/db/migrate";
import { EventQueue } from "@vigil/shared/queue/event-queue";
import { ensureSystemTenant } from "@vigil/shared/tenants/tenants";
import { ensureCheckpointBucket, ensureDevCheckpointKey } from "@vigil/shared/tlog/dev-checkpoint-key";
import postgres from "postgres";
import { startArchiveBucketServer } from "./archive-bucket-server.ts";
import { bootstrapPlatform } from "./bootstrap.ts";
import { type EmbeddedPostgresHandle, resolveDataDir, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { createEventQueues, startSqsEmulator } from "./queues.ts";
import {
  type ServiceInstance,
  type ServiceKind,
  ServiceSupervisor,
  type SupervisorOptions,
} from "./supervisor.ts";

export type Replicas = Record<ServiceKind, number>;

export interface StackOptions {
  /** Folder for PostgreSQL data, generated secrets and dev.env (relative paths are taken as given). */
  stateDir: string;
  pgPort: number;
  sqsPort: number;
  replicas: Replicas;
  /** Port of each replica; default: the kind's base port + 10 × (replica − 1). */
  ports?: Partial<Record<ServiceKind, number[]>>;
  basePorts: Record<ServiceKind, number>;
  admin: Pick<DevStackConfig, "VIGIL_ADMIN_EMAIL" | "VIGIL_ADMIN_PASSWORD">;
  /** The launcher's own environment, inherited by services (PATH, LOG_LEVEL, …). */
  inheritedEnv: Record<string, string>;
  /** LOG_FILE for the services: `{service}` becomes each replica's name, so replicas never share a file. */
  logFile?: string;
  /** Extra settings for every service (after the stack's own). */
  serviceEnv?: Record<string, string>;
  /** PostgreSQL settings (`-c name=value`). */
  pgSettings?: Record<string, string>;
  /** Seconds a message stays invisible after a receive; a crashed worker's batch returns after this. */
  visibilityTimeoutSeconds?: number;
  say: (message: string) => void;
  onOutput?: SupervisorOptions["onOutput"];
  supervisor?: Pick<
    SupervisorOptions,
    "stableAfterMs" | "crashLoopLimit" | "initialBackoffMs" | "maxBackoffMs"
  >;
  /** Called when a replica exceeds the crash-loop limit (the launcher then stops the stack). */
  onGiveUp?: (instance: ServiceInstance, message: string) => void;
}

export interface EmbeddedStack {
  pg: EmbeddedPostgresHandle;
  sqsEndpoint: string;
  queueUrl: string;
  dlqUrl: string;
  adminUrl: string;
  appUrl: string;
  supervisor: ServiceSupervisor;
  bootstrapLines: string[];
  queue: EventQueue;
  /** Clean stop: api first, then wait (≤ `drainTimeoutMs`) until the workers emptied the queue. */
  drainAndStop: (options?: {
    drainTimeoutMs?: number;
    signal?: AbortSignal;
  }) => Promise<{ drained: boolean; left: number }>;
  /** Stop without draining (what is still queued is lost: the emulator keeps it in memory). */
  stopNow: () => Promise<void>;
}

const PORT_VARIABLE: Record<ServiceKind, string> = {
  api: "API_PORT",
  worker: "WORKER_METRICS_PORT",
  streamer: "STREAMER_PORT",
};

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

export function replicaPort(
  options: Pick<StackOptions, "ports" | "basePorts">,
  kind: ServiceKind,
  index: number,
): number {
  return options.ports?.[kind]?.[index - 1] ?? options.basePorts[kind] + 10 * (index - 1);
}

export async function startEmbeddedStack(options: StackOptions): Promise<EmbeddedStack> {
  const { say } = options;
  const stateDir = path.resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const secrets = loadOrCreateSecrets(path.join(stateDir, "secrets.json"));

  const preferredPgDir = path.join(stateDir, "pg");
  const pgDir = resolveDataDir(preferredPgDir);
  if (pgDir !== preferredPgDir)
    say(`PostgreSQL cannot use ${preferredPgDir} as the 'postgres' user; data goes to ${pgDir}`);
  else chmodSync(stateDir, 0o755);
  say(`starting PostgreSQL on 127.0.0.1:${options.pgPort} (data: ${pgDir})`);
  const pg = await startEmbeddedPostgres({
    dataDir: pgDir,
    port: options.pgPort,
    password: secrets.pgPassword,
    settings: options.pgSettings,
    onNotice: say,
  });
  const cleanups: Array<() => Promise<unknown>> = [() => pg.stop()];
  try {
    const root = postgres(pg.superuserUrl(), { max: 1, onnotice: () => {} });
    const exists = await root`select 1 from pg_database where datname = 'vigil'`;
    if (exists.length === 0) await root.unsafe("create database vigil");
    await root.end();
    const adminUrl = pg.superuserUrl("vigil");
    const migration = await migrateToLatest(adminUrl);
    const applied = migration.results?.filter((result) => result.status === "Success").length ?? 0;
    say(applied ? `applied ${applied} migration(s)` : "database schema is up to date");
    await ensureServiceRole(adminUrl, "vigil_service", secrets.servicePassword);
    const appUrl = `postgres://vigil_service:${encodeURIComponent(secrets.servicePassword)}@127.0.0.1:${options.pgPort}/vigil`;

    say(`starting the SQS emulator (fauxqs) on 127.0.0.1:${options.sqsPort}`);
    const sqs = await startSqsEmulator(options.sqsPort);
    cleanups.unshift(() => sqs.stop());
    const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 30;
    const queues = await createEventQueues(sqs.endpoint, "vigil-events", {
      maxReceiveCount: 5,
      visibilityTimeoutSeconds,
    });
    const queue = new EventQueue({
      queueUrl: queues.queueUrl,
      dlqUrl: queues.dlqUrl,
      region: "us-east-1",
      endpoint: sqs.endpoint,
    });
    cleanups.push(async () => queue.close());

    const archiveDir = path.join(stateDir, "archive");
    const archiveStore = await startArchiveBucketServer({ root: archiveDir });
    cleanups.unshift(() => archiveStore.stop());
    mkdirSync(path.join(archiveDir, "vigil-archive"), { recursive: true });
    say(`archive bucket vigil-archive on ${archiveStore.endpoint} (objects kept in ${archiveDir})`);

    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await ensureSystemTenant(sql);
    await sql.end();
    const bootstrap = await bootstrapPlatform(appUrl, options.admin);
    // Checkpoint signing (spec §13): a key file generated on first start, anchors in fauxqs's S3.
    const checkpointKey = await ensureDevCheckpointKey(stateDir);
    const checkpointEnv = {
      CHECKPOINT_SIGNING_KEY_FILE: checkpointKey.file,
      CHECKPOINT_S3_BUCKET: await ensureCheckpointBucket(sqs.endpoint),
      CHECKPOINT_S3_ENDPOINT: sqs.endpoint,
      // Archive before deletion (spec §12): the deployment's default bucket, kept on disk in the state
      // folder (fauxqs keeps objects in memory; archived rows are deleted once PutObject answers).
      ARCHIVE_S3_BUCKET: "vigil-archive",
      ARCHIVE_S3_ENDPOINT: archiveStore.endpoint,
    };

    const sharedEnv: Record<string, string> = {
      DATABASE_URL: appUrl,
      DATABASE_ADMIN_URL: adminUrl,
      SQS_ENDPOINT: sqs.endpoint,
      SQS_QUEUE_URL: queues.queueUrl,
      SQS_DLQ_URL: queues.dlqUrl,
      AWS_REGION: "us-east-1",
      WORKER_VISIBILITY_TIMEOUT_SECONDS: String(visibilityTimeoutSeconds),
      ...checkpointEnv,
      // The console (served by each api) opens its live tail from the api's origin.
      STREAM_ALLOWED_ORIGINS:
        options.inheritedEnv.STREAM_ALLOWED_ORIGINS ??
        Array.from({ length: options.replicas.api }, (_, i) => replicaPort(options, "api", i + 1))
          .flatMap((port) => [`http://127.0.0.1:${port}`, `http://localhost:${port}`])
          .join(","),
    };
    const firstPorts = Object.fromEntries(
      (Object.keys(PORT_VARIABLE) as ServiceKind[]).map((kind) => [
        PORT_VARIABLE[kind],
        String(replicaPort(options, kind, 1)),
      ]),
    );
    // The CLI (`pnpm vigil …`) reads this file to reach the running stack (the first replica of each).
    writeFileSync(
      path.join(stateDir, "dev.env"),
      `# written by pnpm start; read by pnpm vigil\n${Object.entries({ ...sharedEnv, ...firstPorts })
        .map(([key, value]) => `${key}=${value}`)
        .join("\n")}\n`,
      { mode: 0o600 },
    );

    const supervisor = new ServiceSupervisor({
      ...options.supervisor,
      env: (instance) => ({
        ...options.inheritedEnv,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        ...sharedEnv,
        ...firstPorts,
        [PORT_VARIABLE[instance.kind]]: String(instance.port),
        ...(options.logFile ? { LOG_FILE: options.logFile.replaceAll("{service}", instance.id) } : {}),
        ...options.serviceEnv,
      }),
      onOutput: options.onOutput,
      onNotice: say,
      onGiveUp: options.onGiveUp,
    });
    cleanups.unshift(() => supervisor.stopAll());
    for (const kind of ["worker", "streamer", "api"] as const)
      for (let index = 1; index <= options.replicas[kind]; index++)
        supervisor.add(kind, index, replicaPort(options, kind, index));

    let stopped = false;
    const stopNow = async () => {
      if (stopped) return;
      stopped = true;
      for (const cleanup of cleanups) await cleanup().catch((error) => say(`stop: ${String(error)}`));
    };

    const drainAndStop = async ({
      drainTimeoutMs = 120_000,
      signal,
    }: {
      drainTimeoutMs?: number;
      signal?: AbortSignal;
    } = {}) => {
      say("stopping the api (no new events accepted; requests in progress finish)…");
      await supervisor.stop(supervisor.of("api"));
      const deadline = Date.now() + drainTimeoutMs;
      let left = Number.POSITIVE_INFINITY;
      let emptyReadings = 0;
      let lastReport = 0;
      while (!signal?.aborted && Date.now() < deadline) {
        const depth = await queue.depth().catch(() => null);
        if (depth) {
          left = depth.visible + depth.inFlight;
          emptyReadings = left === 0 ? emptyReadings + 1 : 0;
          if (emptyReadings >= 2) break;
          if (left > 0 && Date.now() - lastReport >= 2_000) {
            lastReport = Date.now();
            const workers = supervisor.of("worker").filter((worker) => worker.state !== "failed").length;
            say(
              `draining: ${depth.visible} message(s) queued, ${depth.inFlight} being stored by ${workers} worker(s); waiting up to ${Math.ceil((deadline - Date.now()) / 1000)} s more (Ctrl-C again to stop now)`,
            );
            if (workers === 0) break;
          }
        }
        await sleep(250, signal);
      }
      const drained = emptyReadings >= 2;
      say(
        drained
          ? "queue drained: every accepted event is stored"
          : `stopping with ${left} message(s) still queued: they are lost (the emulator keeps them in memory)`,
      );
      await stopNow();
      return { drained, left: drained ? 0 : left };
    };

    return {
      pg,
      sqsEndpoint: sqs.endpoint,
      queueUrl: queues.queueUrl,
      dlqUrl: queues.dlqUrl,
      adminUrl,
      appUrl,
      supervisor,
      bootstrapLines: [
        ...bootstrap.lines,
        `checkpoint verifier key (pin it: pnpm vigil monitor --key …): ${checkpointKey.verifierKey}`,
      ],
      queue,
      drainAndStop,
      stopNow,
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw error;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
