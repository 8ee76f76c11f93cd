// Verification of RFC 9162 inclusion (§2.1.3.2) and consistency (§2.1.4.2) proofs, strict: a proof
// with a missing, extra or malformed hash, or sizes that don't fit, never verifies.
import { equalBytes } from "./encoding.ts";
import { HASH_SIZE, type Hash, nodeHash } from "./merkle-hash.ts";
import { isOdd, isTreeSize } from "./tree-math.ts";

/** A proof that can't be run at all (wrong length, malformed hash, impossible sizes). */
export class ProofError extends Error {
  override readonly name = "ProofError";
}

function checkHashes(path: readonly Hash[]): void {
  for (const hash of path) {
    if (hash.length !== HASH_SIZE) throw new ProofError("a proof hash is not 32 bytes");
  }
}

/**
 * The root implied by an inclusion proof of the leaf with `leafHash` at `index` in a tree of
 * `treeSize` leaves; throws ProofError when the proof has the wrong shape.
 */
export function rootFromInclusionProof(
  leafHash: Hash,
  index: number,
  treeSize: number,
  path: readonly Hash[],
): Hash {
  if (!isTreeSize(treeSize) || !isTreeSize(index) || index >= treeSize) {
    throw new ProofError(`leaf index ${index} is not in a tree of size ${treeSize}`);
  }
  if (leafHash.length !== HASH_SIZE) throw new ProofError("the leaf hash is not 32 bytes");
  checkHashes(path);
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) throw new ProofError("the inclusion proof is too long");
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError("the inclusion proof is too short");
  return r;
}

/** Whether `path` proves the leaf with `leafHash` is leaf `index` of the tree of `treeSize` with `root`. */
export function verifyInclusion(
  leafHash: Hash,
  index: number,
  treeSize: number,
  path: readonly Hash[],
  root: Hash,
): boolean {
  try {
    return equalBytes(rootFromInclusionProof(leafHash, index, treeSize, path), root);
  } catch (error) {
    if (error instanceof ProofError) return false;
    throw error;
  }
}

/**
 * The root of the tree of `size2` implied by a consistency proof from the tree of `size1` with
 * `root1`; throws ProofError when the proof has the wrong shape or doesn't match `root1`.
 * A proof from size 0 proves nothing and is rejected (every tree extends the empty one: callers
 * accept `from = 0` without a proof, as RFC 9162 defines proofs only for 0 < size1).
 */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  path: readonly Hash[],
  root1: Hash,
): Hash {
  if (!isTreeSize(size1) || !isTreeSize(size2) || size2 < size1) {
    throw new ProofError(`no consistency proof from size ${size1} to size ${size2}`);
  }
  if (size1 === 0) throw new ProofError("a consistency proof from the empty tree proves nothing");
  if (size1 === size2) {
    if (path.length > 0) throw new ProofError("a proof between equal sizes must be empty");
    return root1;
  }
  if (path.length === 0) throw new ProofError("the consistency proof is empty");
  checkHashes(path);
  if (root1.length !== HASH_SIZE) throw new ProofError("the first root is not 32 bytes");
  // RFC 9162 §2.1.4.2: when size1 is a power of two its root is the proof's implicit first node.
  const nodes = isPowerOfTwo(size1) ? [root1, ...path] : path;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = nodes[0]!;
  let sr = nodes[0]!;
  for (let i = 1; i < nodes.length; i++) {
    const c = nodes[i]!;
    if (sn === 0) throw new ProofError("the consistency proof is too long");
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError("the consistency proof is too short");
  if (!equalBytes(fr, root1)) throw new ProofError("the consistency proof does not match the first root");
  return sr;
}

/** Whether `path` proves the tree of `size2` with `root2` extends the tree of `size1` with `root1`. */
export function verifyConsistency(
  size1: number,
  size2: number,
  path: readonly Hash[],
  root1: Hash,
  root2: Hash,
): boolean {
  try {
    return equalBytes(rootFromConsistencyProof(size1, size2, path, root1), root2);
  } catch (error) {
    if (error instanceof ProofError) return false;
    throw error;
  }
}

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && !isOdd(n)) n /= 2;
  return n === 1;
}
