// A Merkle log stored as tiles: appending leaves (which tiles to write), the tree hash, and RFC 9162
// inclusion and consistency proofs, read through an async TileReader. A port of the design of Go's
// golang.org/x/mod/sumdb/tlog (StoredHashes, TreeHash, ProveRecord, ProveTree) onto tiles: each
// operation reads O(log n) hashes from at most a few tiles per tile level.
import { emptyRoot, HASH_SIZE, type Hash, nodeHash } from "./merkle-hash.ts";
import {
  hashFromTile,
  storedHashIndex,
  TILE_HEIGHT,
  TILE_WIDTH,
  type Tile,
  tileForIndex,
  tileHash,
  tilePath,
  tileWidthAt,
} from "./tiles.ts";
import { isTreeSize, shiftRight, splitPoint } from "./tree-math.ts";

/**
 * Where tiles come from (a database, files, an HTTP tile server). `readTiles` returns one data
 * array per requested tile, in order, each at least `width · 32` bytes: a longer array (the same
 * tile grown since) is fine, only its prefix is read.
 */
export interface TileReader {
  readTiles(tiles: Tile[]): Promise<Uint8Array[]>;
}

/** A tile to store after an append: its whole data at its new width, and how much of it is new. */
export interface TileWrite {
  tile: Tile;
  /** `tile.width · 32` bytes: the complete tile content at this width. */
  data: Uint8Array;
  /** Number of hashes (not bytes) the stored tile held before; `data` past `previousWidth · 32` is new. */
  previousWidth: number;
}

function tileKey(tile: Tile): string {
  return `${tile.level}/${tile.index}`;
}

/**
 * The hashes with the given storage indexes in the tree of `size` leaves, reading each tile once.
 * Throws when an index is not a hash of that tree or the reader returns short data.
 */
export async function readStoredHashes(size: number, indexes: number[], reader: TileReader): Promise<Hash[]> {
  if (indexes.length === 0) return [];
  const tiles: Tile[] = [];
  const positionOf = new Map<string, number>();
  const located = indexes.map((index) => {
    const { tile } = tileForIndex(index);
    const width = tileWidthAt(tile.level, tile.index, size);
    if (width < tile.width) throw new RangeError(`hash ${index} is not in a tree of size ${size}`);
    const key = tileKey(tile);
    let position = positionOf.get(key);
    if (position === undefined) {
      position = tiles.length;
      positionOf.set(key, position);
      tiles.push({ level: tile.level, index: tile.index, width });
    }
    return position;
  });
  const data = await reader.readTiles(tiles);
  if (data.length !== tiles.length)
    throw new Error(`readTiles returned ${data.length} tiles for ${tiles.length}`);
  tiles.forEach((tile, i) => {
    if (data[i]!.length < tile.width * HASH_SIZE) {
      throw new Error(`readTiles returned ${data[i]!.length} bytes for ${tilePath(tile)}`);
    }
  });
  return indexes.map((index, i) => {
    const at = located[i] ?? 0;
    return hashFromTile(tiles[at]!, data[at]!, index);
  });
}

/** Storage indexes of the perfect subtrees that make up leaves [lo, hi), left to right. */
function subtreeIndexes(lo: number, hi: number, need: number[]): number[] {
  while (lo < hi) {
    const k = splitPoint(hi - lo + 1);
    const level = Math.log2(k);
    need.push(storedHashIndex(level, lo / k));
    lo += k;
  }
  return need;
}

/** The hash of leaves [lo, hi) from the hashes of subtreeIndexes(lo, hi), consumed from `hashes`. */
function subtreeHash(lo: number, hi: number, hashes: Hash[]): Hash {
  let count = 0;
  while (lo < hi) {
    lo += splitPoint(hi - lo + 1);
    count++;
  }
  const parts = hashes.splice(0, count);
  if (parts.length !== count) throw new Error("subtree hash arithmetic failed");
  let hash = parts[count - 1]!;
  for (let i = count - 2; i >= 0; i--) hash = nodeHash(parts[i]!, hash);
  return hash;
}

/** The root of the tree of `size` leaves (the empty tree's root is SHA-256 of the empty string). */
export async function treeHash(size: number, reader: TileReader): Promise<Hash> {
  if (!isTreeSize(size)) throw new RangeError(`invalid tree size ${size}`);
  if (size === 0) return emptyRoot();
  const hashes = await readStoredHashes(size, subtreeIndexes(0, size, []), reader);
  return subtreeHash(0, size, hashes);
}

/** The hash of leaves [lo, hi) of the tree of `size` leaves (hi ≤ size). */
export async function subtreeRangeHash(
  lo: number,
  hi: number,
  size: number,
  reader: TileReader,
): Promise<Hash> {
  if (!(0 <= lo && lo < hi && hi <= size)) throw new RangeError(`no subtree [${lo}, ${hi}) in size ${size}`);
  const hashes = await readStoredHashes(size, subtreeIndexes(lo, hi, []), reader);
  return subtreeHash(lo, hi, hashes);
}

function inclusionIndexes(lo: number, hi: number, n: number, need: number[]): number[] {
  if (lo + 1 === hi) return need;
  const k = splitPoint(hi - lo);
  if (n < lo + k) {
    inclusionIndexes(lo, lo + k, n, need);
    subtreeIndexes(lo + k, hi, need);
  } else {
    subtreeIndexes(lo, lo + k, need);
    inclusionIndexes(lo + k, hi, n, need);
  }
  return need;
}

function inclusionPath(lo: number, hi: number, n: number, hashes: Hash[]): Hash[] {
  if (lo + 1 === hi) return [];
  const k = splitPoint(hi - lo);
  if (n < lo + k) {
    const path = inclusionPath(lo, lo + k, n, hashes);
    path.push(subtreeHash(lo + k, hi, hashes));
    return path;
  }
  const sibling = subtreeHash(lo, lo + k, hashes);
  const path = inclusionPath(lo + k, hi, n, hashes);
  path.push(sibling);
  return path;
}

/** The RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves (leaf side first). */
export async function proveInclusion(index: number, size: number, reader: TileReader): Promise<Hash[]> {
  if (!isTreeSize(size) || !Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
  }
  const hashes = await readStoredHashes(size, inclusionIndexes(0, size, index, []), reader);
  const path = inclusionPath(0, size, index, hashes);
  if (hashes.length !== 0) throw new Error("inclusion proof arithmetic failed");
  return path;
}

function consistencyIndexes(lo: number, hi: number, m: number, need: number[]): number[] {
  if (m === hi) return lo === 0 ? need : subtreeIndexes(lo, hi, need);
  const k = splitPoint(hi - lo);
  if (m <= lo + k) {
    consistencyIndexes(lo, lo + k, m, need);
    subtreeIndexes(lo + k, hi, need);
  } else {
    subtreeIndexes(lo, lo + k, need);
    consistencyIndexes(lo + k, hi, m, need);
  }
  return need;
}

function consistencyPath(lo: number, hi: number, m: number, hashes: Hash[]): Hash[] {
  if (m === hi) return lo === 0 ? [] : [subtreeHash(lo, hi, hashes)];
  const k = splitPoint(hi - lo);
  if (m <= lo + k) {
    const path = consistencyPath(lo, lo + k, m, hashes);
    path.push(subtreeHash(lo + k, hi, hashes));
    return path;
  }
  const sibling = subtreeHash(lo, lo + k, hashes);
  const path = consistencyPath(lo + k, hi, m, hashes);
  path.push(sibling);
  return path;
}

/**
 * The RFC 9162 consistency proof that the tree of `size` leaves extends the tree of `from` leaves.
 * Empty when from = 0 or from = size (spec §13 edge rules).
 */
export async function proveConsistency(from: number, size: number, reader: TileReader): Promise<Hash[]> {
  if (!isTreeSize(size) || !isTreeSize(from) || from > size) {
    throw new RangeError(`no consistency proof from size ${from} to size ${size}`);
  }
  if (from === 0 || from === size) return [];
  const hashes = await readStoredHashes(size, consistencyIndexes(0, size, from, []), reader);
  const path = consistencyPath(0, size, from, hashes);
  if (hashes.length !== 0) throw new Error("consistency proof arithmetic failed");
  return path;
}

interface GrowingTile {
  index: number;
  width: number;
  previousWidth: number;
  data: Uint8Array;
}

/**
 * Appends leaves to the tree of `oldSize` leaves: returns every tile that changed, each with its
 * complete data at its new width (full tiles completed by the append, then each level's partial
 * tile). Reads only the old tree's partial tiles (one per tile level). Storing the returned tiles
 * (replacing each (level, index) row, or appending the bytes past `previousWidth`) yields the tree
 * of `oldSize + leafHashes.length` leaves.
 */
export async function appendLeaves(
  oldSize: number,
  leafHashes: Hash[],
  reader: TileReader,
): Promise<TileWrite[]> {
  if (!isTreeSize(oldSize) || !isTreeSize(oldSize + leafHashes.length)) {
    throw new RangeError(`invalid tree size ${oldSize}`);
  }
  for (const hash of leafHashes)
    if (hash.length !== HASH_SIZE) throw new TypeError("a leaf hash is not 32 bytes");
  const levels: GrowingTile[] = [];
  const partials: Tile[] = [];
  for (let level = 0; shiftRight(oldSize, TILE_HEIGHT * level) > 0; level++) {
    const hashesAtLevel = shiftRight(oldSize, TILE_HEIGHT * level);
    const index = Math.floor(hashesAtLevel / TILE_WIDTH);
    const width = hashesAtLevel - index * TILE_WIDTH;
    levels.push({ index, width, previousWidth: width, data: new Uint8Array(TILE_WIDTH * HASH_SIZE) });
    if (width > 0) partials.push({ level, index, width });
  }
  const stored = partials.length > 0 ? await reader.readTiles(partials) : [];
  if (stored.length !== partials.length) throw new Error("readTiles returned the wrong number of tiles");
  partials.forEach((tile, i) => {
    const data = stored[i]!;
    if (data.length < tile.width * HASH_SIZE)
      throw new Error(`readTiles returned too few bytes for ${tilePath(tile)}`);
    levels[tile.level]!.data.set(data.subarray(0, tile.width * HASH_SIZE));
  });

  const writes: TileWrite[] = [];
  const append = (level: number, hash: Hash) => {
    for (;;) {
      let tile = levels[level];
      if (!tile) {
        tile = { index: 0, width: 0, previousWidth: 0, data: new Uint8Array(TILE_WIDTH * HASH_SIZE) };
        levels[level] = tile;
      }
      tile.data.set(hash, tile.width * HASH_SIZE);
      tile.width++;
      if (tile.width < TILE_WIDTH) return;
      // A full tile: store it, and its root becomes the next entry one tile level up.
      writes.push({
        tile: { level, index: tile.index, width: TILE_WIDTH },
        data: tile.data.slice(),
        previousWidth: tile.previousWidth,
      });
      hash = tileHash(tile.data);
      tile.index++;
      tile.width = 0;
      tile.previousWidth = 0;
      level++;
    }
  };
  for (const hash of leafHashes) append(0, hash);
  levels.forEach((tile, level) => {
    if (tile.width > tile.previousWidth) {
      writes.push({
        tile: { level, index: tile.index, width: tile.width },
        data: tile.data.slice(0, tile.width * HASH_SIZE),
        previousWidth: tile.previousWidth,
      });
    }
  });
  return writes;
}
