// The isolated pipeline of one test file, on the PostgreSQL cluster and SQS emulator that vitest's
// global setup started (see isolated-pipeline.ts for what it holds).
import { inject } from "vitest";
import { createPipeline, type TestPipeline } from "./isolated-pipeline.ts";
import type { ServiceRuntime } from "./services.ts";

export type { TestPipeline } from "./isolated-pipeline.ts";

export interface TestPipelineOptions {
  maxReceiveCount?: number;
  visibilityTimeoutSeconds?: number;
  /** Another SQS endpoint (a test that stops its own emulator). */
  sqsEndpoint?: string;
  /** Another PostgreSQL cluster (a test that restarts its own database); needs a migrated template. */
  postgres?: { port: number; password: string };
  /** "built": services start from the bundles `pnpm build` writes (what production runs). */
  serviceRuntime?: ServiceRuntime;
}

export function createTestPipeline(options: TestPipelineOptions = {}): Promise<TestPipeline> {
  return createPipeline({
    ...options,
    postgres: options.postgres ?? { port: inject("pgPort"), password: inject("pgPassword") },
    sqsEndpoint: options.sqsEndpoint ?? inject("sqsEndpoint"),
  });
}
