// One-off backfill of history stored before the Merkle tree existed: the events seq tree_size + 1 …
// last_seq are appended in seq order, a chunk per transaction under the tenant's sequence lock (so
// the worker waits for at most one chunk). Once the tree has caught up with last_seq the worker
// appends every new batch itself (store-events.ts). Runs from the checkpointer and from
// `pnpm vigil tlog backfill`.
import type { Database } from "../db/database.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import { appendTenantLeaves, type LeafSource } from "./append-leaves.ts";

export const BACKFILL_CHUNK = 5000;

export interface BackfillProgress {
  tenant_id: string;
  tree_size: number;
  last_seq: number;
}

export class BackfillGapError extends Error {
  constructor(
    readonly tenantId: string,
    readonly seq: number,
  ) {
    super(
      `tenant ${tenantId}: seq ${seq} was removed before the tree existed, so the tree cannot be built past it`,
    );
    this.name = "BackfillGapError";
  }
}

/** Appends one chunk; resolves with the progress after it (tree_size = last_seq when done). */
export async function backfillTreeChunk(
  db: Database,
  scope: TenantScope,
  chunk = BACKFILL_CHUNK,
): Promise<BackfillProgress> {
  return db.withTenant(scope.tenantId, async (tx) => {
    const [sequence] = await tx<{ tree_size: number; last_seq: number }[]>`
      select tree_size, last_seq from tenant_sequences where tenant_id = ${scope.tenantId} for update`;
    if (!sequence) return { tenant_id: scope.tenantId, tree_size: 0, last_seq: 0 };
    const upTo = Math.min(sequence.last_seq, sequence.tree_size + chunk);
    if (upTo <= sequence.tree_size) return { tenant_id: scope.tenantId, ...sequence };
    const events = await tx<LeafSource[]>`
      select seq, id, hash from events
      where tenant_id = ${scope.tenantId} and seq > ${sequence.tree_size} and seq <= ${upTo}
      order by seq`;
    const gap = events.findIndex((event, offset) => event.seq !== sequence.tree_size + offset + 1);
    if (gap !== -1 || events.length !== upTo - sequence.tree_size) {
      throw new BackfillGapError(scope.tenantId, sequence.tree_size + (gap === -1 ? events.length : gap) + 1);
    }
    const treeSize = await appendTenantLeaves(tx, scope.tenantId, sequence.tree_size, events);
    await tx`update tenant_sequences set tree_size = ${treeSize} where tenant_id = ${scope.tenantId}`;
    return { tenant_id: scope.tenantId, tree_size: treeSize, last_seq: sequence.last_seq };
  });
}

/** Backfills a tenant's tree completely, reporting progress after every chunk. */
export async function backfillTree(
  db: Database,
  scope: TenantScope,
  onProgress: (progress: BackfillProgress) => void = () => {},
  chunk = BACKFILL_CHUNK,
): Promise<BackfillProgress> {
  for (;;) {
    const progress = await backfillTreeChunk(db, scope, chunk);
    onProgress(progress);
    // last_seq may have moved on, but the worker appends new batches itself once caught up.
    if (progress.tree_size >= progress.last_seq) return progress;
  }
}
