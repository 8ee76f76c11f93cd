// Export bundles end to end: written with writeBundle, read back by verifyBundle from arbitrarily
// split chunks; each kind of tampering a database owner could do shows up as the right problem.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  appendLeaves,
  type BundleReport,
  computeEventHash,
  eventLeafHash,
  MemoryTileStore,
  proveRange,
  type RangeProof,
  readTar,
  signCheckpoint,
  tarEntry,
  treeHash,
  verifierKeyOf,
  verifyBundle,
  writeBundle,
} from "../src/index.ts";
import { makeLog, ORIGIN, type TestEvent, testSigner } from "./fixtures.ts";

const SIZE = 300;
const signer = testSigner();
const log = await makeLog(SIZE, signer);
const key = await verifierKeyOf(signer);

function linesOf(events: Array<Record<string, unknown>>): string {
  return events.map((event) => `${JSON.stringify(event)}\n`).join("");
}

async function bundleBytes(options: {
  from: number;
  to: number;
  lines?: string;
  note?: string;
  proof?: RangeProof;
}): Promise<Uint8Array> {
  const { from, to } = options;
  const proof = options.proof ?? (await proveRange(from - 1, to, SIZE, log.store));
  const lines = Buffer.from(options.lines ?? linesOf(log.events.slice(from - 1, to)));
  const chunks: Uint8Array[] = [];
  for await (const chunk of writeBundle({ checkpoint: options.note ?? log.note, proof }, lines.length, [
    lines,
  ])) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Feeds the bytes in random-sized chunks, as a network would. */
async function* chunked(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(Math.random() * 3000);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

async function verify(bytes: Uint8Array, keys = [key]): Promise<BundleReport> {
  return verifyBundle(chunked(bytes), { verifierKeys: keys });
}

describe("bundles", () => {
  it("verifies a bundle: signature, every event hash, every leaf, the range proof", async () => {
    const progress: number[] = [];
    const report = await verifyBundle(chunked(await bundleBytes({ from: 37, to: 251 })), {
      verifierKeys: [key],
      progressEvery: 50,
      onProgress: (p) => progress.push(p.events),
    });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({
      ok: true,
      origin: ORIGIN,
      treeSize: SIZE,
      signedBy: ["vigil-test"],
      fromSeq: 37,
      toSeq: 251,
      events: 215,
      hashesRecomputed: 215,
      erasedCount: 0,
    });
    expect(progress).toEqual([50, 100, 150, 200, 215]);
  });

  it("verifies the whole log, a single event, the first and the last", async () => {
    for (const [from, to] of [
      [1, SIZE],
      [1, 1],
      [SIZE, SIZE],
      [128, 128],
      [129, 256],
    ] as const) {
      const report = await verify(await bundleBytes({ from, to }));
      expect(report.problems, `${from}..${to}`).toEqual([]);
      expect(report.events).toBe(to - from + 1);
    }
  });

  it("is a tar any tar tool reads", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "vigil-bundle-"));
    try {
      const file = path.join(dir, "bundle.tar");
      writeFileSync(file, await bundleBytes({ from: 5, to: 9 }));
      if (spawnSync("tar", ["--version"]).status === 0) {
        expect(execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n")).toEqual([
          "checkpoint",
          "proof.json",
          "events.ndjson",
        ]);
        execFileSync("tar", ["-xf", file, "-C", dir]);
        expect(readFileSync(path.join(dir, "checkpoint"), "utf8")).toBe(log.note);
        expect(readFileSync(path.join(dir, "events.ndjson"), "utf8")).toBe(linesOf(log.events.slice(4, 9)));
        // And the other way: a tar made by tar(1) from those files verifies too.
        execFileSync("tar", [
          "--format=ustar",
          "-cf",
          path.join(dir, "again.tar"),
          "-C",
          dir,
          "checkpoint",
          "proof.json",
          "events.ndjson",
        ]);
        expect((await verify(readFileSync(path.join(dir, "again.tar")))).problems).toEqual([]);
      }
      const names: string[] = [];
      for await (const entry of readTar(chunked(readFileSync(file)))) names.push(entry.name);
      expect(names).toEqual(["checkpoint", "proof.json", "events.ndjson"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports an erased event as erased, not tampered, and still proves its leaf", async () => {
    const events = log.events.slice(9, 20).map((e) => ({ ...e }));
    const target = events[3]!;
    for (const field of [
      "user_id",
      "session_id",
      "ip_address",
      "user_agent",
      "before_state",
      "after_state",
      "metadata",
    ]) {
      target[field] = null;
    }
    delete target.salt;
    target.erased = { at: "2026-12-07T10:00:00.000Z", by: "admin", fields: ["user_id", "metadata"] };
    const report = await verify(await bundleBytes({ from: 10, to: 20, lines: linesOf(events) }));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.erasedCount).toBe(1);
    expect(report.erased).toEqual([{ seq: 13, id: target.id, fields: ["user_id", "metadata"] }]);
    expect(report.hashesRecomputed).toBe(10);
  });

  it("detects each kind of tampering", async () => {
    const range = () => log.events.slice(49, 80).map((e) => ({ ...e }) as TestEvent);
    const cases: Array<[string, (events: TestEvent[]) => TestEvent[], RegExp]> = [
      [
        "a changed field",
        (e) => ((e[5]!.user_id = "mallory"), e),
        /seq 55 .*do not match its hash \(tampered\)/,
      ],
      [
        "a changed field with its hash recomputed",
        (e) => {
          e[5]!.user_id = "mallory";
          e[5]!.hash = computeEventHash(e[5]!);
          return e;
        },
        /range does not hash to the checkpoint's root/,
      ],
      ["a deleted row", (e) => (e.splice(7, 1), e), /has seq 58, 57 expected/],
      ["two swapped rows", (e) => (([e[2], e[3]] = [e[3]!, e[2]!]), e), /has seq 53, 52 expected/],
      [
        "a forged erasure of a field",
        (e) => ((e[4]!.erased = { fields: [] }), (e[4]!.hash = "0".repeat(64)), e),
        /root/,
      ],
      ["an extra row", (e) => [...e, { ...e[0]!, seq: 81 }], /more than the 31 events/],
      [
        "a row of another tenant",
        (e) => ((e[1]!.tenant_id = "00000000-0000-4000-8000-000000000000"), e),
        /belongs to tenant/,
      ],
    ];
    for (const [name, tamper, problem] of cases) {
      const report = await verify(await bundleBytes({ from: 50, to: 80, lines: linesOf(tamper(range())) }));
      expect(report.ok, name).toBe(false);
      expect(report.problems.join("\n"), name).toMatch(problem);
    }
  });

  it("rejects a rewritten history re-signed with another key, and an untrusted or missing signature", async () => {
    // The database owner rewrites an event, rebuilds the whole tree and signs with their own key.
    const events = log.events.map((e) => ({ ...e }));
    events[99]!.user_id = "mallory";
    events[99]!.hash = computeEventHash(events[99]!);
    const store = new MemoryTileStore();
    store.write(
      await appendLeaves(
        0,
        events.map((e) => eventLeafHash(e.seq, e.id, e.hash)),
        store,
      ),
    );
    const forger = testSigner("vigil-test");
    const note = await signCheckpoint(
      { origin: ORIGIN, size: SIZE, rootHash: await treeHash(SIZE, store) },
      forger,
    );
    const forged = await bundleBytes({
      from: 90,
      to: 110,
      lines: linesOf(events.slice(89, 110)),
      note,
      proof: await proveRange(89, 110, SIZE, store),
    });
    expect((await verify(forged)).problems.join()).toMatch(/no signature by a known key/);
    expect((await verify(forged, [await verifierKeyOf(forger)])).ok).toBe(true); // only the real key tells
    expect(
      (await verify(await bundleBytes({ from: 1, to: 5 }), [await verifierKeyOf(testSigner())])).ok,
    ).toBe(false);
  });

  it("reports malformed archives without throwing", async () => {
    const good = await bundleBytes({ from: 1, to: 10 });
    const proofJson = tarEntry("proof.json", "{}");
    const problems = async (bytes: Uint8Array) => (await verify(bytes)).problems.join("\n");
    expect(await problems(good.subarray(0, good.length - 1500))).toMatch(/truncated|end marker|missing/);
    expect(await problems(new Uint8Array(2048).fill(7))).toMatch(/checksum|malformed tar header/);
    expect(await problems(new Uint8Array(0))).toMatch(/end marker/);
    expect(
      await problems(Buffer.concat([tarEntry("checkpoint", log.note), proofJson, new Uint8Array(1024)])),
    ).toMatch(/range proof format/);
    expect(await problems(Buffer.concat([tarEntry("events.ndjson", "x"), new Uint8Array(1024)]))).toMatch(
      /events.ndjson where checkpoint belongs/,
    );
    // Hostile lines: nesting too deep to canonicalise, a line longer than any event can be.
    const { metadata: _metadata, ...first } = log.events[0]!;
    const deep = `${JSON.stringify(first).slice(0, -1)},"metadata":{"d":${"[".repeat(50_000)}${"]".repeat(50_000)}}}\n`;
    const deepReport = await verify(
      await bundleBytes({ from: 1, to: 2, lines: deep + linesOf([log.events[1]!]) }),
    );
    expect(deepReport.problems).toEqual([expect.stringMatching(/seq 1 .*cannot be hashed/)]);
    expect(deepReport.hashesRecomputed).toBe(1);
    const long = `${JSON.stringify({ ...log.events[0]!, metadata: { x: "a".repeat(5 * 1024 * 1024) } })}\n`;
    expect(await problems(await bundleBytes({ from: 1, to: 1, lines: long }))).toMatch(
      /line longer than 4 MiB/,
    );
    const corrupt = Buffer.from(good);
    corrupt[corrupt.indexOf("events.ndjson") + 3000] = 0xff; // invalid UTF-8 inside events
    expect(await problems(corrupt)).not.toBe("");
  });
});
