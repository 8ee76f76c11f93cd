// `pnpm vigil verify`'s tree check: the tenant's Merkle tree recomputed from the stored rows, in seq
// order and constant memory, must have the root of the latest checkpoint, whose signature must
// verify with the configured keys. Seqs whose rows were removed (retention, cleanup) take their leaf
// from the stored tiles — the tree keeps them, so a removed range stays provably "was there".
import { eventLeafHash, openCheckpoint, RangeVerifier, TILE_WIDTH, toBase64 } from "@vigil/verify";
import type { Queryable } from "../db/database.ts";
import { latestCheckpoint, type StoredCheckpoint } from "./checkpoint-store.ts";
import "./node-sha256.ts";
import { readTiles } from "./tile-store.ts";

export interface TreeCheckResult {
  /** Size of the latest checkpoint the rows were checked against (null: none signed yet). */
  checkpoint_size: number | null;
  /** Leaves taken from tiles because their rows were removed. */
  leaves_from_tiles: number;
  problems: Array<{ problem: "tree_mismatch" | "checkpoint_invalid"; seq: number; detail: string }>;
}

/** Tiles read per query while filling removed ranges. */
const TILES_PER_READ = 64;

export class TreeCheck {
  readonly result: TreeCheckResult;
  readonly #checkpoint: StoredCheckpoint | null;
  readonly #verifier: RangeVerifier | null;
  /** Leaves pushed: the next leaf's seq is #pushed + 1. */
  #pushed = 0;

  private constructor(
    private readonly tx: Queryable,
    private readonly tenantId: string,
    checkpoint: StoredCheckpoint | null,
  ) {
    this.#checkpoint = checkpoint;
    this.result = { checkpoint_size: checkpoint?.tree_size ?? null, leaves_from_tiles: 0, problems: [] };
    this.#verifier =
      checkpoint && checkpoint.tree_size > 0
        ? new RangeVerifier(
            { start: 0, end: checkpoint.tree_size, treeSize: checkpoint.tree_size, left: [], right: [] },
            checkpoint.root_hash,
          )
        : null;
  }

  /**
   * Starts a check against the tenant's latest checkpoint. With `verifierKeys`, the checkpoint's
   * signature must verify with one of them and name `origin`; its text must match the stored root.
   */
  static async begin(
    tx: Queryable,
    tenantId: string,
    options: { verifierKeys?: readonly string[]; origin?: string },
  ): Promise<TreeCheck> {
    const checkpoint = await latestCheckpoint(tx, tenantId);
    const check = new TreeCheck(tx, tenantId, checkpoint);
    if (checkpoint) await check.checkNote(checkpoint, options);
    return check;
  }

  private async checkNote(
    checkpoint: StoredCheckpoint,
    options: { verifierKeys?: readonly string[]; origin?: string },
  ) {
    const invalid = (detail: string) =>
      this.result.problems.push({ problem: "checkpoint_invalid", seq: checkpoint.tree_size, detail });
    if (!options.verifierKeys?.length) return;
    try {
      const { checkpoint: signed } = await openCheckpoint(checkpoint.note, options.verifierKeys);
      if (
        signed.size !== checkpoint.tree_size ||
        toBase64(signed.rootHash) !== toBase64(checkpoint.root_hash)
      ) {
        invalid("the signed note's size or root differs from the stored checkpoint row");
      }
      if (options.origin && signed.origin !== `${options.origin}/${this.tenantId}`) {
        invalid(`the checkpoint names origin ${signed.origin}`);
      }
    } catch (error) {
      invalid(
        `latest checkpoint (size ${checkpoint.tree_size}) does not verify with the configured keys: ${(error as Error).message}`,
      );
    }
  }

  /**
   * The leaf of a stored row, in seq order (rows past the checkpoint are not in its tree). False
   * when leaves before it are missing: fill them with pushFromTiles(seq - 1), then push again.
   */
  pushRow(seq: number, id: string, hash: string): boolean {
    if (!this.#verifier || seq <= this.#pushed || seq > this.#checkpoint!.tree_size) return true;
    if (seq !== this.#pushed + 1) return false;
    this.#verifier.push(eventLeafHash(seq, id, hash));
    this.#pushed = seq;
    return true;
  }

  /** Leaves of seqs up to `toSeq` that have no row, from the stored level-0 tiles. */
  async pushFromTiles(toSeq: number): Promise<void> {
    if (!this.#verifier) return;
    const size = this.#checkpoint!.tree_size;
    const last = Math.min(toSeq, size);
    while (this.#pushed < last) {
      const firstTile = Math.floor(this.#pushed / TILE_WIDTH);
      const lastTile = Math.min(Math.floor((last - 1) / TILE_WIDTH), firstTile + TILES_PER_READ - 1);
      const tiles = [];
      for (let index = firstTile; index <= lastTile; index++) {
        tiles.push({ level: 0, index, width: Math.min(TILE_WIDTH, size - index * TILE_WIDTH) });
      }
      let data: Uint8Array[];
      try {
        data = await readTiles(this.tx, this.tenantId, tiles);
      } catch (error) {
        this.result.problems.push({
          problem: "tree_mismatch",
          seq: this.#pushed + 1,
          detail: (error as Error).message,
        });
        this.#pushed = last;
        return;
      }
      const until = Math.min(last, (lastTile + 1) * TILE_WIDTH);
      for (let leaf = this.#pushed; leaf < until; leaf++) {
        const tile = data[Math.floor(leaf / TILE_WIDTH) - firstTile]!;
        const offset = (leaf % TILE_WIDTH) * 32;
        this.#verifier.push(tile.subarray(offset, offset + 32));
        this.result.leaves_from_tiles++;
      }
      this.#pushed = until;
    }
  }

  /** Completes the check: every leaf of the checkpoint's tree must have been pushed. */
  async finish(): Promise<TreeCheckResult> {
    if (this.#verifier) {
      await this.pushFromTiles(this.#checkpoint!.tree_size);
      const failure = this.#verifier.finish();
      if (failure) {
        this.result.problems.push({
          problem: "tree_mismatch",
          seq: this.#checkpoint!.tree_size,
          detail: `the tree recomputed from the rows does not match checkpoint ${this.#checkpoint!.tree_size}: ${failure}`,
        });
      }
    }
    return this.result;
  }
}
