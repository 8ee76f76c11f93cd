// The worker appends every stored batch to the tenant's Merkle tree in the same transaction, against
// the real PostgreSQL: under competing writers the tree always equals the table (size = last_seq,
// root = the root of the events' leaves in seq order), stored tiles only grow, and history stored
// before the tree existed is backfilled in seq order.

import { storeEvents } from "@vigil/shared/ingest/store-events";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { BackfillGapError, backfillTree } from "@vigil/shared/tlog/backfill-tree";
import { tileReader } from "@vigil/shared/tlog/tile-store";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { appendLeaves, eventLeafHash, MemoryTileStore, treeHash } from "@vigil/verify";
import { afterAll, beforeAll, expect, test } from "vitest";
import { sampleEvent } from "../query/seed-events.ts";

let pipeline: TestPipeline;

beforeAll(async () => {
  pipeline = await createTestPipeline();
});
afterAll(() => pipeline?.close());

/** The root computed independently: every stored leaf appended one at a time in memory. */
async function referenceRoot(tenantId: string, size: number) {
  const rows = await pipeline.database.admin<{ seq: number; id: string; hash: string }[]>`
    select seq, id, hash from events where tenant_id = ${tenantId} and seq <= ${size} order by seq`;
  const store = new MemoryTileStore();
  for (const [index, row] of rows.entries()) {
    expect(row.seq).toBe(index + 1);
    store.write(await appendLeaves(index, [eventLeafHash(row.seq, row.id, row.hash)], store));
  }
  return treeHash(size, store);
}

async function storedRoot(tenantId: string, size: number) {
  return pipeline.database.db.withTenant(tenantId, (tx) => treeHash(size, tileReader(tx, tenantId)));
}

async function sequenceRow(tenantId: string) {
  const [row] = await pipeline.database.admin<{ last_seq: number; tree_size: number }[]>`
    select last_seq, tree_size from tenant_sequences where tenant_id = ${tenantId}`;
  return row!;
}

test("competing writers: the tree always has exactly the stored events, in seq order", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  const now = Date.now();
  let next = 0;
  const batch = (size: number) =>
    Array.from({ length: size }, () => sampleEvent(tenant.id, next++, new Date(now - 1000 * next)));
  // Four writers at once, batches of uneven sizes (some crossing tile boundaries of 256).
  for (const sizes of [
    [1, 3, 300, 7],
    [255, 1, 256, 2],
    [600, 1, 1, 40],
  ]) {
    await Promise.all(sizes.map((size) => storeEvents(pipeline.database.db, batch(size))));
    const { last_seq, tree_size } = await sequenceRow(tenant.id);
    expect(tree_size).toBe(last_seq);
    expect(Buffer.from(await storedRoot(tenant.id, tree_size))).toEqual(
      Buffer.from(await referenceRoot(tenant.id, tree_size)),
    );
  }
  expect((await sequenceRow(tenant.id)).tree_size).toBe(next);
  // Every earlier size is still rebuildable from the grown rows.
  for (const size of [1, 4, 255, 256, 257, 511, 512, 1000]) {
    expect(Buffer.from(await storedRoot(tenant.id, size))).toEqual(
      Buffer.from(await referenceRoot(tenant.id, size)),
    );
  }
  // A redelivered batch changes nothing.
  const before = await sequenceRow(tenant.id);
  await storeEvents(pipeline.database.db, [sampleEvent(tenant.id, 5, new Date(now))]);
  expect(await sequenceRow(tenant.id)).toEqual(before);
});

test("stored tiles only grow: the service role cannot rewrite a stored hash", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: 10 }, (_, index) => sampleEvent(tenant.id, index, new Date())),
  );
  const rewrite = pipeline.database.db.withTenant(
    tenant.id,
    (tx) =>
      tx`update tlog_tiles set hashes = ${Buffer.alloc(320)} where tenant_id = ${tenant.id} and level = 0`,
  );
  await expect(rewrite).rejects.toThrow(/only grow/);
  const removal = pipeline.database.db.withTenant(
    tenant.id,
    (tx) => tx`delete from tlog_tiles where tenant_id = ${tenant.id}`,
  );
  await expect(removal).rejects.toThrow(/permission denied/);
});

test("history stored before the tree existed is backfilled in seq order, then the worker takes over", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  const events = Array.from({ length: 700 }, (_, index) => sampleEvent(tenant.id, index, new Date()));
  await storeEvents(pipeline.database.db, events.slice(0, 600));
  // As after the migration: the tree knows nothing of the existing rows.
  await pipeline.database.admin`delete from tlog_tiles where tenant_id = ${tenant.id}`;
  await pipeline.database.admin`update tenant_sequences set tree_size = 0 where tenant_id = ${tenant.id}`;
  // While behind, the worker stores without touching the tree.
  await storeEvents(pipeline.database.db, events.slice(600, 650));
  expect((await sequenceRow(tenant.id)).tree_size).toBe(0);

  const progress: number[] = [];
  const done = await backfillTree(
    pipeline.database.db,
    tenantScope(tenant.id),
    (p) => progress.push(p.tree_size),
    256,
  );
  expect(progress).toEqual([256, 512, 650]);
  expect(done.tree_size).toBe(650);
  await storeEvents(pipeline.database.db, events.slice(650));
  const { tree_size, last_seq } = await sequenceRow(tenant.id);
  expect([tree_size, last_seq]).toEqual([700, 700]);
  expect(Buffer.from(await storedRoot(tenant.id, 700))).toEqual(
    Buffer.from(await referenceRoot(tenant.id, 700)),
  );
});

test("a backfill stops with a clear error at a seq removed before the tree existed", async () => {
  const { tenant } = await pipeline.createTenantWithKey();
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: 20 }, (_, index) => sampleEvent(tenant.id, index, new Date())),
  );
  await pipeline.database.admin`delete from tlog_tiles where tenant_id = ${tenant.id}`;
  await pipeline.database.admin`update tenant_sequences set tree_size = 0 where tenant_id = ${tenant.id}`;
  await pipeline.database.admin`delete from events where tenant_id = ${tenant.id} and seq = 12`;
  const failure = backfillTree(pipeline.database.db, tenantScope(tenant.id), () => {}, 5);
  await expect(failure).rejects.toBeInstanceOf(BackfillGapError);
  await expect(failure).rejects.toThrow(/seq 12 was removed/);
  expect((await sequenceRow(tenant.id)).tree_size).toBe(10);
});
