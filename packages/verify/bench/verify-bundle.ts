// Offline verification throughput: writes a bundle of N realistic events (default 1,000,000) to a
// temporary file, then verifies it with verifyBundle streaming from disk, with node:crypto's SHA-256
// and with the portable pure one, sampling memory during the run to show it stays flat.
//   npx tsx packages/verify/bench/verify-bundle.ts [events] [--pure-events=N] [--cli]
// --cli verifies with the built CLI instead (`pnpm --filter @vigil/verify build` first), as a user
// runs it, reporting its peak RSS from /usr/bin/time.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import {
  appendLeaves,
  computeEventHash,
  eventLeafHash,
  type Hash,
  MemoryTileStore,
  proveRange,
  setSha256,
  signCheckpoint,
  treeHash,
  verifierKeyOf,
  verifyBundle,
  writeBundle,
} from "../src/index.ts";

const events = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 1_000_000);
const pureEvents = Number(
  process.argv.find((arg) => arg.startsWith("--pure-events="))?.split("=")[1] ?? 100_000,
);
const TENANT = "9b2c9c0e-4c1e-4e53-9d43-0f1bd1fdf9b1";
const PADDING = 7; // leaves before the range
const EXTRA = 5; // leaves after it
const nodeSha256 = (data: Uint8Array) => createHash("sha256").update(data).digest();

/** A realistic event for a seq, the same every time it is asked for (so two passes agree). */
function eventLine(seq: number): string {
  const digest = createHash("sha256").update(`event ${seq}`).digest();
  const hex = digest.toString("hex");
  const event: Record<string, unknown> = {
    id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`,
    tenant_id: TENANT,
    seq,
    occurred_at: new Date(Date.UTC(2026, 0, 1) + seq * 37).toISOString(),
    received_at: new Date(Date.UTC(2026, 0, 1) + seq * 37 + 12).toISOString(),
    action_type: "UPDATE",
    action: "invoice.approve",
    resource_type: "invoice",
    resource_id: `inv-${seq % 100_000}`,
    user_id: `user-${seq % 977}`,
    session_id: `sess-${hex.slice(32, 48)}`,
    ip_address: "192.0.2.17",
    user_agent:
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    severity: "INFO",
    outcome: "success",
    before_state: { status: "pending", amount: 1234.5, currency: "EUR" },
    after_state: { status: "approved", amount: 1234.5, currency: "EUR", approver: `user-${seq % 977}` },
    metadata: { request_id: `req-${hex.slice(48, 64)}`, batch: Math.floor(seq / 1000) },
    redacted: [],
    salt: digest.subarray(0, 16).toString("base64url"),
    hash_version: 2,
  };
  event.hash = computeEventHash(event);
  return `${JSON.stringify(event)}\n`;
}

function memoryMb(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}

async function main() {
  setSha256(nodeSha256);
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-verify-bench-"));
  const file = path.join(dir, "bundle.tar");
  try {
    const treeSize = PADDING + events + EXTRA;
    const store = new MemoryTileStore();
    let eventsBytes = 0;
    let started = performance.now();
    let batch: Hash[] = [];
    let size = 0;
    for (let seq = 1; seq <= treeSize; seq++) {
      const line = eventLine(seq);
      const { id, hash } = JSON.parse(line);
      if (seq > PADDING && seq <= PADDING + events) eventsBytes += Buffer.byteLength(line);
      batch.push(eventLeafHash(seq, id, hash));
      if (batch.length === 10_000 || seq === treeSize) {
        store.write(await appendLeaves(size, batch, store));
        size += batch.length;
        batch = [];
      }
    }
    const signer = { name: "vigil-bench", privateKeySeed: new Uint8Array(randomBytes(32)) };
    const rootHash = await treeHash(treeSize, store);
    const note = await signCheckpoint({ origin: `vigil.bench/${TENANT}`, size: treeSize, rootHash }, signer);
    const proof = await proveRange(PADDING, PADDING + events, treeSize, store);
    const buildSeconds = (performance.now() - started) / 1000;

    started = performance.now();
    const out = createWriteStream(file);
    async function* lines() {
      let chunk = "";
      for (let seq = PADDING + 1; seq <= PADDING + events; seq++) {
        chunk += eventLine(seq);
        if (chunk.length > 1 << 20) {
          yield Buffer.from(chunk);
          chunk = "";
        }
      }
      if (chunk) yield Buffer.from(chunk);
    }
    for await (const chunk of writeBundle({ checkpoint: note, proof }, eventsBytes, lines())) {
      if (!out.write(chunk)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    const writeSeconds = (performance.now() - started) / 1000;
    const bundleBytes = statSync(file).size;

    const key = await verifierKeyOf(signer);
    if (process.argv.includes("--cli")) {
      const cli = path.resolve(import.meta.dirname, "../dist/cli.js");
      const start = performance.now();
      const run = spawnSync("/usr/bin/time", ["-v", process.execPath, cli, file, "--key", key, "-q"], {
        encoding: "utf8",
      });
      const seconds = (performance.now() - start) / 1000;
      const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1]);
      const cpu = /User time \(seconds\): ([\d.]+)[\s\S]*System time \(seconds\): ([\d.]+)/.exec(run.stderr);
      const cpuSeconds = Number(cpu?.[1]) + Number(cpu?.[2]);
      console.log(
        JSON.stringify({
          events,
          bundle_mb: +(bundleBytes / 1048576).toFixed(1),
          write_bundle_s: +writeSeconds.toFixed(1),
          cli_exit: run.status,
          cli_output: run.stdout.split("\n")[0],
          cli_seconds: +seconds.toFixed(1),
          cli_leaves_per_s: Math.round(events / seconds),
          cli_cpu_seconds: +cpuSeconds.toFixed(1),
          cli_leaves_per_cpu_s: Math.round(events / cpuSeconds),
          cli_peak_rss_mb: Math.round(rssKb / 1024),
          load_average_1m: +loadavg()[0]!.toFixed(1),
        }),
      );
      return;
    }
    const measure = async (label: string, limit: number) => {
      const samples: number[] = [];
      const cpuBefore = process.cpuUsage();
      const start = performance.now();
      let verified = 0;
      const report = await verifyBundle(createReadStream(file, { highWaterMark: 1 << 20 }), {
        verifierKeys: [key],
        progressEvery: Math.max(1, Math.floor(limit / 10)),
        onProgress: (p) => {
          verified = p.events;
          samples.push(memoryMb());
        },
      });
      const seconds = (performance.now() - start) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      return { label, report, seconds, cpuSeconds, verified, samples };
    };

    const withNode = await measure("node:crypto SHA-256", events);
    console.log(
      JSON.stringify(
        {
          events,
          tree_size: treeSize,
          bundle_mb: +(bundleBytes / 1048576).toFixed(1),
          proof_hashes: proof.left.length + proof.right.length,
          build_tree_s: +buildSeconds.toFixed(1),
          write_bundle_s: +writeSeconds.toFixed(1),
          verify: {
            sha256: withNode.label,
            ok: withNode.report.ok,
            seconds: +withNode.seconds.toFixed(1),
            leaves_per_s: Math.round(events / withNode.seconds),
            cpu_seconds: +withNode.cpuSeconds.toFixed(1),
            leaves_per_cpu_s: Math.round(events / withNode.cpuSeconds),
            mb_per_s: +(bundleBytes / 1048576 / withNode.seconds).toFixed(1),
            rss_mb_every_10_percent: withNode.samples,
            load_average_1m: +loadavg()[0]!.toFixed(1),
          },
        },
        null,
        2,
      ),
    );
    if (!withNode.report.ok) throw new Error(withNode.report.problems.join("\n"));

    // The portable SHA-256 (browsers, Deno, Bun without a native hook), on a prefix of the bundle.
    if (pureEvents > 0) {
      setSha256();
      const start = performance.now();
      let done = 0;
      const controller = { stop: false };
      await verifyBundle(createReadStream(file, { highWaterMark: 1 << 20 }), {
        verifierKeys: [key],
        progressEvery: pureEvents,
        onProgress: (p) => {
          if (!controller.stop) {
            done = p.events;
            controller.stop = true;
            const seconds = (performance.now() - start) / 1000;
            console.log(
              JSON.stringify({
                sha256: "pure TypeScript",
                events: done,
                seconds: +seconds.toFixed(1),
                leaves_per_s: Math.round(done / seconds),
              }),
            );
            throw new Error("stop"); // verifyBundle reports it as a problem and returns
          }
        },
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
