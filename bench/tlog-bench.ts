// Provable-history benchmark (spec §13), on its own embedded PostgreSQL:
//  1. the worker's extra CPU for the Merkle tree: N events stored through the worker's verb
//     (storeEvents, batches of --batch), then the tree work alone (leaf hashes, partial-tile reads,
//     tile upserts: appendTenantLeaves) replayed for the same leaves in the same batches; CPU per
//     1,000 events of this process and of PostgreSQL, and wall time;
//  2. an export bundle of all N events: export time, bundle size and this process's peak RSS, then
//     `vigil-verify` (packages/verify/src/cli.ts, its own process) on the file: verify time and peak
//     RSS — constant memory means neither grows with N.
//
//   pnpm tsx bench/tlog-bench.ts --events=100000 [--batch=500]
//   pnpm tsx bench/tlog-bench.ts --events=1000000
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { createLogger } from "@vigil/shared/logging/logger";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { appendTenantLeaves } from "@vigil/shared/tlog/append-leaves";
import { createCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { ensureDevCheckpointKey } from "@vigil/shared/tlog/dev-checkpoint-key";
import { exportBundle } from "@vigil/shared/tlog/export-bundle";
import { startBenchStack } from "./bench-stack.ts";
import { processTreeCpuSeconds } from "./measure.ts";

const { values } = parseArgs({
  options: { events: { type: "string", default: "100000" }, batch: { type: "string", default: "500" } },
});
const EVENTS = Number(values.events);
const BATCH = Number(values.batch);
const log = (line: string) => process.stdout.write(`${line}\n`);

function event(tenantId: string, index: number): NormalizedEvent {
  return {
    id: randomUUID(),
    tenant_id: tenantId,
    occurred_at: new Date(Date.now() - 3_600_000 + (index % 3_000_000)).toISOString(),
    received_at: new Date().toISOString(),
    action_type: (["CREATE", "UPDATE", "DELETE", "VIEW"] as const)[index % 4]!,
    action: "invoice.update",
    resource_type: "invoice",
    resource_id: `res-${index % 997}`,
    user_id: `user-${index % 53}`,
    session_id: `sess-${index % 211}`,
    ip_address: `10.0.${index % 250}.${index % 7}`,
    user_agent: "Mozilla/5.0 (X11; Linux x86_64) VigilBench/1.0",
    severity: "INFO",
    outcome: "success",
    before_state: { status: "draft", amount: index % 1000 },
    after_state: { status: "approved", amount: (index % 1000) + 1, approver: { id: `user-${index % 7}` } },
    metadata: { request: { path: "/invoices/approve", method: "POST" }, region: "eu-west-1", index },
    redacted: [],
    payload_hash: randomBytes(32).toString("hex"),
    salt: randomBytes(16).toString("base64url"),
  };
}

const cpuSelf = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

async function main() {
  const stack = await startBenchStack(log);
  const scratch = mkdtempSync(path.join(tmpdir(), "vigil-tlog-bench-"));
  try {
    const { pipeline } = stack;
    const db = pipeline.database.db;
    const pgCpu = () => (stack.pgPid ? processTreeCpuSeconds(stack.pgPid) : Number.NaN);
    const { tenant } = await pipeline.createTenantWithKey();
    const { tenant: treeOnly } = await pipeline.createTenantWithKey();

    // 1. Storing through the worker's verb (tree included).
    let cpu0 = cpuSelf();
    let pg0 = pgCpu();
    let t0 = performance.now();
    for (let start = 0; start < EVENTS; start += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, EVENTS - start) }, (_, offset) =>
        event(tenant.id, start + offset),
      );
      await storeEvents(db, batch);
      if ((start / BATCH) % 200 === 0) log(`stored ${start + batch.length}/${EVENTS}`);
    }
    const store = { cpu: cpuSelf() - cpu0, pg: pgCpu() - pg0, wall: (performance.now() - t0) / 1000 };

    // The tree work alone, replayed for the same leaves into a scratch tenant, batch by batch.
    await pipeline.database
      .admin`insert into tenant_sequences (tenant_id) values (${treeOnly.id}) on conflict do nothing`;
    let size = 0;
    let treeCpu = 0;
    let treePg = 0;
    let treeWall = 0;
    for (let start = 0; start < EVENTS; start += BATCH) {
      const leaves = await pipeline.database.admin<{ seq: number; id: string; hash: string }[]>`
        select seq, id, hash from events where tenant_id = ${tenant.id} and seq > ${start} and seq <= ${start + BATCH} order by seq`;
      cpu0 = cpuSelf();
      pg0 = pgCpu();
      t0 = performance.now();
      size = await db.withTenant(treeOnly.id, (tx) => appendTenantLeaves(tx, treeOnly.id, size, leaves));
      treeCpu += cpuSelf() - cpu0;
      treePg += pgCpu() - pg0;
      treeWall += (performance.now() - t0) / 1000;
    }
    const per1000 = (seconds: number) => ((seconds * 1000) / EVENTS) * 1000;
    log(`\n== worker CPU for the Merkle tree (${EVENTS} events, batches of ${BATCH})`);
    log(
      `storeEvents total: node ${per1000(store.cpu).toFixed(1)} CPU ms / 1,000 events, PostgreSQL ${per1000(store.pg).toFixed(1)}, wall ${per1000(store.wall).toFixed(1)} ms / 1,000 (${Math.round(EVENTS / store.wall)} events/s)`,
    );
    log(
      `tree alone:        node ${per1000(treeCpu).toFixed(1)} CPU ms / 1,000 events, PostgreSQL ${per1000(treePg).toFixed(1)}, wall ${per1000(treeWall).toFixed(1)} ms / 1,000 (${((treeCpu / store.cpu) * 100).toFixed(1)}% of the worker's node CPU)`,
    );

    // 2. A bundle of everything.
    const key = await ensureDevCheckpointKey(scratch, "vigil-bench");
    const checkpointer = new Checkpointer(db, {
      origin: "vigil.bench",
      signer: await createCheckpointSigner([readFileSync(key.file, "utf8").trim()]),
      anchors: [],
      logger: createLogger("bench", "silent"),
    });
    const { checkpoint } = await checkpointer.signTenant(tenantScope(tenant.id));
    const file = path.join(scratch, "bundle.tar");
    const out = createWriteStream(file);
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    t0 = performance.now();
    for await (const chunk of exportBundle(
      db,
      tenantScope(tenant.id),
      { format: "bundle", from_seq: 1, to_seq: checkpoint.tree_size },
      { retryAfterSeconds: 1 },
    )) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    await new Promise<void>((resolve) => out.end(() => resolve()));
    const exportSeconds = (performance.now() - t0) / 1000;
    const bytes = statSync(file).size;
    log(`\n== bundle of ${checkpoint.tree_size} events`);
    log(
      `export: ${exportSeconds.toFixed(1)} s, ${(bytes / 1e6).toFixed(1)} MB (${Math.round(bytes / checkpoint.tree_size)} bytes/event), exporter RSS ${(rssBefore / 1e6).toFixed(0)} MB before, ${(peakRss / 1e6).toFixed(0)} MB at its peak`,
    );
    t0 = performance.now();
    const verified = spawnSync(
      "/usr/bin/time",
      [
        "-f",
        "maxrss_kb=%M",
        process.execPath,
        "--import",
        "tsx",
        path.resolve("packages/verify/src/cli.ts"),
        file,
        "--key",
        key.verifierKey,
        "--quiet",
      ],
      { encoding: "utf8" },
    );
    const verifySeconds = (performance.now() - t0) / 1000;
    const maxRss = Number(/maxrss_kb=(\d+)/.exec(verified.stderr)?.[1] ?? Number.NaN) / 1000;
    log(
      `verify (vigil-verify, own process): exit ${verified.status}, ${verifySeconds.toFixed(1)} s, peak RSS ${maxRss.toFixed(0)} MB; ${verified.stdout.trim().split("\n").at(-1)}`,
    );
    if (verified.status !== 0) log(verified.stderr);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await stack.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
