// Boots the real components once per test run: one embedded PostgreSQL cluster (with a migrated
// template database every test file clones) and one fauxqs SQS emulator. Test files then create
// their own database and queues (see @vigil/testkit), so nothing is shared between files.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../packages/devstack/src/embedded-postgres.ts";
import { startSqsEmulator } from "../packages/devstack/src/queues.ts";
import { silenceAwsSdkNodeVersionWarning } from "../packages/shared/src/config/config.ts";
import { prepareTemplateDatabase, SERVICE_ROLE } from "../packages/testkit/src/database.ts";
import { freePort } from "../packages/testkit/src/ports.ts";

declare module "vitest" {
  export interface ProvidedContext {
    pgPort: number;
    pgPassword: string;
    sqsEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  silenceAwsSdkNodeVersionWarning();
  const dataRoot = mkdtempSync(path.join(tmpdir(), "vigil-test-"));
  chmodSync(dataRoot, 0o755); // PostgreSQL runs as the OS user `postgres` when tests run as root
  const pgPassword = "vigil-test";
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(dataRoot, "pg"),
    port: await freePort(),
    password: pgPassword,
    // Durability of the test cluster itself is not under test; crash tests kill workers, not disks.
    settings: { fsync: "off", full_page_writes: "off" },
  });
  await prepareTemplateDatabase(postgres.superuserUrl());
  const sqs = await startSqsEmulator(0);

  project.provide("pgPort", postgres.port);
  project.provide("pgPassword", pgPassword);
  project.provide("sqsEndpoint", sqs.endpoint);
  void SERVICE_ROLE;

  return async () => {
    await sqs.stop();
    await postgres.stop();
    rmSync(dataRoot, { recursive: true, force: true });
  };
}
