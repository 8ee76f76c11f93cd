// Appending events to a tenant's Merkle tree, inside the transaction that stores them: the caller
// holds the tenant_sequences row lock, so appends are serialised per tenant and the tree commits
// (or rolls back) together with the rows — never behind or ahead of the table.
import { appendLeaves, eventLeafHash } from "@vigil/verify";
import type { Queryable } from "../db/database.ts";
import "./node-sha256.ts";
import { tileReader, writeTiles } from "./tile-store.ts";

export interface LeafSource {
  seq: number;
  id: string;
  /** The event hash, hex. */
  hash: string;
}

/**
 * Appends the leaves of `events` (seq oldSize + 1, oldSize + 2, … in order) to the tree of size
 * `oldSize` and stores the tiles that changed; returns the new size. Reads O(tree height) tiles.
 */
export async function appendTenantLeaves(
  tx: Queryable,
  tenantId: string,
  oldSize: number,
  events: readonly LeafSource[],
): Promise<number> {
  if (events.length === 0) return oldSize;
  const leafHashes = events.map((event, offset) => {
    if (event.seq !== oldSize + offset + 1) {
      throw new Error(`leaf for seq ${event.seq} appended at tree size ${oldSize + offset}`);
    }
    return eventLeafHash(event.seq, event.id, event.hash);
  });
  const tiles = await appendLeaves(oldSize, leafHashes, tileReader(tx, tenantId));
  await writeTiles(tx, tenantId, tiles);
  return oldSize + events.length;
}
