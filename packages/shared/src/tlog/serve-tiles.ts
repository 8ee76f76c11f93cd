// Serving a tenant's tiles read-only (GET /api/v1/tlog/{tenant_id}/tile/…), so auditors can mirror
// the tree with existing C2SP tile clients. A partial tile is served as the prefix of the stored
// row; a tile wider than the stored row does not exist (yet).
import { parseTilePath, TILE_WIDTH } from "@vigil/verify";
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import { MissingTileError, readTiles } from "./tile-store.ts";

export interface ServedTile {
  data: Uint8Array;
  /** A full tile never changes (immutable caching); a partial one grows into the full one. */
  full: boolean;
}

/** The tile a C2SP path names (`tile/<L>/<N>[.p/<W>]`); 404 for a malformed path or a tile not stored. */
export async function readTileForServing(
  db: Database,
  scope: TenantScope,
  path: string,
): Promise<ServedTile> {
  const tile = parseTilePath(path);
  if (!tile) {
    throw new VigilError("NOT_FOUND", "not a tile path: expected tile/<L>/<N>[.p/<W>] (C2SP tlog-tiles)", [
      { path: "tile_path", message: "must be tile/<L>/<N>[.p/<W>]" },
    ]);
  }
  try {
    const [data] = await db.withTenant(scope.tenantId, (tx) => readTiles(tx, scope.tenantId, [tile]));
    return { data: data!, full: tile.width === TILE_WIDTH };
  } catch (error) {
    if (error instanceof MissingTileError) throw new VigilError("NOT_FOUND", `${path} does not exist (yet)`);
    throw error;
  }
}
