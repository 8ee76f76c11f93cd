// Range proofs: that leaves [start, end) are exactly those leaves, at those positions, of the tree of
// `treeSize` leaves with a given root. The proof holds only the subtree hashes left of `start` and
// right of `end` (O(log n) hashes); the verifier streams the range's leaves through a stack of
// O(log n) hashes, so checking a range of any length takes constant memory. Format and algorithm:
// docs/tlog/range-proof.md.
import { equalBytes, fromBase64, toBase64 } from "./encoding.ts";
import { HASH_SIZE, type Hash, nodeHash } from "./merkle-hash.ts";
import { readStoredHashes, type TileReader } from "./tile-log.ts";
import { storedHashIndex } from "./tiles.ts";
import { isOdd, isTreeSize, popCount, shiftRight, splitPoint, trailingZeros } from "./tree-math.ts";

export interface RangeProof {
  /** First leaf index of the range (the event with seq = start + 1). */
  start: number;
  /** One past the last leaf index of the range. */
  end: number;
  treeSize: number;
  /** The perfect subtrees covering leaves [0, start), largest (leftmost) first. */
  left: Hash[];
  /** The subtrees covering leaves [end, treeSize) on the path of leaf end − 1, lowest first. */
  right: Hash[];
}

function checkRange(start: number, end: number, treeSize: number): void {
  if (!isTreeSize(treeSize) || !Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
    throw new RangeError("range bounds must be integers");
  }
  if (!(0 <= start && start < end && end <= treeSize)) {
    throw new RangeError(`no leaf range [${start}, ${end}) in a tree of size ${treeSize}`);
  }
}

/** Leaf ranges [lo, hi) of the perfect subtrees covering [0, start), left to right. */
function leftRanges(start: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let lo = 0; lo < start; ) {
    const k = splitPoint(start - lo + 1);
    ranges.push([lo, lo + k]);
    lo += k;
  }
  return ranges;
}

/** Leaf ranges of the right siblings on the path of leaf `last` in a tree of `size`, lowest first. */
function rightRanges(last: number, size: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let lo = 0;
  let hi = size;
  while (lo + 1 < hi) {
    const k = splitPoint(hi - lo);
    if (last < lo + k) {
      ranges.push([lo + k, hi]);
      hi = lo + k;
    } else {
      lo += k;
    }
  }
  return ranges.reverse();
}

/** Storage indexes of the perfect subtrees making up [lo, hi), and how many there are. */
function rangeIndexes(lo: number, hi: number): number[] {
  const indexes: number[] = [];
  while (lo < hi) {
    const k = splitPoint(hi - lo + 1);
    indexes.push(storedHashIndex(Math.log2(k), lo / k));
    lo += k;
  }
  return indexes;
}

/** The range proof for leaves [start, end) of the tree of `treeSize` leaves, read from tiles. */
export async function proveRange(
  start: number,
  end: number,
  treeSize: number,
  reader: TileReader,
): Promise<RangeProof> {
  checkRange(start, end, treeSize);
  const left = leftRanges(start);
  const right = rightRanges(end - 1, treeSize);
  const rightIndexes = right.map(([lo, hi]) => rangeIndexes(lo, hi));
  const indexes = left.map(([lo, hi]) => storedHashIndex(Math.log2(hi - lo), lo / (hi - lo)));
  const hashes = await readStoredHashes(treeSize, [...indexes, ...rightIndexes.flat()], reader);
  const leftHashes = hashes.splice(0, left.length);
  const rightHashes = rightIndexes.map((parts) => {
    const subtrees = hashes.splice(0, parts.length);
    let hash = subtrees[subtrees.length - 1]!;
    for (let i = subtrees.length - 2; i >= 0; i--) hash = nodeHash(subtrees[i]!, hash);
    return hash;
  });
  return { start, end, treeSize, left: leftHashes, right: rightHashes };
}

/** Number of hashes `right` holds for a range ending at `end` in a tree of `treeSize`. */
export function rightHashCount(end: number, treeSize: number): number {
  return rightRanges(end - 1, treeSize).length;
}

/**
 * Checks a range proof incrementally: feed the range's leaf hashes in order with `push`, then call
 * `finish`. Holds O(log n) hashes whatever the range length.
 */
export class RangeVerifier {
  readonly #proof: RangeProof;
  readonly #root: Hash;
  readonly #stack: Hash[];
  #next: number;
  #failure: string | undefined;

  constructor(proof: RangeProof, root: Hash) {
    checkRange(proof.start, proof.end, proof.treeSize);
    this.#proof = proof;
    this.#root = root;
    this.#next = proof.start;
    this.#stack = [...proof.left];
    if (proof.left.length !== popCount(proof.start)) {
      this.#failure = `the proof has ${proof.left.length} left hashes, ${popCount(proof.start)} expected`;
    } else if (proof.right.length !== rightHashCount(proof.end, proof.treeSize)) {
      this.#failure = `the proof has ${proof.right.length} right hashes, ${rightHashCount(proof.end, proof.treeSize)} expected`;
    } else if ([...proof.left, ...proof.right, root].some((hash) => hash.length !== HASH_SIZE)) {
      this.#failure = "a hash of the proof or the root is not 32 bytes";
    }
  }

  /** Leaf index the next pushed leaf hash is taken for. */
  get nextIndex(): number {
    return this.#next;
  }

  push(leafHash: Hash): void {
    if (this.#next >= this.#proof.end) throw new RangeError("more leaves than the range holds");
    if (leafHash.length !== HASH_SIZE) throw new TypeError("a leaf hash is not 32 bytes");
    let hash = leafHash;
    // Leaf `next` completes one perfect subtree per trailing 1 bit of its index.
    for (let merges = trailingZeros(this.#next + 1); merges > 0 && this.#failure === undefined; merges--) {
      hash = nodeHash(this.#stack.pop()!, hash);
    }
    this.#stack.push(hash);
    this.#next++;
  }

  /** Undefined when every leaf was pushed and the range proves against the root; else why not. */
  finish(): string | undefined {
    if (this.#failure) return this.#failure;
    const { end, treeSize, right } = this.#proof;
    if (this.#next !== end) return `${end - this.#next} leaves of the range are missing`;
    // The stack is now the perfect subtrees covering [0, end); its last one is the node at level
    // trailingZeros(end) on the path of leaf end − 1. Walk that path up as RFC 9162 §2.1.3.2 does,
    // taking left siblings from the stack and right siblings from the proof.
    const stack = this.#stack;
    let r = stack.pop()!;
    const level = trailingZeros(end);
    let fn = shiftRight(end - 1, level);
    let sn = shiftRight(treeSize - 1, level);
    let nextRight = 0;
    while (sn > 0) {
      if (isOdd(fn) || fn === sn) {
        const sibling = stack.pop();
        if (!sibling) return "range proof arithmetic failed: no left sibling";
        r = nodeHash(sibling, r);
        while (!isOdd(fn) && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        const sibling = right[nextRight++];
        if (!sibling) return "range proof arithmetic failed: no right sibling";
        r = nodeHash(r, sibling);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (stack.length !== 0 || nextRight !== right.length)
      return "range proof arithmetic failed: unused hashes";
    return equalBytes(r, this.#root) ? undefined : "the range does not hash to the checkpoint's root";
  }
}

/** Whether `leafHashes` are exactly leaves [proof.start, proof.end) of the tree with `root`. */
export function verifyRange(proof: RangeProof, leafHashes: Iterable<Hash>, root: Hash): boolean {
  let verifier: RangeVerifier;
  try {
    verifier = new RangeVerifier(proof, root);
    for (const hash of leafHashes) verifier.push(hash);
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) return false;
    throw error;
  }
  return verifier.finish() === undefined;
}

/** The JSON form of a range proof (docs/tlog/range-proof.md): hashes in standard base64. */
export function rangeProofToJson(proof: RangeProof): string {
  return JSON.stringify({
    format: RANGE_PROOF_FORMAT,
    tree_size: proof.treeSize,
    start: proof.start,
    end: proof.end,
    left: proof.left.map(toBase64),
    right: proof.right.map(toBase64),
  });
}

export const RANGE_PROOF_FORMAT = "vigil-range-proof/v1";

/** Parses the JSON form; throws TypeError naming what is malformed. */
export function parseRangeProof(text: string): RangeProof {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError("the range proof is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("the range proof is not a JSON object");
  }
  const record = value as Record<string, unknown>;
  if (record.format !== RANGE_PROOF_FORMAT)
    throw new TypeError(`the range proof format is not ${RANGE_PROOF_FORMAT}`);
  const integer = (field: string) => {
    const n = record[field];
    if (typeof n !== "number" || !isTreeSize(n))
      throw new TypeError(`range proof field ${field} is not a size`);
    return n;
  };
  const hashes = (field: string) => {
    const list = record[field];
    if (!Array.isArray(list)) throw new TypeError(`range proof field ${field} is not an array`);
    return list.map((item) => {
      const hash = typeof item === "string" ? fromBase64(item) : undefined;
      if (hash?.length !== HASH_SIZE)
        throw new TypeError(`range proof field ${field} holds a malformed hash`);
      return hash;
    });
  };
  const proof = {
    treeSize: integer("tree_size"),
    start: integer("start"),
    end: integer("end"),
    left: hashes("left"),
    right: hashes("right"),
  };
  if (!(proof.start < proof.end && proof.end <= proof.treeSize)) {
    throw new TypeError("range proof bounds are not 0 ≤ start < end ≤ tree_size");
  }
  return proof;
}
