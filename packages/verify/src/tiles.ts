// C2SP tlog-tiles coordinates (height 8), after Go's golang.org/x/mod/sumdb/tlog (tile.go, tlog.go):
// the tree's hashes numbered in storage order, the tile holding each, and the tile paths
// `tile/<L>/<N>[.p/<W>]`. A tile at level L, number N, lists the W consecutive hashes at tree
// level 8·L starting at index 256·N; a partial tile (W < 256) is a prefix of the full one.
import { HASH_SIZE, type Hash, nodeHash } from "./merkle-hash.ts";
import { isOdd, MAX_TREE_SIZE, shiftRight, trailingZeros } from "./tree-math.ts";

/** Tile height: every tile spans 8 tree levels (256 hashes when full). */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 2 ** TILE_HEIGHT;

export interface Tile {
  /** Tile level: the tile holds hashes of tree level 8·level. */
  level: number;
  /** Tile number within its level. */
  index: number;
  /** Number of hashes, 1 to 256 (256 = full). */
  width: number;
}

/**
 * Storage index of the hash at tree `level`, position `n`: hashes are numbered in the order a log
 * appending one leaf at a time completes them (Crosby and Wallach §3.3, as Go's StoredHashIndex).
 */
export function storedHashIndex(level: number, n: number): number {
  for (let l = level; l > 0; l--) n = 2 * n + 1;
  let i = 0;
  for (; n > 0; n = Math.floor(n / 2)) i += n;
  return i + level;
}

/** The inverse of storedHashIndex: the (level, n) of a storage index. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  // storedHashIndex(0, n) < 2n, so the leaf that completed this hash is in [index/2, index/2 + log2 index].
  let n = Math.floor(index / 2);
  let indexN = storedHashIndex(0, n);
  if (indexN > index) throw new Error("storage index arithmetic failed");
  for (;;) {
    // Each leaf n adds 1 + trailingZeros(n + 1) hashes.
    const next = indexN + 1 + trailingZeros(n + 1);
    if (next > index) break;
    n++;
    indexN = next;
  }
  const level = index - indexN;
  return { level, n: shiftRight(n, level) };
}

/** Number of hashes stored for a tree of `size` leaves. */
export function storedHashCount(size: number): number {
  if (size === 0) return 0;
  let count = storedHashIndex(0, size - 1) + 1;
  for (let i = size - 1; isOdd(i); i = Math.floor(i / 2)) count++;
  return count;
}

/**
 * The tile of least width holding the hash with storage `index`, and the byte range of that tile's
 * data from which the hash is rebuilt (hashes of levels between tile levels are not stored: they
 * are the subtree hash of 2^k consecutive entries).
 */
export function tileForIndex(index: number): { tile: Tile; start: number; end: number } {
  const split = splitStoredHashIndex(index);
  let level = split.level;
  let n = split.n;
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  level -= tileLevel * TILE_HEIGHT; // level within the tile
  const tileIndex = shiftRight(n * 2 ** level, TILE_HEIGHT);
  n -= (tileIndex * TILE_WIDTH) / 2 ** level; // position within the tile at that level
  const width = (n + 1) * 2 ** level;
  return {
    tile: { level: tileLevel, index: tileIndex, width },
    start: n * 2 ** level * HASH_SIZE,
    end: (n + 1) * 2 ** level * HASH_SIZE,
  };
}

/** The subtree hash of 2^k consecutive hashes (a tile's entries). */
export function tileHash(data: Uint8Array): Hash {
  if (data.length === 0 || data.length % HASH_SIZE !== 0) throw new Error("tile data is not whole hashes");
  if (data.length === HASH_SIZE) return new Uint8Array(data); // a copy (slice on a Node buffer would be a view)
  const half = data.length / 2;
  return nodeHash(tileHash(data.subarray(0, half)), tileHash(data.subarray(half)));
}

/**
 * The hash with storage `index` from the data of `tile`, which must be tileForIndex(index).tile or
 * a wider version of it; `data` may be longer than the tile (a stored row that grew since).
 */
export function hashFromTile(tile: Tile, data: Uint8Array, index: number): Hash {
  if (!isValidTile(tile)) throw new Error(`invalid tile ${JSON.stringify(tile)}`);
  if (data.length < tile.width * HASH_SIZE) throw new Error(`data too short for tile ${tilePath(tile)}`);
  const located = tileForIndex(index);
  if (
    located.tile.level !== tile.level ||
    located.tile.index !== tile.index ||
    tile.width < located.tile.width
  ) {
    throw new Error(`hash ${index} is in ${tilePath(located.tile)}, not ${tilePath(tile)}`);
  }
  return tileHash(data.subarray(located.start, located.end));
}

/** The width of tile (level, index) in a tree of `size` leaves (0 when the tree has none of it yet). */
export function tileWidthAt(level: number, index: number, size: number): number {
  const hashesAtLevel = shiftRight(size, TILE_HEIGHT * level);
  return Math.max(0, Math.min(TILE_WIDTH, hashesAtLevel - index * TILE_WIDTH));
}

/**
 * The tiles a tree of `newSize` publishes that a tree of `oldSize` did not: every full tile
 * completed in between, and each level's partial tile at its new width (as Go's NewTiles, keeping
 * only the final width of each partial tile: one stored row per (level, index) grows in place).
 */
export function newTiles(oldSize: number, newSize: number): Tile[] {
  const tiles: Tile[] = [];
  for (let level = 0; shiftRight(newSize, TILE_HEIGHT * level) > 0; level++) {
    const oldN = shiftRight(oldSize, TILE_HEIGHT * level);
    const newN = shiftRight(newSize, TILE_HEIGHT * level);
    const lastTile = shiftRight(newN, TILE_HEIGHT);
    for (let index = shiftRight(oldN, TILE_HEIGHT); index < lastTile; index++) {
      tiles.push({ level, index, width: TILE_WIDTH });
    }
    const width = newN - lastTile * TILE_WIDTH;
    if (width > 0 && newN > oldN) tiles.push({ level, index: lastTile, width });
  }
  return tiles;
}

export function isValidTile(tile: Tile): boolean {
  return (
    Number.isSafeInteger(tile.level) &&
    tile.level >= 0 &&
    tile.level < 64 &&
    Number.isSafeInteger(tile.index) &&
    tile.index >= 0 &&
    tile.index * TILE_WIDTH <= MAX_TREE_SIZE &&
    Number.isInteger(tile.width) &&
    tile.width >= 1 &&
    tile.width <= TILE_WIDTH
  );
}

/** `tile/<L>/<N>[.p/<W>]`, N written in 3-digit groups all but the last prefixed "x": x001/x234/067. */
export function tilePath(tile: Tile): string {
  let n = tile.index;
  let encoded = String(n % 1000).padStart(3, "0");
  while (n >= 1000) {
    n = Math.floor(n / 1000);
    encoded = `x${String(n % 1000).padStart(3, "0")}/${encoded}`;
  }
  const partial = tile.width === TILE_WIDTH ? "" : `.p/${tile.width}`;
  return `tile/${tile.level}/${encoded}${partial}`;
}

/** The tile a path names; undefined unless the path is exactly tilePath of a valid tile. */
export function parseTilePath(path: string): Tile | undefined {
  const match = /^tile\/(0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path);
  if (!match) return undefined;
  let index = 0;
  for (const group of match[2]!.split("/")) index = index * 1000 + Number(group.replace("x", ""));
  const tile: Tile = { level: Number(match[1]), index, width: match[3] ? Number(match[3]) : TILE_WIDTH };
  if (!isValidTile(tile) || tilePath(tile) !== path) return undefined;
  return tile;
}
