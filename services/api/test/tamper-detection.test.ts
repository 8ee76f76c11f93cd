// Tampering as the database owner (superuser), one tenant per scenario, and which of the three
// checks sees it:
//
// | tampering                                          | vigil verify | vigil monitor | bundle verifier    |
// | -------------------------------------------------- | ------------ | ------------- | ------------------ |
// | change one stored field                            | yes (hash)   | no            | yes (hash)         |
// | delete a row without a removal record              | yes (gap)    | no            | yes (export refuses, a bundle missing it fails) |
// | swap two rows                                      | yes          | no            | yes                |
// | rewrite chain + tree, re-sign with another key     | yes (sig.)   | yes (sig.)    | yes (sig.)         |
// | rewrite chain + tree, re-sign with the real key    | no           | yes (fork)    | only an earlier bundle, which still verifies against the earlier checkpoint |
// | drop the newest history and checkpoints (rollback) | yes (head)   | yes           | no                 |
//
// verify trusts the database for everything but the signing keys (configuration); the monitor
// trusts only the last checkpoint it saw; the bundle verifier only the key it is given.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeChainHash, computeEventHash } from "@vigil/shared/events/event-hash";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { createLogger } from "@vigil/shared/logging/logger";
import { type EventRow, toStoredEvent } from "@vigil/shared/query/event-rows";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { backfillTree } from "@vigil/shared/tlog/backfill-tree";
import { createCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { exportBundle } from "@vigil/shared/tlog/export-bundle";
import { monitorCheckpoints } from "@vigil/shared/tlog/monitor";
import { createTestPipeline, queuedEvent, type RunningService, type TestPipeline } from "@vigil/testkit";
import { signerKey, verifierKeyOf, verifyBundle } from "@vigil/verify";
import { afterAll, beforeAll, expect, test } from "vitest";

const ORIGIN = "vigil.test/tamper";
let pipeline: TestPipeline;
let api: RunningService;
let realKey: { signer: string; verifier: string };
let attackerKey: { signer: string; verifier: string };
let stateDir: string;

async function makeKey(name: string) {
  const signer = { name, privateKeySeed: new Uint8Array(randomBytes(32)) };
  return { signer: await signerKey(signer), verifier: await verifierKeyOf(signer) };
}

async function checkpointer(keyText: string) {
  return new Checkpointer(pipeline.database.db, {
    origin: ORIGIN,
    signer: await createCheckpointSigner([keyText]),
    anchors: [],
    logger: createLogger("test", "silent"),
  });
}

function events(tenantId: string, count: number): NormalizedEvent[] {
  const at = Date.now() - 60_000;
  return Array.from({ length: count }, (_, index) =>
    queuedEvent(tenantId, {
      id: randomUUID(),
      occurred_at: new Date(at + index).toISOString(),
      resource_id: `doc-${index}`,
      user_id: `user-${index % 5}`,
      payload_hash: randomBytes(32).toString("hex"),
    }),
  );
}

/** A tenant with `count` events, a signed checkpoint of them, and a monitor that has seen it. */
async function setUp(count = 40) {
  const { tenant, key } = await pipeline.createTenantWithKey(["read"]);
  await storeEvents(pipeline.database.db, events(tenant.id, count));
  await (await checkpointer(realKey.signer)).signTenant(tenantScope(tenant.id));
  const stateFile = path.join(stateDir, `${tenant.id}.json`);
  const monitor = () =>
    monitorCheckpoints({
      baseUrl: api.url,
      tenantId: tenant.id,
      credential: key,
      stateFile,
      verifierKeys: [realKey.verifier],
    });
  expect((await monitor()).verdict).toBe("first");
  const heldBundle = await bundleBytes(tenant.id, 1, count);
  return { tenantId: tenant.id, monitor, heldBundle };
}

async function bundleBytes(tenantId: string, from: number, to: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of exportBundle(
    pipeline.database.db,
    tenantScope(tenantId),
    { format: "bundle", from_seq: from, to_seq: to },
    { retryAfterSeconds: 1 },
  )) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function* bytesOf(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield new Uint8Array(bytes);
}

const verifyBytes = (bytes: Buffer) => verifyBundle(bytesOf(bytes), { verifierKeys: [realKey.verifier] });

async function verifyProblems(tenantId: string) {
  const report = await verifyTenantLog(pipeline.database.db, tenantScope(tenantId), {
    checkpointKeys: [realKey.verifier],
    origin: ORIGIN,
  });
  return [...new Set(report.problems.map((problem) => problem.problem))].sort();
}

/**
 * What an owner who wants a different history does: edit an event, recompute its hash and every
 * later chain link, rebuild the tree from the rows and replace the checkpoints with one signed by
 * `keyText`.
 */
async function rewriteHistory(tenantId: string, seq: number, keyText: string) {
  const admin = pipeline.database.admin;
  await admin`update events set resource_id = 'rewritten' where tenant_id = ${tenantId} and seq = ${seq}`;
  const rows = await admin<(EventRow & { salt: string | null; chain_hash: string })[]>`
    select * from events where tenant_id = ${tenantId} order by seq`;
  let chain = seq === 1 ? "0".repeat(64) : rows[seq - 2]!.chain_hash;
  for (const row of rows.slice(seq - 1)) {
    const { hash: _old, ...fields } = toStoredEvent(row);
    const hash = computeEventHash({ ...fields, salt: row.salt });
    chain = computeChainHash(chain, hash);
    await admin`update events set hash = ${hash}, chain_hash = ${chain} where tenant_id = ${tenantId} and seq = ${row.seq}`;
  }
  await admin`update tenant_sequences set last_chain_hash = ${chain}, tree_size = 0 where tenant_id = ${tenantId}`;
  await admin`delete from tlog_tiles where tenant_id = ${tenantId}`;
  await admin`delete from tlog_checkpoints where tenant_id = ${tenantId}`;
  await backfillTree(pipeline.database.db, tenantScope(tenantId));
  await (await checkpointer(keyText)).signTenant(tenantScope(tenantId));
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  realKey = await makeKey("vigil-real");
  attackerKey = await makeKey("vigil-real"); // same name, different key
  stateDir = mkdtempSync(path.join(tmpdir(), "vigil-monitor-"));
  api = await pipeline.start("api", { CHECKPOINT_SIGNING_KEY: realKey.signer, VIGIL_LOG_ORIGIN: ORIGIN });
}, 60_000);

afterAll(() => pipeline?.close());

test("an untouched log passes all three checks", async () => {
  const { tenantId, monitor, heldBundle } = await setUp();
  expect(await verifyProblems(tenantId)).toEqual([]);
  await storeEvents(pipeline.database.db, events(tenantId, 5));
  await (await checkpointer(realKey.signer)).signTenant(tenantScope(tenantId));
  expect(await monitor()).toMatchObject({ ok: true, verdict: "extended" });
  expect(await monitor()).toMatchObject({ ok: true, verdict: "unchanged" });
  expect((await verifyBytes(heldBundle)).ok).toBe(true);
});

test("a changed field: verify and the bundle verifier see it, the monitor cannot", async () => {
  const { tenantId, monitor } = await setUp();
  await pipeline.database
    .admin`update events set resource_id = 'forged' where tenant_id = ${tenantId} and seq = 5`;
  expect(await verifyProblems(tenantId)).toEqual(["hash_mismatch"]);
  expect((await monitor()).ok).toBe(true);
  const report = await verifyBytes(await bundleBytes(tenantId, 1, 40));
  expect(report.ok).toBe(false);
  expect(report.problems.join("\n")).toMatch(/seq 5 .*tampered/);
});

test("a row deleted without a removal record: verify sees the gap, the export refuses, the monitor cannot", async () => {
  const { tenantId, monitor, heldBundle } = await setUp();
  await pipeline.database.admin`delete from events where tenant_id = ${tenantId} and seq = 7`;
  expect(await verifyProblems(tenantId)).toEqual(["seq_gap"]);
  expect((await monitor()).ok).toBe(true);
  await expect(bundleBytes(tenantId, 1, 40)).rejects.toThrow(/removed/);
  // A bundle with the row's line cut out (what a forger would hand over) fails offline.
  const forged = await forgeWithoutLine(heldBundle, 7);
  const report = await verifyBytes(forged);
  expect(report.ok).toBe(false);
});

test("two rows swapped: verify and the bundle verifier see it, the monitor cannot", async () => {
  const { tenantId, monitor } = await setUp();
  await pipeline.database.admin`
    update events set seq = case seq when 3 then 4 else 3 end where tenant_id = ${tenantId} and seq in (3, 4)`;
  expect(await verifyProblems(tenantId)).toEqual(["chain_mismatch", "hash_mismatch", "tree_mismatch"]);
  expect((await monitor()).ok).toBe(true);
  const report = await verifyBytes(await bundleBytes(tenantId, 1, 40));
  expect(report.ok).toBe(false);
});

test("history rewritten consistently and re-signed with another key: all three see the signature is not Vigil's", async () => {
  const { tenantId, monitor } = await setUp();
  await rewriteHistory(tenantId, 2, attackerKey.signer);
  // Hashes, chain and tree agree with each other; only the signature gives it away.
  expect(await verifyProblems(tenantId)).toEqual(["checkpoint_invalid"]);
  expect(await monitor()).toMatchObject({ ok: false, verdict: "bad_signature" });
  const report = await verifyBytes(await bundleBytes(tenantId, 1, 40));
  expect(report.ok).toBe(false);
  expect(report.problems.join("\n")).toMatch(/no signature by a known key/);
});

test("history rewritten and re-signed with the real key: only the monitor catches the fork", async () => {
  const { tenantId, monitor, heldBundle } = await setUp();
  await rewriteHistory(tenantId, 2, realKey.signer);
  expect(await verifyProblems(tenantId)).toEqual([]);
  const fork = await monitor();
  expect(fork).toMatchObject({ ok: false, verdict: "fork" });
  expect(fork.message).toMatch(/FORK: two different roots signed for size 40/);
  // The fork grows on: the consistency proof from the root the monitor kept fails.
  await storeEvents(pipeline.database.db, events(tenantId, 3));
  await (await checkpointer(realKey.signer)).signTenant(tenantScope(tenantId));
  const grown = await monitor();
  expect(grown).toMatchObject({ ok: false, verdict: "fork" });
  expect(grown.message).toMatch(/not an extension of the one seen at size 40/);
  // A fresh bundle of the rewritten log verifies; the one held from before still verifies too,
  // against a different root for the same size: two signed, conflicting statements.
  expect((await verifyBytes(await bundleBytes(tenantId, 1, 40))).ok).toBe(true);
  const held = await verifyBytes(heldBundle);
  expect(held.ok).toBe(true);
});

test("newest history and checkpoints dropped: verify and the monitor see the rollback", async () => {
  const { tenantId, monitor } = await setUp(30);
  await storeEvents(pipeline.database.db, events(tenantId, 10));
  await (await checkpointer(realKey.signer)).signTenant(tenantScope(tenantId));
  expect((await monitor()).verdict).toBe("extended");
  const admin = pipeline.database.admin;
  await admin`delete from events where tenant_id = ${tenantId} and seq > 30`;
  await admin`delete from tlog_checkpoints where tenant_id = ${tenantId} and tree_size > 30`;
  const rolledBack = await monitor();
  expect(rolledBack).toMatchObject({ ok: false, verdict: "rollback" });
  expect(rolledBack.message).toMatch(/ROLLBACK/);
  expect(await verifyProblems(tenantId)).toContain("head_mismatch");
});

/** The held bundle rebuilt with one event line removed (tar sizes fixed up), as a forger would. */
async function forgeWithoutLine(bundle: Buffer, seq: number): Promise<Buffer> {
  const { readTar, tarEntry, tarEnd } = await import("@vigil/verify");
  const parts: Uint8Array[] = [];
  for await (const entry of readTar(bytesOf(bundle))) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of entry.body) chunks.push(chunk);
    let text = Buffer.concat(chunks).toString("utf8");
    if (entry.name === "events.ndjson") {
      text = text
        .split("\n")
        .filter((line) => !line.includes(`"seq":${seq},`))
        .join("\n");
    }
    parts.push(tarEntry(entry.name, text));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}
