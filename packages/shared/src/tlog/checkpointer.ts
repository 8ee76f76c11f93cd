// Signing checkpoints (spec §13). One process at a time signs (a PostgreSQL advisory lock held for
// the round): every CHECKPOINT_INTERVAL_SECONDS each tenant whose tree grew since its latest
// checkpoint gets a new one, and a tree still behind its sequence (history from before the tree)
// is backfilled a chunk at a time. On demand, POST /api/v1/checkpoints and `pnpm vigil checkpoint`
// sign one tenant at once. Every new checkpoint is then anchored outside the database.
import { treeHash } from "@vigil/verify";
import type { VigilConfig } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logging/logger.ts";
import { type TenantScope, tenantScope } from "../query/tenant-scope.ts";
import { backfillTreeChunk } from "./backfill-tree.ts";
import { type CheckpointAnchor, checkpointAnchorsFromConfig } from "./checkpoint-anchors.ts";
import { type CheckpointSigner, loadCheckpointSigner } from "./checkpoint-signer.ts";
import { insertCheckpoint, latestCheckpoint, type StoredCheckpoint } from "./checkpoint-store.ts";
import "./node-sha256.ts";
import { tileReader } from "./tile-store.ts";

/** Key of the advisory lock that makes one process at a time the checkpointer. */
const CHECKPOINTER_LOCK = 0x76_69_67_6c_74_6c_6f_67n; // "vigltlog"

export interface CheckpointerOptions {
  /** `<VIGIL_LOG_ORIGIN>`: a tenant's origin is `<origin>/<tenant_id>`. */
  origin: string;
  signer: CheckpointSigner;
  anchors: CheckpointAnchor[];
  logger: Logger;
}

export interface SignResult {
  checkpoint: StoredCheckpoint;
  /** False when the tree had not grown since the latest checkpoint (that one is returned). */
  created: boolean;
}

export interface RoundResult {
  /** False when another process holds the checkpointer lock. */
  ran: boolean;
  signed: number;
  backfilled: number;
  failed: number;
}

export class Checkpointer {
  constructor(
    readonly db: Database,
    readonly options: CheckpointerOptions,
  ) {}

  origin(tenantId: string): string {
    return `${this.options.origin}/${tenantId}`;
  }

  /** Signs the tenant's current tree unless its latest checkpoint already has that size. */
  async signTenant(scope: TenantScope): Promise<SignResult> {
    const result = await this.db.withTenant(scope.tenantId, async (tx) => {
      const [sequence] = await tx<{ tree_size: number }[]>`
        select tree_size from tenant_sequences where tenant_id = ${scope.tenantId}`;
      const size = sequence?.tree_size ?? 0;
      const latest = await latestCheckpoint(tx, scope.tenantId);
      if (latest && latest.tree_size === size) return { checkpoint: latest, created: false };
      if (latest && latest.tree_size > size) {
        throw new Error(
          `tenant ${scope.tenantId}: the tree (size ${size}) is smaller than its latest checkpoint (${latest.tree_size}); refusing to sign a rollback`,
        );
      }
      // Tiles only grow, so the root of `size` is the same whatever the worker commits meanwhile.
      const root = await treeHash(size, tileReader(tx, scope.tenantId));
      const note = await this.options.signer.signCheckpoint(this.origin(scope.tenantId), size, root);
      const stored = await insertCheckpoint(tx, scope.tenantId, { tree_size: size, root_hash: root, note });
      if (stored.created) await this.recordKeyUse(tx);
      return stored;
    });
    if (result.created) await this.anchor(scope.tenantId, result.checkpoint);
    return result;
  }

  /** The public halves of the keys that signed, with the window they signed in (GET /checkpoints/keys). */
  private async recordKeyUse(tx: Parameters<Parameters<Database["withTenant"]>[1]>[0]) {
    const keys = this.options.signer.keys;
    await tx`
      insert into tlog_signing_keys (verifier_key, key_name, key_id)
      select * from unnest(${keys.map((key) => key.verifier_key)}::text[], ${keys.map((key) => key.name)}::text[],
                           ${keys.map((key) => key.key_id)}::text[])
      on conflict (verifier_key) do update set last_signed_at = now()`;
  }

  private async anchor(tenantId: string, checkpoint: StoredCheckpoint) {
    for (const anchor of this.options.anchors) {
      try {
        await anchor.anchor({ tenant_id: tenantId, tree_size: checkpoint.tree_size, note: checkpoint.note });
      } catch (error) {
        // The checkpoint is signed and stored; the next checkpoint is anchored again (a monitor
        // comparing anchors sees the gap).
        this.options.logger.warn(
          { tenant_id: tenantId, tree_size: checkpoint.tree_size, anchor: anchor.name, err: error },
          "checkpoint not anchored",
        );
      }
    }
  }

  /**
   * One round over every tenant whose tree needs work, if this process gets the checkpointer lock.
   * A session-level advisory lock on a reserved connection (not a transaction held open for the
   * round, which the idle-in-transaction timeout would end): a crashed process's session ends and
   * releases it.
   */
  async runRound(): Promise<RoundResult> {
    const result: RoundResult = { ran: false, signed: 0, backfilled: 0, failed: 0 };
    const lock = await this.db.sql.reserve();
    try {
      const [{ locked } = { locked: false }] = await lock<{ locked: boolean }[]>`
        select pg_try_advisory_lock(${CHECKPOINTER_LOCK.toString()}::bigint) as locked`;
      if (!locked) return result;
      try {
        result.ran = true;
        const pending = await lock<{ tenant_id: string; tree_size: number; last_seq: number }[]>`
          select tenant_id, tree_size, last_seq from vigil_tlog_pending()`;
        for (const tenant of pending) await this.roundForTenant(tenant, result);
      } finally {
        await lock`select pg_advisory_unlock(${CHECKPOINTER_LOCK.toString()}::bigint)`.catch(() => undefined);
      }
    } finally {
      lock.release();
    }
    return result;
  }

  private async roundForTenant(
    tenant: { tenant_id: string; tree_size: number; last_seq: number },
    result: RoundResult,
  ): Promise<void> {
    const scope = tenantScope(tenant.tenant_id);
    try {
      if (tenant.tree_size < tenant.last_seq) {
        const progress = await backfillTreeChunk(this.db, scope);
        result.backfilled += progress.tree_size - tenant.tree_size;
        this.options.logger.info(progress, "tree backfill progress");
      }
      if ((await this.signTenant(scope)).created) result.signed++;
    } catch (error) {
      result.failed++;
      this.options.logger.error(
        { tenant_id: tenant.tenant_id, err: error },
        "checkpoint round failed for tenant",
      );
    }
  }

  /** Runs a round every `intervalSeconds` until stopped; `stop` waits for the round in hand. */
  start(intervalSeconds: number): { stop: () => Promise<void> } {
    let stopped = false;
    let current: Promise<unknown> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      current = this.runRound()
        .catch((error) => this.options.logger.error({ err: error }, "checkpoint round failed"))
        .finally(() => {
          if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
        });
    };
    timer = setTimeout(tick, 0);
    return {
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        await current;
      },
    };
  }
}

/**
 * The worker's checkpointer from configuration: null (and a warning) when no signing key is
 * configured — the tree is still kept, but nothing is signed. Throws on a malformed key.
 */
export async function startCheckpointerFromConfig(
  config: VigilConfig,
  db: Database,
  logger: Logger,
): Promise<{ stop: () => Promise<void> } | null> {
  const signer = await loadCheckpointSigner(config);
  if (!signer) {
    logger.warn(
      "no CHECKPOINT_SIGNING_KEY(_FILE) configured: the Merkle tree is kept, checkpoints are not signed",
    );
    return null;
  }
  const checkpointer = new Checkpointer(db, {
    origin: config.VIGIL_LOG_ORIGIN,
    signer,
    anchors: checkpointAnchorsFromConfig(config),
    logger,
  });
  logger.info(
    { verifier_key: signer.keys[0]?.verifier_key, interval_seconds: config.CHECKPOINT_INTERVAL_SECONDS },
    "checkpointer started",
  );
  return checkpointer.start(config.CHECKPOINT_INTERVAL_SECONDS);
}
