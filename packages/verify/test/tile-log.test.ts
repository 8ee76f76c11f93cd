// The tile-backed log against a naive RFC 9162 reference: roots, inclusion, consistency and range
// proofs for every size up to a few tiles, appended in batches of varied sizes.
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  appendLeaves,
  emptyRoot,
  type Hash,
  leafHash,
  MemoryTileStore,
  newTiles,
  nodeHash,
  proveConsistency,
  proveInclusion,
  proveRange,
  RangeVerifier,
  rootFromInclusionProof,
  setSha256,
  TILE_WIDTH,
  toHex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  verifyRange,
} from "../src/index.ts";

beforeAll(() => setSha256((data) => createHash("sha256").update(data).digest()));

/** MTH(D[lo:hi]) straight from RFC 9162 §2.1.1. */
function referenceRoot(leaves: Hash[], lo = 0, hi = leaves.length): Hash {
  if (hi === lo) return emptyRoot();
  if (hi - lo === 1) return leaves[lo]!;
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return nodeHash(referenceRoot(leaves, lo, lo + k), referenceRoot(leaves, lo + k, hi));
}

function leafOf(i: number): Hash {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setUint32(4, i);
  return leafHash(data);
}

/** Deterministic pseudo-random numbers, so a failure is reproducible. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

async function buildLog(size: number, batchSizes: () => number) {
  const store = new MemoryTileStore();
  const leaves: Hash[] = [];
  const roots: Hash[] = [emptyRoot()];
  while (leaves.length < size) {
    const batch = Math.min(size - leaves.length, batchSizes());
    const fresh = Array.from({ length: batch }, (_, i) => leafOf(leaves.length + i));
    const writes = await appendLeaves(leaves.length, fresh, store);
    const expected = newTiles(leaves.length, leaves.length + batch).map(
      (t) => `${t.level}/${t.index}/${t.width}`,
    );
    expect(writes.map((w) => `${w.tile.level}/${w.tile.index}/${w.tile.width}`).sort()).toEqual(
      expected.sort(),
    );
    store.write(writes);
    leaves.push(...fresh);
    roots[leaves.length] = await treeHash(leaves.length, store);
  }
  return { store, leaves, roots };
}

describe("tile log", () => {
  it("has the reference root at every size, appended one leaf at a time and in batches", async () => {
    const next = random(7);
    for (const batches of [() => 1, () => 1 + Math.floor(next() * 300)]) {
      const { leaves, roots } = await buildLog(3 * TILE_WIDTH + 17, batches);
      for (let size = 0; size <= leaves.length; size++) {
        if (roots[size]) expect(toHex(roots[size]!)).toBe(toHex(referenceRoot(leaves.slice(0, size))));
      }
    }
  });

  it("proves inclusion of every leaf at every size of a small tree", async () => {
    const { store, leaves } = await buildLog(70, () => 1);
    for (let size = 1; size <= leaves.length; size++) {
      const root = referenceRoot(leaves.slice(0, size));
      for (let index = 0; index < size; index++) {
        const path = await proveInclusion(index, size, store);
        expect(verifyInclusion(leaves[index]!, index, size, path, root)).toBe(true);
        if (path.length > 0)
          expect(verifyInclusion(leaves[index]!, index, size, path.slice(1), root)).toBe(false);
        if (index + 1 < size)
          expect(verifyInclusion(leaves[index + 1]!, index, size, path, root)).toBe(false);
      }
    }
  });

  it("proves consistency between every pair of sizes of a small tree", async () => {
    const { store, leaves } = await buildLog(70, () => 3);
    const roots = Array.from({ length: leaves.length + 1 }, (_, size) =>
      referenceRoot(leaves.slice(0, size)),
    );
    for (let to = 1; to <= leaves.length; to++) {
      for (let from = 1; from <= to; from++) {
        const path = await proveConsistency(from, to, store);
        expect(verifyConsistency(from, to, path, roots[from]!, roots[to]!)).toBe(true);
        if (from < to) {
          expect(verifyConsistency(from, to, path, roots[from - 1]!, roots[to]!)).toBe(false);
        }
      }
      expect(await proveConsistency(0, to, store)).toEqual([]);
      expect(await proveConsistency(to, to, store)).toEqual([]);
    }
  });

  it("proves across tile boundaries with few tile reads in a large tree", async () => {
    const size = TILE_WIDTH ** 2 + 3 * TILE_WIDTH + 5; // a level-2 tile, full and partial level-1 tiles
    const { store, leaves } = await buildLog(size, () => 4999);
    const root = referenceRoot(leaves);
    const next = random(11);
    for (let i = 0; i < 60; i++) {
      const index = Math.floor(next() * size);
      const before = store.reads.calls;
      const path = await proveInclusion(index, size, store);
      expect(store.reads.calls - before).toBe(1);
      expect(toHex(rootFromInclusionProof(leaves[index]!, index, size, path))).toBe(toHex(root));
      const from = 1 + Math.floor(next() * size);
      const consistency = await proveConsistency(from, size, store);
      expect(verifyConsistency(from, size, consistency, await treeHash(from, store), root)).toBe(true);
    }
  });

  it("proves every range of a small tree and rejects shifted, shortened or altered ranges", async () => {
    const { store, leaves } = await buildLog(26, () => 5);
    for (let size = 1; size <= leaves.length; size++) {
      const root = referenceRoot(leaves.slice(0, size));
      for (let start = 0; start < size; start++) {
        for (let end = start + 1; end <= size; end++) {
          const proof = await proveRange(start, end, size, store);
          const range = leaves.slice(start, end);
          expect(verifyRange(proof, range, root)).toBe(true);
          expect(verifyRange(proof, range.slice(1), root)).toBe(false);
          expect(verifyRange(proof, [...range].reverse(), root)).toBe(range.length === 1);
          if (end < size) expect(verifyRange(proof, [...range, leaves[end]!], root)).toBe(false);
          if (start > 0)
            expect(verifyRange({ ...proof, start: start - 1 }, leaves.slice(start - 1, end), root)).toBe(
              false,
            );
        }
      }
    }
  });

  it("verifies a range incrementally with a stack of O(log n) hashes", async () => {
    const { store, leaves } = await buildLog(5000, () => 613);
    const root = referenceRoot(leaves);
    const proof = await proveRange(123, 4321, leaves.length, store);
    expect(proof.left.length + proof.right.length).toBeLessThanOrEqual(2 * 13);
    const verifier = new RangeVerifier(proof, root);
    for (let i = 123; i < 4321; i++) verifier.push(leaves[i]!);
    expect(verifier.finish()).toBeUndefined();
    const tampered = new RangeVerifier(proof, root);
    for (let i = 123; i < 4321; i++) tampered.push(i === 2000 ? leaves[0]! : leaves[i]!);
    expect(tampered.finish()).toMatch(/root/);
  });
});
