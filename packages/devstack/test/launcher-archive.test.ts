// `pnpm start`'s archive bucket is on disk: events archived and deleted through the running stack's
// bucket are still restorable after the launcher is killed with SIGKILL (no clean stop, no mirror
// step) and started again on the same state folder.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { archiveAndDeleteEventsBefore } from "@vigil/shared/archive/archive-events";
import { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { restoreArchivedEvents } from "@vigil/shared/archive/restore-archives";
import { Database } from "@vigil/shared/db/database";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { queuedEvent } from "@vigil/testkit";
import postgres from "postgres";
import { describe, expect, test } from "vitest";
import { launch, stateDir } from "./launcher-fixture.ts";

const DAY = 86_400_000;
const EVENTS = 500;

function storageOf(env: Record<string, string>) {
  return new ArchiveStorage({
    region: "us-east-1",
    endpoint: env.ARCHIVE_S3_ENDPOINT!,
    defaultBucket: env.ARCHIVE_S3_BUCKET!,
    sse: "AES256",
    objectLockDays: 0,
  });
}

describe("pnpm start keeps archived objects on disk", () => {
  test("archived then deleted, launcher SIGKILLed, started again: every event restores", async () => {
    const dir = stateDir();
    const first = await launch(dir);
    const env = first.devEnv();
    expect(env.ARCHIVE_S3_BUCKET).toBe("vigil-archive");
    expect(env.ARCHIVE_S3_ENDPOINT).not.toBe(env.SQS_ENDPOINT); // not fauxqs's in-memory S3

    const tenantId = randomUUID();
    const admin = postgres(env.DATABASE_ADMIN_URL!, { max: 1, onnotice: () => {} });
    await admin`insert into tenants (id, name, retention_days, archive_enabled) values (${tenantId}, ${tenantId}, 30, true)`;
    await admin.end();
    let db = new Database({ url: env.DATABASE_URL! });
    let storage = storageOf(env);
    try {
      await storeEvents(
        db,
        Array.from({ length: EVENTS }, (_, i) =>
          queuedEvent(tenantId, { occurred_at: new Date(Date.now() - 40 * DAY + i * 1000).toISOString() }),
        ),
      );
      const archived = await archiveAndDeleteEventsBefore(
        db,
        { storage, maxEventsPerObject: 200 },
        tenantScope(tenantId),
        { enabled: true, bucket: null, prefix: "" },
        new Date(Date.now() - 30 * DAY),
        "retention",
      );
      expect(archived.deleted).toBe(EVENTS);
    } finally {
      storage.close();
      await db.close();
    }
    expect(existsSync(path.join(dir, "archive", "vigil-archive", tenantId, "manifests"))).toBe(true);

    process.kill(first.process.pid!, "SIGKILL");
    await first.exited;
    const second = await launch(dir);
    db = new Database({ url: second.devEnv().DATABASE_URL! });
    storage = storageOf(second.devEnv());
    try {
      const restored = await restoreArchivedEvents(
        { db, storage, actor: "user:test" },
        tenantScope(tenantId),
        { from_seq: 1, to_seq: EVENTS },
      );
      expect(restored).toMatchObject({ restored: EVENTS, objects: 3 });
    } finally {
      storage.close();
      await db.close();
    }
  }, 180_000);
});
