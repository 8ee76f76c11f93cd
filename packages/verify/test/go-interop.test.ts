// Interoperability with Go's golang.org/x/mod/sumdb (note and tlog), an independent implementation:
// Go opens the checkpoint this package signs and checks its inclusion and consistency proofs; Go
// builds its own log over the same leaves and must get the same roots and proofs; this package
// opens a note Go signed with a key from note.GenerateKey. Needs `go` and Debian's
// golang-golang-x-mod-dev (.ci/run installs both); skipped, saying so, when they are absent.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  appendLeaves,
  eventLeafHash,
  formatCheckpoint,
  fromBase64,
  type Hash,
  MemoryTileStore,
  openNote,
  parseSignerKey,
  proveConsistency,
  proveInclusion,
  setSha256,
  signCheckpoint,
  toBase64,
  treeHash,
  verifierKeyOf,
  verifyConsistency,
  verifyInclusion,
} from "../src/index.ts";

const GO_DIR = path.join(import.meta.dirname, "go");
const X_MOD = "/usr/share/gocode/src/golang.org/x/mod/sumdb/note";
const goVersion = spawnSync("go", ["version"], { encoding: "utf8" });
const skipReason =
  goVersion.status !== 0
    ? "`go` is not installed (apt-get install golang-go golang-golang-x-mod-dev)"
    : !existsSync(X_MOD)
      ? "golang.org/x/mod is not in /usr/share/gocode (apt-get install golang-golang-x-mod-dev)"
      : undefined;
if (skipReason) console.warn(`SKIPPED: Go interop test: ${skipReason}`);

const b64 = (hash: Hash) => toBase64(hash);
const flip = (hash: Hash) => {
  const copy = new Uint8Array(hash); // not hash.slice(): a Buffer's slice shares its memory
  copy[7]! ^= 1;
  return copy;
};

describe.skipIf(skipReason !== undefined)(
  `Go sumdb interop${skipReason ? ` (SKIPPED: ${skipReason})` : ""}`,
  () => {
    let workDir: string;
    let binary: string;

    beforeAll(() => {
      setSha256((data) => createHash("sha256").update(data).digest());
      workDir = mkdtempSync(path.join(tmpdir(), "vigil-go-interop-"));
      binary = path.join(workDir, "interop");
      execFileSync("go", ["build", "-mod=mod", "-o", binary, "."], { cwd: GO_DIR, stdio: "pipe" });
    }, 180_000);

    afterAll(() => {
      setSha256();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    it("agrees with Go on signatures, roots, inclusion and consistency proofs, both ways", async () => {
      const size = 700;
      const store = new MemoryTileStore();
      const leaves: Hash[] = [];
      const roots: Hash[] = [];
      for (let seq = 1; seq <= size; seq++) {
        const id = `${randomBytes(4).toString("hex")}-0000-4000-8000-${randomBytes(6).toString("hex")}`;
        leaves.push(eventLeafHash(seq, id, randomBytes(32).toString("hex")));
      }
      for (let at = 0; at < size; ) {
        const batch = Math.min(size - at, 1 + Math.floor(Math.random() * 90));
        store.write(await appendLeaves(at, leaves.slice(at, at + batch), store));
        at += batch;
      }
      for (let n = 1; n <= size; n++) roots[n] = await treeHash(n, store);

      const inclusion = [];
      for (let i = 0; i < 60; i++) {
        const treeSize = 1 + Math.floor(Math.random() * size);
        const index = Math.floor(Math.random() * treeSize);
        const proof = await proveInclusion(index, treeSize, store);
        inclusion.push({
          leaf_hash: leaves[index]!,
          index,
          tree_size: treeSize,
          path: proof,
          root: roots[treeSize]!,
        });
      }
      const consistency = [];
      for (let i = 0; i < 60; i++) {
        const to = 1 + Math.floor(Math.random() * size);
        const from = 1 + Math.floor(Math.random() * to);
        const proof = await proveConsistency(from, to, store);
        consistency.push({ from, to, path: proof, root_from: roots[from]!, root_to: roots[to]! });
      }
      // Tampered copies Go must reject (so agreement is not vacuous).
      const badInclusion = inclusion
        .filter((c) => c.path.length > 0)
        .slice(0, 10)
        .map((c) => ({ ...c, path: [flip(c.path[0]!), ...c.path.slice(1)] }));
      const badConsistency = consistency
        .filter((c) => c.path.length > 0)
        .slice(0, 10)
        .map((c) => ({ ...c, root_to: flip(c.root_to) }));

      const signer = { name: "vigil-interop", privateKeySeed: new Uint8Array(randomBytes(32)) };
      const checkpoint = {
        origin: "vigil.test/9b2c9c0e-4c1e-4e53-9d43-0f1bd1fdf9b1",
        size,
        rootHash: roots[size]!,
      };
      const note = await signCheckpoint(checkpoint, signer);
      const noteToSign = formatCheckpoint({ ...checkpoint, origin: "go.example/log" });

      // Hashes may be Buffers (node:crypto), whose toJSON runs before a replacer: encode by hand.
      const encode = (c: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(c).map(([k, v]) => [
            k,
            v instanceof Uint8Array ? b64(v) : Array.isArray(v) ? v.map((h: Hash) => b64(h)) : v,
          ]),
        );
      // Sizes around tile boundaries, for Go's TileHashReader over this package's tile rows.
      const tileCases = [1, 2, 255, 256, 257, 511, 512, 513, size].map((treeSize) => ({
        tree_size: treeSize,
        root: b64(roots[treeSize]!),
        index: Math.floor(Math.random() * treeSize),
      }));
      const request = {
        tiles: store.rows().map((row) => ({ level: row.level, index: row.index, data: b64(row.data) })),
        tile_cases: tileCases,
        verifier_key: await verifierKeyOf(signer),
        note,
        inclusion: [...inclusion, ...badInclusion].map(encode),
        consistency: [...consistency, ...badConsistency].map(encode),
        leaves: leaves.map(b64),
        note_to_sign: noteToSign,
      };
      const result = spawnSync(binary, [], {
        input: JSON.stringify(request),
        encoding: "utf8",
        maxBuffer: 1 << 26,
      });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const response = JSON.parse(result.stdout);

      // Go's note.Open verifies the checkpoint as this package signed it.
      expect(response.note_error).toBe("");
      expect(response.note_text).toBe(formatCheckpoint(checkpoint));
      // Go's tlog.CheckRecord / CheckTree accept every proof, reject every tampered one.
      expect(response.inclusion).toEqual([
        ...inclusion.map(() => ""),
        ...badInclusion.map(() => "invalid transparency proof"),
      ]);
      expect(response.consistency).toEqual([
        ...consistency.map(() => ""),
        ...badConsistency.map(() => "invalid transparency proof"),
      ]);
      // Go's own log over the same leaves: same root at every size, same proofs byte for byte.
      expect(response.tree_hashes).toEqual(roots.slice(1).map(b64));
      // (Go also proved the tampered cases' positions; those come after.)
      expect(response.inclusion_proofs.slice(0, inclusion.length)).toEqual(
        inclusion.map((c) => c.path.map(b64)),
      );
      expect(response.consistency_proofs.slice(0, consistency.length)).toEqual(
        consistency.map((c) => c.path.map(b64)),
      );
      inclusion.forEach((c, i) => {
        const goPath = response.inclusion_proofs[i].map((h: string) => fromBase64(h)!);
        expect(verifyInclusion(c.leaf_hash, c.index, c.tree_size, goPath, c.root)).toBe(true);
      });
      consistency.forEach((c, i) => {
        const goPath = response.consistency_proofs[i].map((h: string) => fromBase64(h)!);
        expect(verifyConsistency(c.from, c.to, goPath, c.root_from, c.root_to)).toBe(true);
      });

      // Go authenticated this package's tiles against the roots and proved the same paths from them.
      for (const [i, c] of tileCases.entries()) {
        const ours = await proveInclusion(c.index, c.tree_size, store);
        expect(response.tile_proofs[i], `size ${c.tree_size}`).toEqual(ours.map(b64));
      }

      // This package opens the note Go signed, with Go's verifier key, and reads Go's signer key.
      const opened = await openNote(response.go_note, [response.go_verifier_key]);
      expect(opened.text).toBe(noteToSign);
      expect(opened.verified.map((s) => s.name)).toEqual(["go-interop"]);
      await expect(
        openNote(response.go_note.replace("go.example", "go.exampl3"), [response.go_verifier_key]),
      ).rejects.toThrow(/invalid signature/);
      expect(await verifierKeyOf(await parseSignerKey(response.go_signer_key))).toBe(
        response.go_verifier_key,
      );
    });
  },
);
