// The checkpointer against the real PostgreSQL: one process at a time signs (advisory lock), a
// round backfills history older than the tree and signs every tenant that grew, a size is never
// signed with two roots, both keys sign during a rotation and old keys keep their window, and an
// event no checkpoint covers yet is a 409 with Retry-After.
import { randomBytes, randomUUID } from "node:crypto";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { createLogger } from "@vigil/shared/logging/logger";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { deleteEventsBefore } from "@vigil/shared/retention/cleanup-events";
import { listCheckpointKeys } from "@vigil/shared/tlog/checkpoint-keys-listing";
import {
  CheckpointKeyError,
  checkpointKeyTexts,
  createCheckpointSigner,
} from "@vigil/shared/tlog/checkpoint-signer";
import {
  CheckpointConflictError,
  insertCheckpoint,
  latestCheckpoint,
} from "@vigil/shared/tlog/checkpoint-store";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { eventInclusionProof } from "@vigil/shared/tlog/proofs";
import { createTestPipeline, queuedEvent, type TestPipeline } from "@vigil/testkit";
import { openCheckpoint, signerKey, verifierKeyOf } from "@vigil/verify";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
const logger = createLogger("test", "silent");

async function makeKey(name: string) {
  const signer = { name, privateKeySeed: new Uint8Array(randomBytes(32)) };
  return { signer: await signerKey(signer), verifier: await verifierKeyOf(signer) };
}

async function checkpointerWith(keys: string[]) {
  return new Checkpointer(pipeline.database.db, {
    origin: "vigil.test",
    signer: await createCheckpointSigner(keys),
    anchors: [],
    logger,
  });
}

function events(tenantId: string, count: number): NormalizedEvent[] {
  return Array.from({ length: count }, () =>
    queuedEvent(tenantId, { id: randomUUID(), payload_hash: randomBytes(32).toString("hex") }),
  );
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
});
afterAll(() => pipeline?.close());

test("a round backfills older history and signs each grown tenant once; a concurrent round waits its turn", async () => {
  const key = await makeKey("vigil-round");
  const { tenant: grown } = await pipeline.createTenantWithKey();
  const { tenant: old } = await pipeline.createTenantWithKey();
  await storeEvents(pipeline.database.db, [...events(grown.id, 3), ...events(old.id, 20)]);
  // `old` as after the migration: rows, but no tree yet.
  await pipeline.database.admin`delete from tlog_tiles where tenant_id = ${old.id}`;
  await pipeline.database.admin`update tenant_sequences set tree_size = 0 where tenant_id = ${old.id}`;

  const [a, b] = await Promise.all([
    (await checkpointerWith([key.signer])).runRound(),
    (await checkpointerWith([key.signer])).runRound(),
  ]);
  // The advisory lock lets one round run; the other returns at once (or runs after and finds nothing).
  expect(a.signed + b.signed).toBeGreaterThanOrEqual(2);
  expect([a.ran, b.ran]).toContain(true);
  for (const [tenantId, size] of [
    [grown.id, 3],
    [old.id, 20],
  ] as const) {
    const latest = await pipeline.database.db.withTenant(tenantId, (tx) => latestCheckpoint(tx, tenantId));
    expect(latest?.tree_size).toBe(size);
    const { checkpoint } = await openCheckpoint(latest!.note, [key.verifier]);
    expect(checkpoint.origin).toBe(`vigil.test/${tenantId}`);
  }
  // While another session holds the checkpointer lock, a round does nothing.
  const holder = await pipeline.database.admin.reserve();
  await holder`select pg_advisory_lock(${(0x76_69_67_6c_74_6c_6f_67n).toString()}::bigint)`;
  await storeEvents(pipeline.database.db, events(grown.id, 1));
  expect(await (await checkpointerWith([key.signer])).runRound()).toMatchObject({ ran: false, signed: 0 });
  await holder`select pg_advisory_unlock_all()`;
  holder.release();
  expect(await (await checkpointerWith([key.signer])).runRound()).toMatchObject({ ran: true, signed: 1 });
  // Nothing grew: the next round signs nothing.
  expect((await (await checkpointerWith([key.signer])).runRound()).signed).toBe(0);
});

test("a log never signs two different roots for one size", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  await storeEvents(pipeline.database.db, events(tenant.id, 2));
  const signed = await (await checkpointerWith([(await makeKey("k")).signer])).signTenant(
    tenantScope(tenant.id),
  );
  const again = pipeline.database.db.withTenant(tenant.id, (tx) =>
    insertCheckpoint(tx, tenant.id, { tree_size: 2, root_hash: new Uint8Array(32), note: "forged\n" }),
  );
  await expect(again).rejects.toBeInstanceOf(CheckpointConflictError);
  // The service role cannot rewrite or remove a checkpoint either.
  const rewrite = pipeline.database.db.withTenant(
    tenant.id,
    (tx) => tx`update tlog_checkpoints set note = 'x' where tenant_id = ${tenant.id}`,
  );
  await expect(rewrite).rejects.toThrow(/permission denied/);
  const same = await pipeline.database.db.withTenant(tenant.id, (tx) =>
    insertCheckpoint(tx, tenant.id, {
      tree_size: 2,
      root_hash: signed.checkpoint.root_hash,
      note: "other\n",
    }),
  );
  expect(same).toMatchObject({ created: false, checkpoint: { note: signed.checkpoint.note } });
});

test("rotation: both keys sign; the retired key stays listed with its window and keeps verifying old checkpoints", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  const oldKey = await makeKey("vigil-2025");
  const newKey = await makeKey("vigil-2026");
  await storeEvents(pipeline.database.db, events(tenant.id, 1));
  const before = await (await checkpointerWith([oldKey.signer])).signTenant(tenantScope(tenant.id));
  await storeEvents(pipeline.database.db, events(tenant.id, 1));
  const during = await (await checkpointerWith([newKey.signer, oldKey.signer])).signTenant(
    tenantScope(tenant.id),
  );
  const opened = await openCheckpoint(during.checkpoint.note, [oldKey.verifier, newKey.verifier]);
  expect(opened.note.verified.map((signature) => signature.name)).toEqual(["vigil-2026", "vigil-2025"]);
  await storeEvents(pipeline.database.db, events(tenant.id, 1));
  const after = await (await checkpointerWith([newKey.signer])).signTenant(tenantScope(tenant.id));
  // Verifiers that only know the old key still check old checkpoints; unknown signatures are ignored.
  await openCheckpoint(before.checkpoint.note, [oldKey.verifier]);
  await openCheckpoint(during.checkpoint.note, [newKey.verifier]);
  await expect(openCheckpoint(after.checkpoint.note, [oldKey.verifier])).rejects.toThrow(
    /no signature by a known key/,
  );

  const listed = await listCheckpointKeys(
    pipeline.database.db,
    (await createCheckpointSigner([newKey.signer])).keys,
  );
  const current = listed.find((key) => key.verifier_key === newKey.verifier);
  const retired = listed.find((key) => key.verifier_key === oldKey.verifier);
  expect(current).toMatchObject({ current: true, configured: true, valid_until: null });
  expect(retired).toMatchObject({ current: false, configured: false });
  expect(Date.parse(retired!.valid_until!)).toBeGreaterThanOrEqual(Date.parse(retired!.valid_from!));
});

test("rows removed by cleanup keep their leaves: verify rebuilds the tree from the rows and the tiles", async () => {
  const key = await makeKey("vigil-cleanup");
  const { tenant } = await pipeline.createTenantWithKey();
  const old = new Date(Date.now() - 10 * 86_400_000);
  await storeEvents(pipeline.database.db, [
    ...events(tenant.id, 300).map((event) => ({ ...event, occurred_at: old.toISOString() })),
    ...events(tenant.id, 20),
  ]);
  await (await checkpointerWith([key.signer])).signTenant(tenantScope(tenant.id));
  const removed = await deleteEventsBefore(
    pipeline.database.db,
    tenantScope(tenant.id),
    new Date(Date.now() - 86_400_000),
  );
  expect(removed).toBe(300);
  const [{ tiles } = { tiles: 0 }] = await pipeline.database.admin<{ tiles: number }[]>`
    select count(*)::int as tiles from tlog_tiles where tenant_id = ${tenant.id}`;
  expect(tiles).toBeGreaterThan(0);
  const report = await verifyTenantLog(pipeline.database.db, tenantScope(tenant.id), {
    checkpointKeys: [key.verifier],
    origin: "vigil.test",
  });
  expect(report.problems).toEqual([]);
  expect(report).toMatchObject({
    ok: true,
    removed: 300,
    tree: { checkpoint_size: 320, leaves_from_tiles: 300 },
  });
  // A still-stored event remains provable in the signed tree.
  const [kept] = await pipeline.database.admin<{ id: string }[]>`
    select id from events where tenant_id = ${tenant.id} order by seq limit 1`;
  const proof = await eventInclusionProof(pipeline.database.db, tenantScope(tenant.id), kept!.id, {
    retryAfterSeconds: 1,
  });
  expect(proof.tree_size).toBe(320);
});

test("an event no checkpoint covers yet is a 409 with Retry-After", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  const [event] = events(tenant.id, 1);
  await storeEvents(pipeline.database.db, [event!]);
  const proof = eventInclusionProof(pipeline.database.db, tenantScope(tenant.id), event!.id, {
    retryAfterSeconds: 7,
  });
  await expect(proof).rejects.toMatchObject({ code: "CONFLICT", headers: { "Retry-After": "7" } });
  await expect(proof).rejects.toBeInstanceOf(VigilError);
});

test("a worker with an unusable signing key stops at start (exit 78) and never logs the key", async () => {
  const secret = "PRIVATE+KEY+vigil+00000000+AXNlY3JldHNlY3JldHNlY3JldHNlY3JldHNlY3JldA==";
  let code: number | null;
  let output = "";
  try {
    const worker = await pipeline.start("worker", { CHECKPOINT_SIGNING_KEY: secret });
    code = await worker.exited;
    output = worker.output();
  } catch (error) {
    // It may exit before its health port answers.
    output = String(error);
    code = Number(/code (\d+)/.exec(output)?.[1]);
  }
  expect(code).toBe(78);
  expect(output).toContain("checkpoint signing key unusable");
  expect(output).not.toContain("AXNlY3J");
});

test("signing keys come from configuration or a file, and a bad key is refused without echoing it", async () => {
  const key = await makeKey("vigil-config");
  expect(checkpointKeyTexts({ CHECKPOINT_SIGNING_KEY: `${key.signer}, ${key.signer}` })).toHaveLength(2);
  const signer = await createCheckpointSigner([key.signer, key.signer]);
  expect(signer.keys.map((info) => info.verifier_key)).toEqual([key.verifier]);
  const secret = "PRIVATE+KEY+vigil+00000000+AXNlY3JldHNlY3JldHNlY3JldHNlY3JldHNlY3JldA==";
  const refused = createCheckpointSigner([secret]);
  await expect(refused).rejects.toBeInstanceOf(CheckpointKeyError);
  await expect(refused).rejects.not.toThrow(/AXNlY3J/);
  expect(() => checkpointKeyTexts({ CHECKPOINT_SIGNING_KEY_FILE: "/nonexistent/key" })).toThrow(/ENOENT/);
});
