// Tile coordinates and paths, checked against values from Go's sumdb/tlog and the C2SP spec.
import { describe, expect, it } from "vitest";
import {
  newTiles,
  parseTilePath,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  tileForIndex,
  tilePath,
} from "../src/index.ts";

describe("tile paths", () => {
  it("encodes tile numbers in 3-digit groups with x prefixes, partial tiles with .p/W", () => {
    expect(tilePath({ level: 0, index: 0, width: 256 })).toBe("tile/0/000");
    expect(tilePath({ level: 4, index: 1234067, width: 1 })).toBe("tile/4/x001/x234/067.p/1");
    expect(tilePath({ level: 4, index: 1234067, width: 256 })).toBe("tile/4/x001/x234/067");
    expect(tilePath({ level: 1, index: 1000, width: 255 })).toBe("tile/1/x001/000.p/255");
  });

  it("parses exactly the paths it writes", () => {
    for (const tile of [
      { level: 0, index: 0, width: 256 },
      { level: 2, index: 999, width: 17 },
      { level: 5, index: 123456789012, width: 256 },
    ]) {
      expect(parseTilePath(tilePath(tile))).toEqual(tile);
    }
    for (const bad of [
      "tile/0/0",
      "tile/0/000.p/256",
      "tile/0/000.p/0",
      "tile/0/x000/001",
      "tile/00/000",
      "tile/8/000.p/01",
      "tile/0/001/002",
      "tile/-1/000",
      "tile/data/000",
      "tile/8/0/000",
      "/tile/0/000",
      "tile/0/000/",
    ]) {
      expect(parseTilePath(bad), bad).toBeUndefined();
    }
  });
});

describe("stored hash indexes", () => {
  it("numbers hashes in completion order and splits them back", () => {
    // Go's TestSplitStoredHashIndex sequence for the first leaves.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => storedHashIndex(0, n))).toEqual([0, 1, 3, 4, 7, 8, 10, 11]);
    expect(storedHashIndex(1, 0)).toBe(2);
    expect(storedHashIndex(2, 0)).toBe(6);
    for (let index = 0; index < 5000; index++) {
      const { level, n } = splitStoredHashIndex(index);
      expect(storedHashIndex(level, n)).toBe(index);
    }
    expect(storedHashCount(1)).toBe(1);
    expect(storedHashCount(2)).toBe(3);
    expect(storedHashCount(4)).toBe(7);
  });

  it("locates the tile of a hash, reconstructing intermediate levels from its entries", () => {
    expect(tileForIndex(storedHashIndex(0, 300)).tile).toEqual({ level: 0, index: 1, width: 45 });
    expect(tileForIndex(storedHashIndex(3, 2))).toEqual({
      tile: { level: 0, index: 0, width: 24 },
      start: 512,
      end: 768,
    });
    expect(tileForIndex(storedHashIndex(8, 5)).tile).toEqual({ level: 1, index: 0, width: 6 });
  });

  it("lists the new tiles of a growth like Go's NewTiles (final widths only)", () => {
    expect(newTiles(0, 1)).toEqual([{ level: 0, index: 0, width: 1 }]);
    expect(newTiles(255, 257)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 0, index: 1, width: 1 },
      { level: 1, index: 0, width: 1 },
    ]);
    expect(newTiles(256, 256)).toEqual([]);
  });
});
