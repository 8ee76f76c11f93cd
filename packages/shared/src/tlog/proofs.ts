// Proofs served by the api (spec §13), each with the signed checkpoint it refers to: an event's
// inclusion in a signed tree, and the consistency of two signed trees. Proofs are built from the
// stored tiles, reading O(log n) hashes from at most a few rows per tile level.
import { eventLeafHash, proveConsistency, proveInclusion, toBase64 } from "@vigil/verify";
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import { checkpointAt, latestCheckpoint, type StoredCheckpoint } from "./checkpoint-store.ts";
import "./node-sha256.ts";
import { tileReader } from "./tile-store.ts";

export interface InclusionProof {
  seq: number;
  leaf_index: number;
  tree_size: number;
  /** Standard base64, as every hash of spec §13. */
  leaf_hash: string;
  inclusion_path: string[];
  checkpoint: string;
}

export interface ConsistencyProof {
  from: number;
  to: number;
  consistency_path: string[];
  checkpoint_from: string;
  checkpoint_to: string;
}

const base64 = (hash: Uint8Array) => toBase64(hash);

/** A checkpoint signed at exactly `size` (404 otherwise), or the latest when `size` is undefined. */
async function signedTree(
  tx: Parameters<typeof latestCheckpoint>[0],
  scope: TenantScope,
  size: number | undefined,
  field: string,
): Promise<StoredCheckpoint | null> {
  if (size === undefined) return latestCheckpoint(tx, scope.tenantId);
  const checkpoint = await checkpointAt(tx, scope.tenantId, size);
  if (!checkpoint) {
    throw new VigilError("NOT_FOUND", `no checkpoint was signed at tree size ${size}`, [
      { path: field, message: "must be a tree size a checkpoint was signed at" },
    ]);
  }
  return checkpoint;
}

/**
 * The inclusion proof of event `id` in the signed tree of `size` (default: the latest checkpoint).
 * An event no checkpoint covers yet is a 409 with Retry-After (the next checkpoint will).
 */
export async function eventInclusionProof(
  db: Database,
  scope: TenantScope,
  id: string,
  options: { size?: number; retryAfterSeconds: number },
): Promise<InclusionProof> {
  return db.withTenant(scope.tenantId, async (tx) => {
    const [event] = await tx<{ seq: number; id: string; hash: string }[]>`
      select e.seq, e.id, e.hash from event_ids i
      join events e on e.tenant_id = i.tenant_id and e.occurred_at = i.occurred_at and e.seq = i.seq
      where i.tenant_id = ${scope.tenantId} and i.id = ${id}::uuid`;
    if (!event) throw new VigilError("NOT_FOUND", "no event with that id");
    const checkpoint = await signedTree(tx, scope, options.size, "size");
    if (!checkpoint || checkpoint.tree_size < event.seq) {
      const latest = options.size === undefined ? checkpoint : await latestCheckpoint(tx, scope.tenantId);
      if (!latest || latest.tree_size < event.seq) {
        throw new VigilError(
          "CONFLICT",
          "the event is not yet covered by a signed checkpoint; retry after the next one",
          undefined,
          { "Retry-After": String(options.retryAfterSeconds) },
        );
      }
      throw new VigilError(
        "INVALID_PARAMETER",
        `the event (seq ${event.seq}) is not in the tree of size ${options.size}`,
        [{ path: "size", message: `must be at least the event's seq (${event.seq})` }],
      );
    }
    const index = event.seq - 1;
    const path = await proveInclusion(index, checkpoint.tree_size, tileReader(tx, scope.tenantId));
    return {
      seq: event.seq,
      leaf_index: index,
      tree_size: checkpoint.tree_size,
      leaf_hash: base64(eventLeafHash(event.seq, event.id, event.hash)),
      inclusion_path: path.map(base64),
      checkpoint: checkpoint.note,
    };
  });
}

/** The consistency proof between two signed trees (both sizes must have checkpoints). */
export async function checkpointConsistencyProof(
  db: Database,
  scope: TenantScope,
  from: number,
  to: number,
): Promise<ConsistencyProof> {
  if (from > to) {
    throw new VigilError("INVALID_PARAMETER", "`from` must not exceed `to`", [
      { path: "from", message: "must be at most `to`" },
    ]);
  }
  return db.withTenant(scope.tenantId, async (tx) => {
    const older = await signedTree(tx, scope, from, "from");
    const newer = await signedTree(tx, scope, to, "to");
    const path = await proveConsistency(from, to, tileReader(tx, scope.tenantId));
    return {
      from,
      to,
      consistency_path: path.map(base64),
      checkpoint_from: older!.note,
      checkpoint_to: newer!.note,
    };
  });
}
