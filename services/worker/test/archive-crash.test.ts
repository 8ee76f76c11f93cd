// Archive before deletion survives kill -9 of the real worker process: SIGKILLed after writing a
// run's objects and manifest but before deleting a row, and again after deleting rows but before
// their removal and archive records are written (inside the transaction, which then rolls back).
// And killed after a run's first object is deleted and recorded (a partial run), whose retry names
// the rest under a new manifest. The next worker rewrites the same keys and finishes: nothing lost, every seq archived in exactly
// one recorded range, restore brings back each event once, and the log verifies.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { manifestPrefix } from "@vigil/shared/archive/archive-format";
import type { ArchiveStorage } from "@vigil/shared/archive/archive-storage";
import { restoreArchivedEvents } from "@vigil/shared/archive/restore-archives";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTestPipeline, eventually, queuedEvent, REPO_ROOT, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";
import { emulatorArchiveStorage } from "../../../packages/shared/test/archive/emulator-archive-storage.ts";

const DAY = 86_400_000;
const NOW = Date.now();
const TENANT = "0190a0a0-0000-7000-8000-0000000000d1";
const EXPIRED = 10_000;
const PER_OBJECT = 250; // 40 objects: runs of 16, 16 and 8 objects (a manifest each)

const execFileAsync = promisify(execFile);
let pipeline: TestPipeline;
let storage: ArchiveStorage;
const bucket = `vigil-archive-${randomBytes(4).toString("hex")}`;

const workerEnv = (fault?: string) => ({
  RETENTION_SWEEP_INTERVAL_SECONDS: "1",
  ARCHIVE_S3_BUCKET: bucket,
  ARCHIVE_S3_ENDPOINT: pipeline.sqsEndpoint,
  ARCHIVE_OBJECT_MAX_EVENTS: String(PER_OBJECT),
  WORKER_POLLERS: "1",
  ...(fault ? { VIGIL_FAULT_ARCHIVE_KILL: fault } : {}),
});

const expiredLeft = async () =>
  Number(
    (
      await pipeline.database.admin<{ n: number }[]>`
        select count(*)::int as n from events where tenant_id = ${TENANT} and occurred_at < ${new Date(NOW - 30 * DAY)}`
    )[0]!.n,
  );
const archiveRecords = () =>
  pipeline.database.admin<{ from_seq: string; to_seq: string; object_key: string }[]>`
    select from_seq, to_seq, object_key from event_archives where tenant_id = ${TENANT} order by from_seq`;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  storage = await emulatorArchiveStorage(pipeline.sqsEndpoint, bucket);
  await pipeline.database.admin`
    insert into tenants (id, name, retention_days, archive_enabled) values (${TENANT}, 'crash', 30, true)`;
  const events = Array.from({ length: EXPIRED + 100 }, (_, i) =>
    queuedEvent(TENANT, {
      occurred_at: new Date(i < EXPIRED ? NOW - 60 * DAY + i * 1000 : NOW - 60_000).toISOString(),
      resource_id: `r-${i}`,
    }),
  );
  for (let start = 0; start < events.length; start += 5000)
    await storeEvents(pipeline.database.db, events.slice(start, start + 5000));
}, 60_000);
afterAll(async () => {
  storage?.close();
  await pipeline?.close();
});

test("SIGKILL after the objects and after the delete: the next worker finishes, every seq archived once", async () => {
  // 1. Killed after run 2's objects and manifest are written: run 1 is deleted and recorded, run 2 is not.
  const first = await pipeline.start("worker", workerEnv("after_objects:2"));
  expect(await first.exited).toBeNull(); // killed by a signal
  expect(first.process.signalCode).toBe("SIGKILL");
  expect(await expiredLeft()).toBe(EXPIRED - 16 * PER_OBJECT);
  expect(await archiveRecords()).toHaveLength(16);
  expect(await storage.list(bucket, manifestPrefix("", TENANT))).toHaveLength(2);

  // 2. Killed after deleting run 2's first object's rows, before recording them: rolled back.
  const second = await pipeline.start("worker", workerEnv("after_delete:1"));
  expect(await second.exited).toBeNull();
  expect(await expiredLeft()).toBe(EXPIRED - 16 * PER_OBJECT);
  expect(await archiveRecords()).toHaveLength(16);

  // 3. Killed right after the first object of the retried run 2 is deleted and recorded: a partial run.
  //    Its retry cuts from the next object on, under a new manifest key that re-names objects 18-32.
  const partial = await pipeline.start("worker", workerEnv("after_commit:1"));
  expect(await partial.exited).toBeNull();
  expect(await expiredLeft()).toBe(EXPIRED - 17 * PER_OBJECT);
  expect(await archiveRecords()).toHaveLength(17);

  // 4. A healthy worker finishes the job, rewriting the same object keys rather than adding new ones.
  const third = await pipeline.start("worker", workerEnv());
  await eventually(async () => (await expiredLeft()) === 0, 30_000, 200);
  await eventually(async () => (await archiveRecords()).length === EXPIRED / PER_OBJECT, 10_000, 100);
  await third.stop();

  const records = await archiveRecords();
  let next = 1;
  for (const record of records) {
    expect(Number(record.from_seq)).toBe(next);
    next = Number(record.to_seq) + 1;
  }
  expect(next).toBe(EXPIRED + 1);
  // One object per recorded range in the bucket (same keys overwritten); manifests 1-16, 17-32 (the
  // partial run's), 18-33 and 34-40 (objects 18-32 named twice: verify counts them once).
  const objects = await storage.list(bucket, `${TENANT}/events/`);
  expect(objects).toEqual(records.map((r) => r.object_key));
  expect(await storage.list(bucket, manifestPrefix("", TENANT))).toHaveLength(4);

  const removal = await pipeline.database.admin<{ n: number }[]>`
    select count(*)::int as n from event_removed_ranges where tenant_id = ${TENANT} and archive_key is not null`;
  expect(removal[0]!.n).toBe(EXPIRED / PER_OBJECT);
  expect((await verifyTenantLog(pipeline.database.db, tenantScope(TENANT))).ok).toBe(true);

  const context = { db: pipeline.database.db, storage, actor: "user:test" };
  const restored = await restoreArchivedEvents(context, tenantScope(TENANT), {
    from_seq: 1,
    to_seq: EXPIRED,
  });
  expect(restored).toMatchObject({ restored: EXPIRED, already_restored: 0, objects: EXPIRED / PER_OBJECT });
  const again = await restoreArchivedEvents(context, tenantScope(TENANT), { from_seq: 1, to_seq: EXPIRED });
  expect(again).toMatchObject({ restored: 0, already_restored: EXPIRED });
  const rows = await pipeline.database.admin<{ n: number; distinct_seqs: number }[]>`
    select count(*)::int as n, count(distinct seq)::int as distinct_seqs from restored_events where tenant_id = ${TENANT}`;
  expect(rows[0]).toEqual({ n: EXPIRED, distinct_seqs: EXPIRED });
});

/** The real `pnpm vigil archive verify`, as an operator runs it: no database configured. */
async function archiveVerify(): Promise<{ code: number; report: Record<string, unknown> }> {
  const args = ["--import", "tsx", "packages/cli/src/main.ts", "archive", "verify", "--tenant", TENANT];
  args.push("--bucket", bucket, "--endpoint", pipeline.sqsEndpoint);
  const env = { PATH: process.env.PATH ?? "", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };
  try {
    const { stdout } = await execFileAsync(process.execPath, args, { cwd: REPO_ROOT, env });
    return { code: 0, report: JSON.parse(stdout) };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, report: JSON.parse(failed.stdout) };
  }
}

test("pnpm vigil archive verify checks the bucket offline, and names a tampered object", async () => {
  // Keys another tenant's prefix can nest below this tenant's folders are not Vigil's: ignored.
  await storage.put(bucket, `${TENANT}/manifests/other-tenant/0000000000000001-0000000000000002.json`, "{}", {
    contentType: "application/json",
  });
  await storage.put(bucket, `${TENANT}/events/nested/x.ndjson.gz`, "junk", { contentType: "text/plain" });
  const clean = await archiveVerify();
  expect(clean.code).toBe(0);
  expect(clean.report).toMatchObject({
    ok: true,
    manifests: 4,
    objects: EXPIRED / PER_OBJECT,
    events: EXPIRED, // not 13,750: the 15 objects two manifests name count once
    unreferenced: [],
    superseded_manifests: [],
  });
  const [, victim] = await storage.list(bucket, `${TENANT}/events/`);
  const { gzipSync, gunzipSync } = await import("node:zlib");
  const lines = gunzipSync(await storage.get(bucket, victim!))
    .toString()
    .split("\n");
  lines[3] = lines[3]!.replace('"resource_type":"doc"', '"resource_type":"d0c"');
  await storage.put(bucket, victim!, gzipSync(lines.join("\n")), { contentType: "application/x-ndjson" });
  const tampered = await archiveVerify();
  expect(tampered.code).toBe(3);
  expect(tampered.report).toMatchObject({
    ok: false,
    problems: [{ key: victim, problem: "SHA-256 differs from the manifest" }],
  });
});
