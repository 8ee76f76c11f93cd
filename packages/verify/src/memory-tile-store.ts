// An in-memory tile store: the reference TileReader for tests and small tools, storing one growing
// row per (level, index) exactly as a database-backed store does.
import { HASH_SIZE } from "./merkle-hash.ts";
import type { TileReader, TileWrite } from "./tile-log.ts";
import { type Tile, tilePath } from "./tiles.ts";

export class MemoryTileStore implements TileReader {
  readonly #rows = new Map<string, Uint8Array>();
  /** Number of readTiles calls and tiles read, to check proof generation stays O(log n). */
  readonly reads = { calls: 0, tiles: 0 };

  write(writes: readonly TileWrite[]): void {
    for (const { tile, data } of writes) {
      const key = `${tile.level}/${tile.index}`;
      const row = this.#rows.get(key);
      if (row && row.length > data.length) throw new Error(`tile ${tilePath(tile)} would shrink`);
      this.#rows.set(key, new Uint8Array(data));
    }
  }

  /** Every stored row (each at its widest: narrower tiles are its prefixes). */
  rows(): Array<{ level: number; index: number; data: Uint8Array }> {
    return [...this.#rows].map(([key, data]) => {
      const [level, index] = key.split("/").map(Number) as [number, number];
      return { level, index, data };
    });
  }

  /** The stored row of a tile, cut to the tile's width; undefined when the row is shorter. */
  tileData(tile: Tile): Uint8Array | undefined {
    const row = this.#rows.get(`${tile.level}/${tile.index}`);
    if (!row || row.length < tile.width * HASH_SIZE) return undefined;
    return row.subarray(0, tile.width * HASH_SIZE);
  }

  async readTiles(tiles: Tile[]): Promise<Uint8Array[]> {
    this.reads.calls++;
    this.reads.tiles += tiles.length;
    return tiles.map((tile) => {
      const data = this.tileData(tile);
      if (!data) throw new Error(`tile ${tilePath(tile)} is not stored`);
      return data;
    });
  }
}
