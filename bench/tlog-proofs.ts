// Issue 12's acceptance run at full size, on its own embedded PostgreSQL: --events (default 100,000)
// stored through the worker's verb by --writers competing writers in batches of --batch, with a
// checkpoint signed every --checkpoint-every events. Then every event's inclusion proof is checked
// against every later checkpoint (each opened with the verifier key first), and a consistency proof
// between every pair of successive checkpoints — with @vigil/verify, from the tiles as stored.
//
//   pnpm tsx bench/tlog-proofs.ts [--events=100000] [--writers=4] [--batch=500] [--checkpoint-every=10000]
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { createLogger } from "@vigil/shared/logging/logger";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { ensureDevCheckpointKey } from "@vigil/shared/tlog/dev-checkpoint-key";
import {
  eventLeafHash,
  openCheckpoint,
  proveConsistency,
  proveInclusion,
  verifyConsistency,
  verifyInclusion,
} from "@vigil/verify";
import { startBenchStack } from "./bench-stack.ts";
// node:crypto SHA-256 for @vigil/verify, as the service uses.
import "@vigil/shared/tlog/node-sha256";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    writers: { type: "string", default: "4" },
    batch: { type: "string", default: "500" },
    "checkpoint-every": { type: "string", default: "10000" },
  },
});
const EVENTS = Number(values.events);
const WRITERS = Number(values.writers);
const BATCH = Number(values.batch);
const EVERY = Number(values["checkpoint-every"]);
const log = (line: string) =>
  process.stdout.write(`[tlog-proofs ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function event(tenantId: string, index: number): NormalizedEvent {
  return {
    id: randomUUID(),
    tenant_id: tenantId,
    occurred_at: new Date(Date.now() - 60_000).toISOString(),
    received_at: new Date().toISOString(),
    action_type: "UPDATE",
    action: "invoice.update",
    resource_type: "invoice",
    resource_id: `res-${index % 997}`,
    user_id: `user-${index % 53}`,
    session_id: null,
    ip_address: null,
    user_agent: null,
    severity: "INFO",
    outcome: "success",
    before_state: { status: "draft" },
    after_state: { status: "approved", index },
    metadata: null,
    redacted: [],
    payload_hash: randomBytes(32).toString("hex"),
    salt: randomBytes(16).toString("base64url"),
  };
}

async function main(): Promise<boolean> {
  const stack = await startBenchStack(log);
  const scratch = mkdtempSync(path.join(tmpdir(), "vigil-tlog-proofs-"));
  try {
    const db = stack.pipeline.database.db;
    const { tenant } = await stack.pipeline.createTenantWithKey();
    const scope = tenantScope(tenant.id);
    const key = await ensureDevCheckpointKey(scratch, "vigil-proofs");
    const checkpointer = new Checkpointer(db, {
      origin: "vigil.proofs",
      signer: await createCheckpointSigner([readFileSync(key.file, "utf8").trim()]),
      anchors: [],
      logger: createLogger("bench", "silent"),
    });

    // Competing writers, each storing whole batches; a checkpoint whenever EVERY more are stored.
    const started = performance.now();
    let queued = 0;
    let stored = 0;
    let nextCheckpointAt = EVERY;
    const notes: string[] = [];
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (queued < EVENTS) {
          const count = Math.min(BATCH, EVENTS - queued);
          const first = queued;
          queued += count;
          await storeEvents(
            db,
            Array.from({ length: count }, (_, offset) => event(tenant.id, first + offset)),
          );
          stored += count;
          if (stored >= nextCheckpointAt) {
            nextCheckpointAt += EVERY;
            notes.push((await checkpointer.signTenant(scope)).checkpoint.note);
          }
        }
      }),
    );
    notes.push((await checkpointer.signTenant(scope)).checkpoint.note);
    log(
      `stored ${EVENTS} events with ${WRITERS} writers in ${((performance.now() - started) / 1000).toFixed(1)} s; ${notes.length} checkpoints`,
    );

    // Every checkpoint opened with the verifier key; sizes strictly grow (one root per size).
    const checkpoints = [];
    for (const note of [...new Set(notes)])
      checkpoints.push((await openCheckpoint(note, [key.verifierKey])).checkpoint);
    checkpoints.sort((a, b) => a.size - b.size);
    const leaves = await stack.admin<{ seq: number; id: string; hash: string }[]>`
      select seq, id, hash from events where tenant_id = ${tenant.id} order by seq`;
    if (leaves.length !== EVENTS || leaves.some((leaf, index) => leaf.seq !== index + 1))
      throw new Error("seq is not 1..N without gaps");

    // Proofs from the stored tiles, read once into memory (the tiles as PostgreSQL holds them).
    const tiles = new Map<string, Uint8Array>();
    const rows = await stack.admin<{ level: number; idx: number; hashes: Buffer }[]>`
      select level, idx, hashes from tlog_tiles where tenant_id = ${tenant.id}`;
    for (const row of rows) tiles.set(`${row.level}/${row.idx}`, new Uint8Array(row.hashes));
    const reader = {
      readTiles: async (wanted: Array<{ level: number; index: number; width: number }>) =>
        wanted.map((tile) => {
          const data = tiles.get(`${tile.level}/${tile.index}`);
          if (!data || data.length < tile.width * 32)
            throw new Error(`tile ${tile.level}/${tile.index} missing`);
          return data.subarray(0, tile.width * 32);
        }),
    };

    let proofs = 0;
    let failures = 0;
    const proofStarted = performance.now();
    for (const leaf of leaves) {
      const hash = eventLeafHash(leaf.seq, leaf.id, leaf.hash);
      for (const checkpoint of checkpoints) {
        if (checkpoint.size < leaf.seq) continue;
        const inclusion = await proveInclusion(leaf.seq - 1, checkpoint.size, reader);
        proofs++;
        if (!verifyInclusion(hash, leaf.seq - 1, checkpoint.size, inclusion, checkpoint.rootHash)) failures++;
      }
    }
    let consistency = 0;
    for (let i = 1; i < checkpoints.length; i++) {
      const [older, newer] = [checkpoints[i - 1]!, checkpoints[i]!];
      const proof = await proveConsistency(older.size, newer.size, reader);
      consistency++;
      if (!verifyConsistency(older.size, newer.size, proof, older.rootHash, newer.rootHash)) failures++;
    }
    log(
      `${proofs} inclusion proofs (every event against every later checkpoint) and ${consistency} consistency proofs (successive checkpoints) in ${((performance.now() - proofStarted) / 1000).toFixed(1)} s: ${failures} failed`,
    );
    return failures === 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await stack.stop();
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
