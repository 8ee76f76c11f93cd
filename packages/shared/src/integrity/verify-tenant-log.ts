// The verifier: proves a tenant's stored history is untouched. Every row's hash is recomputed from
// its stored fields, every chain link is re-derived from the row before it (by seq), and the head
// of the chain must equal the one recorded in tenant_sequences. Rows removed by cleanup or
// retention are accounted for by their removal records (event_removed_ranges): a missing seq is
// legitimate only when records cover it exactly, and the row after a removed run must link to the
// chain hash recorded for that run. An edited field, a deleted or reordered row, a dropped newest
// or oldest row, or a forged removal record each show up as a named problem. Erased rows (spec §13)
// keep their hash and chain link but cannot be rehashed: each must be named by an erasure event of
// the log. The Merkle tree is recomputed from the rows and must match the latest checkpoint, whose
// signature must verify with the configured keys (tlog/tree-check.ts).
import { type Compilable, sql } from "kysely";
import { compilable, type Database, runCursor } from "../db/database.ts";
import { computeChainHash, computeEventHash, GENESIS_CHAIN_HASH } from "../events/event-hash.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "../query/event-rows.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import { ERASURE_ACTION, ERASURE_RESOURCE_TYPE } from "../tlog/erase-event.ts";
import { TreeCheck } from "../tlog/tree-check.ts";

export interface IntegrityProblem {
  seq: number;
  id?: string;
  problem:
    | "hash_mismatch"
    | "chain_mismatch"
    | "seq_gap"
    | "head_mismatch"
    | "removal_record_mismatch"
    | "erasure_unrecorded"
    | "tree_mismatch"
    | "checkpoint_invalid";
  detail: string;
}

export interface IntegrityReport {
  tenant_id: string;
  /** Stored rows checked. */
  checked: number;
  /** Seqs accounted for by removal records instead of stored rows. */
  removed: number;
  /** Stored rows whose personal data was erased: their hash cannot be recomputed, their chain link can. */
  erased: number;
  first_seq: number | null;
  last_seq: number | null;
  ok: boolean;
  problems: IntegrityProblem[];
  /** The Merkle tree recomputed from the rows, against the latest signed checkpoint. */
  tree: { checkpoint_size: number | null; leaves_from_tiles: number };
}

/** A stored row (`removed` false, from_seq = to_seq = seq) or a removal record (event columns null). */
type LogEntry = EventRow & {
  removed: boolean;
  from_seq: number;
  to_seq: number;
  chain_hash: string;
  salt: string | null;
  erased: { at: string; by: string; fields: string[] } | null;
};

/**
 * The tenant's stored rows and removal records, merged in seq order by the database (the walk keeps
 * constant memory however many records there are); at an equal seq the stored row comes first.
 */
export function verifyQuery(scope: TenantScope): Compilable<LogEntry> {
  return compilable(sql<LogEntry>`
    select false as removed, seq as from_seq, seq as to_seq, chain_hash, salt, erased, ${sql.join(EVENT_COLUMNS.map((column) => sql.ref(column)))}
    from events where tenant_id = ${scope.tenantId}
    union all
    select true, from_seq, to_seq, last_chain_hash, null, null, ${sql.join(EVENT_COLUMNS.map(() => sql`null`))}
    from event_removed_ranges where tenant_id = ${scope.tenantId}
    order by from_seq, removed`);
}

export async function verifyTenantLog(
  db: Database,
  scope: TenantScope,
  options: {
    maxProblems?: number;
    /** Verifier keys the latest checkpoint's signature must verify with (from configuration, not the database). */
    checkpointKeys?: readonly string[];
    /** VIGIL_LOG_ORIGIN: the checkpoint must name `<origin>/<tenant_id>`. */
    origin?: string;
  } = {},
): Promise<IntegrityReport> {
  const maxProblems = options.maxProblems ?? 100;
  const report: IntegrityReport = {
    tenant_id: scope.tenantId,
    checked: 0,
    removed: 0,
    erased: 0,
    first_seq: null,
    last_seq: null,
    ok: true,
    problems: [],
    tree: { checkpoint_size: null, leaves_from_tiles: 0 },
  };
  const note = (problem: IntegrityProblem) => {
    report.ok = false;
    if (report.problems.length < maxProblems) report.problems.push(problem);
  };
  const missing = (next: number, seq: number) =>
    next === 1
      ? `history before seq ${seq} missing without a removal record`
      : `seq ${next}..${seq - 1} missing without a removal record`;

  // Erased rows (id → seq); each must be named by an erasure event of this log.
  const erasedIds = new Map<string, number>();
  await db.withTenant(scope.tenantId, async (tx) => {
    // Every seq below `next` is accounted for, by a stored row or a removal record (`after` says
    // which came last); `chain` is the chain hash at seq next - 1.
    let next = 1;
    let chain = GENESIS_CHAIN_HASH;
    let after: "genesis" | "event" | "removal" = "genesis";
    const tree = await TreeCheck.begin(tx, scope.tenantId, {
      verifierKeys: options.checkpointKeys,
      origin: options.origin,
    });
    for await (const batch of runCursor(tx, verifyQuery(scope), 2000)) {
      for (const entry of batch) {
        if (entry.removed) {
          const { from_seq: from, to_seq: to } = entry;
          if (to < from || from < next) {
            const why =
              to < from
                ? "is empty"
                : `overlaps seq ${from}..${Math.min(to, next - 1)}, already accounted for`;
            note({
              seq: from,
              problem: "removal_record_mismatch",
              detail: `removal record ${from}..${to} ${why}`,
            });
            continue;
          }
          if (from > next) note({ seq: from, problem: "seq_gap", detail: missing(next, from) });
          report.removed += to - from + 1;
          next = to + 1;
          chain = entry.chain_hash;
          after = "removal";
          continue;
        }

        const event = toStoredEvent(entry);
        const { hash: storedHash, ...fields } = event;
        if (entry.erased) {
          // The salt went with the personal data, so the hash cannot be recomputed; the erasure
          // must be recorded by its own event in this log (checked below).
          report.erased++;
          erasedIds.set(event.id, event.seq);
        } else if (computeEventHash({ ...fields, salt: entry.salt }) !== storedHash) {
          note({
            seq: event.seq,
            id: event.id,
            problem: "hash_mismatch",
            detail: "stored fields do not match the stored hash",
          });
        }
        if (!tree.pushRow(event.seq, event.id, storedHash)) {
          await tree.pushFromTiles(event.seq - 1);
          tree.pushRow(event.seq, event.id, storedHash);
        }
        report.first_seq ??= event.seq;
        report.last_seq = event.seq;
        report.checked++;
        if (event.seq < next) {
          if (after === "removal") {
            note({
              seq: event.seq,
              id: event.id,
              problem: "removal_record_mismatch",
              detail: `seq ${event.seq} is stored but recorded as removed`,
            });
          } else {
            note({
              seq: event.seq,
              id: event.id,
              problem: "seq_gap",
              detail: `seq ${event.seq} is stored more than once`,
            });
          }
          continue;
        }
        if (event.seq > next) note({ seq: event.seq, problem: "seq_gap", detail: missing(next, event.seq) });
        else if (computeChainHash(chain, storedHash) !== entry.chain_hash) {
          const detail = {
            genesis: "first event does not link to the genesis hash",
            event: "chain hash does not follow from the previous event",
            removal: `chain hash does not follow from the removal record ending at seq ${next - 1}`,
          }[after];
          note({ seq: event.seq, id: event.id, problem: "chain_mismatch", detail });
        }
        next = event.seq + 1;
        chain = entry.chain_hash;
        after = "event";
      }
    }

    const [head] = await tx<{ last_seq: number; last_chain_hash: string }[]>`
      select last_seq, last_chain_hash from tenant_sequences where tenant_id = ${scope.tenantId}`;
    if (head && head.last_seq > 0) {
      if (next - 1 !== head.last_seq) {
        note({
          seq: head.last_seq,
          problem: "head_mismatch",
          detail: `newest accounted-for seq is ${next - 1 || "none"}, the sequence says ${head.last_seq}`,
        });
      } else if (chain !== head.last_chain_hash) {
        note({
          seq: head.last_seq,
          problem: "head_mismatch",
          detail: "newest chain hash differs from the recorded head",
        });
      }
    }

    const treeResult = await tree.finish();
    report.tree = {
      checkpoint_size: treeResult.checkpoint_size,
      leaves_from_tiles: treeResult.leaves_from_tiles,
    };
    for (const problem of treeResult.problems) note(problem);

    // An erasure is legitimate only when recorded in the log itself (an event whose own hash
    // verified above); a row made to look erased by whoever holds the database is not.
    if (erasedIds.size > 0) {
      const recorded = await tx<{ resource_id: string }[]>`
        select resource_id from events
        where tenant_id = ${scope.tenantId} and action = ${ERASURE_ACTION} and resource_type = ${ERASURE_RESOURCE_TYPE}
          and erased is null and resource_id = any(${[...erasedIds.keys()]}::text[])`;
      for (const row of recorded) erasedIds.delete(row.resource_id);
      for (const [id, seq] of erasedIds) {
        note({
          seq,
          id,
          problem: "erasure_unrecorded",
          detail: "erased without an erasure event in the log",
        });
      }
    }
  });
  return report;
}
