// A tenant's Merkle tree as C2SP tiles (height 8) in PostgreSQL: one tlog_tiles row per tile whose
// `hashes` grows as the tree does (a partial tile is a prefix of the full one, and a trigger refuses
// any other change). Reading a tile of width W returns the row's first W hashes, so a reader can
// rebuild any earlier tree size from the current rows. Every call runs in the caller's
// transaction, scoped to the tenant (RLS).
import { HASH_SIZE, type Tile, type TileReader, tilePath } from "@vigil/verify";
import type { Queryable } from "../db/database.ts";

/** Thrown when the tiles of a tree size are not (all) stored: a bug or a tampered table. */
export class MissingTileError extends Error {
  constructor(readonly tile: Tile) {
    super(`tile ${tilePath(tile)} is not stored`);
    this.name = "MissingTileError";
  }
}

/** The tiles' data, in the order asked, each exactly `width` hashes long. One round trip. */
export async function readTiles(
  tx: Queryable,
  tenantId: string,
  tiles: readonly Tile[],
): Promise<Uint8Array[]> {
  if (tiles.length === 0) return [];
  const rows = await tx<{ level: number; idx: number; hashes: Buffer }[]>`
    select level, idx, hashes from tlog_tiles
    where tenant_id = ${tenantId}
      and (level, idx) in (select * from unnest(${tiles.map((tile) => tile.level)}::int2[], ${tiles.map((tile) => tile.index)}::int8[]))`;
  const byKey = new Map(rows.map((row) => [`${row.level}/${row.idx}`, row.hashes]));
  return tiles.map((tile) => {
    const hashes = byKey.get(`${tile.level}/${tile.index}`);
    const length = tile.width * HASH_SIZE;
    if (!hashes || hashes.length < length) throw new MissingTileError(tile);
    return new Uint8Array(hashes.buffer, hashes.byteOffset, length);
  });
}

/** A TileReader over one tenant's rows, inside the given transaction. */
export function tileReader(tx: Queryable, tenantId: string): TileReader {
  return { readTiles: (tiles) => readTiles(tx, tenantId, tiles) };
}

/**
 * Stores tiles: a new row per new tile, a longer version of a partial one. A shorter or equal
 * version never overwrites a row (a retried write is a no-op); a different prefix is refused by the
 * table's trigger.
 */
export async function writeTiles(
  tx: Queryable,
  tenantId: string,
  tiles: ReadonlyArray<{ tile: Tile; data: Uint8Array }>,
): Promise<void> {
  if (tiles.length === 0) return;
  await tx`
    insert into tlog_tiles (tenant_id, level, idx, hashes)
    select ${tenantId}, level, idx, decode(hashes, 'hex')
    from unnest(${tiles.map(({ tile }) => tile.level)}::int2[], ${tiles.map(({ tile }) => tile.index)}::int8[],
                ${tiles.map(({ data }) => Buffer.from(data.buffer, data.byteOffset, data.length).toString("hex"))}::text[])
      as t(level, idx, hashes)
    on conflict (tenant_id, level, idx) do update set hashes = excluded.hashes
    where length(excluded.hashes) > length(tlog_tiles.hashes)`;
}
