// Signed checkpoints of a tenant's tree, kept with their history in tlog_checkpoints. The table's
// primary key (tenant, size) is the rule "a log never signs two different roots for one size": a
// second insert for a size keeps the first, and a different root for it is refused loudly.
import type { Queryable } from "../db/database.ts";

export interface StoredCheckpoint {
  tree_size: number;
  root_hash: Uint8Array;
  /** The signed note, as served at GET /api/v1/checkpoints/latest. */
  note: string;
  created_at: Date;
}

export class CheckpointConflictError extends Error {
  constructor(
    readonly tenantId: string,
    readonly size: number,
  ) {
    super(`tenant ${tenantId}: a different root is already signed for tree size ${size}`);
    this.name = "CheckpointConflictError";
  }
}

type Row = { tree_size: number; root_hash: Buffer; note: string; created_at: Date };

const toCheckpoint = (row: Row): StoredCheckpoint => ({
  tree_size: row.tree_size,
  root_hash: new Uint8Array(row.root_hash),
  note: row.note,
  created_at: row.created_at,
});

export async function latestCheckpoint(tx: Queryable, tenantId: string): Promise<StoredCheckpoint | null> {
  const [row] = await tx<Row[]>`
    select tree_size, root_hash, note, created_at from tlog_checkpoints
    where tenant_id = ${tenantId} order by tree_size desc limit 1`;
  return row ? toCheckpoint(row) : null;
}

export async function checkpointAt(
  tx: Queryable,
  tenantId: string,
  size: number,
): Promise<StoredCheckpoint | null> {
  const [row] = await tx<Row[]>`
    select tree_size, root_hash, note, created_at from tlog_checkpoints
    where tenant_id = ${tenantId} and tree_size = ${size}`;
  return row ? toCheckpoint(row) : null;
}

/** Stores a checkpoint; resolves with the one stored for that size (this one, or an equal earlier one). */
export async function insertCheckpoint(
  tx: Queryable,
  tenantId: string,
  checkpoint: { tree_size: number; root_hash: Uint8Array; note: string },
): Promise<{ checkpoint: StoredCheckpoint; created: boolean }> {
  const root = Buffer.from(checkpoint.root_hash);
  const [inserted] = await tx<Row[]>`
    insert into tlog_checkpoints (tenant_id, tree_size, root_hash, note)
    values (${tenantId}, ${checkpoint.tree_size}, ${root}, ${checkpoint.note})
    on conflict (tenant_id, tree_size) do nothing
    returning tree_size, root_hash, note, created_at`;
  if (inserted) return { checkpoint: toCheckpoint(inserted), created: true };
  const existing = await checkpointAt(tx, tenantId, checkpoint.tree_size);
  if (!existing || !root.equals(Buffer.from(existing.root_hash))) {
    throw new CheckpointConflictError(tenantId, checkpoint.tree_size);
  }
  return { checkpoint: existing, created: false };
}
