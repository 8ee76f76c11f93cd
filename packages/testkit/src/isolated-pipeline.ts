// A complete, isolated Vigil: its own database (cloned from the migrated template), its own queue
// pair on a running SQS emulator, and helpers to start the real service processes against them and
// to create tenants and keys. Free of vitest, so the benchmarks use it too (tests go through
// createTestPipeline, which finds the cluster and emulator of the vitest run).
import { randomBytes } from "node:crypto";
import { createEventQueues, type QueuePair } from "@vigil/devstack/queues";
import { type ApiKeyScope, createApiKey } from "@vigil/shared/auth/api-keys";
import { EventQueue } from "@vigil/shared/queue/event-queue";
import { createTenant, type Tenant } from "@vigil/shared/tenants/tenants";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { freePort } from "./ports.ts";
import { type RunningService, type ServiceName, type ServiceRuntime, startService } from "./services.ts";

export interface TestPipeline {
  database: TestDatabase;
  queues: QueuePair;
  sqsEndpoint: string;
  queue: EventQueue;
  /** Environment a service needs to run against this pipeline. */
  env: (overrides?: Record<string, string>) => Record<string, string>;
  start: (name: ServiceName, overrides?: Record<string, string>) => Promise<RunningService>;
  createTenantWithKey: (
    scopes?: ApiKeyScope[],
    input?: { name?: string; retention_days?: number },
  ) => Promise<{ tenant: Tenant; key: string }>;
  close: () => Promise<void>;
}

export interface PipelineOptions {
  maxReceiveCount?: number;
  visibilityTimeoutSeconds?: number;
  sqsEndpoint: string;
  /** A PostgreSQL cluster holding the migrated template (see prepareTemplateDatabase). */
  postgres: { port: number; password: string };
  /** How services start (default "source"; the benchmark runs the built bundles). */
  serviceRuntime?: ServiceRuntime;
}

export async function createPipeline(options: PipelineOptions): Promise<TestPipeline> {
  const database = await createTestDatabase(options.postgres.port, options.postgres.password);
  const sqsEndpoint = options.sqsEndpoint;
  const queues = await createEventQueues(sqsEndpoint, `vigil-${randomBytes(5).toString("hex")}`, {
    maxReceiveCount: options.maxReceiveCount ?? 5,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
  });
  const queue = new EventQueue({
    queueUrl: queues.queueUrl,
    dlqUrl: queues.dlqUrl,
    region: "us-east-1",
    endpoint: sqsEndpoint,
  });
  const running = new Set<RunningService>();

  const env = (overrides: Record<string, string> = {}) => ({
    DATABASE_URL: database.appUrl,
    DATABASE_ADMIN_URL: database.adminUrl,
    SQS_ENDPOINT: sqsEndpoint,
    SQS_QUEUE_URL: queues.queueUrl,
    SQS_DLQ_URL: queues.dlqUrl,
    AWS_REGION: "us-east-1",
    WORKER_WAIT_TIME_SECONDS: "1",
    WORKER_VISIBILITY_TIMEOUT_SECONDS: String(options.visibilityTimeoutSeconds ?? 30),
    VIGIL_ADMIN_PASSWORD: "admin-password-for-tests",
    ...overrides,
  });

  return {
    database,
    queues,
    sqsEndpoint,
    queue,
    env,
    start: async (name, overrides = {}) => {
      const portVariable = { api: "API_PORT", worker: "WORKER_METRICS_PORT", streamer: "STREAMER_PORT" }[
        name
      ];
      // A free port is free when asked, not when the child binds it: a parallel suite can take it in
      // between (EADDRINUSE), so a start that loses that race is tried again on another port.
      let service: RunningService | undefined;
      for (let attempt = 1; !service; attempt++) {
        const port = await freePort();
        try {
          service = await startService(
            name,
            env({ [portVariable]: String(port), ...overrides }),
            port,
            options.serviceRuntime,
          );
        } catch (error) {
          if (attempt >= 3 || !String((error as Error).message).includes("EADDRINUSE")) throw error;
        }
      }
      running.add(service);
      void service.exited.then(() => running.delete(service));
      return service;
    },
    createTenantWithKey: async (scopes = ["ingest", "read"], input = {}) => {
      const tenant = await createTenant(database.admin, {
        name: input.name ?? `tenant-${randomBytes(4).toString("hex")}`,
        retention_days: input.retention_days,
      });
      const { key } = await createApiKey(database.admin, { tenantId: tenant.id, name: "test key", scopes });
      return { tenant, key };
    },
    close: async () => {
      await Promise.all([...running].map((service) => service.kill()));
      queue.close();
      await database.drop();
    },
  };
}
