// The verifier: proves a tenant's stored history is untouched. Every row's hash is recomputed from
// its stored fields, every chain link is re-derived from the row before it (by seq), and the head
// of the chain must equal the one recorded in tenant_sequences. An edited field, a deleted or
// reordered row, or a dropped newest row each show up as a named problem.
import { type Database, runCursor, queryBuilder } from "../db/database.ts";
import { computeChainHash, computeEventHash, GENESIS_CHAIN_HASH } from "../events/event-hash.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "../query/event-rows.ts";
import type { TenantScope } from "../query/tenant-scope.ts";

export interface IntegrityProblem {
  seq: number;
  id?: string;
  problem: "hash_mismatch" | "chain_mismatch" | "seq_gap" | "head_mismatch";
  detail: string;
}

export interface IntegrityReport {
  tenant_id: string;
  checked: number;
  first_seq: number | null;
  last_seq: number | null;
  ok: boolean;
  problems: IntegrityProblem[];
}

export function verifyQuery(scope: TenantScope) {
  return queryBuilder
    .selectFrom("events")
    .select([...EVENT_COLUMNS, "chain_hash"])
    .where("tenant_id", "=", scope.tenantId)
    .orderBy("seq", "asc");
}

export async function verifyTenantLog(db: Database, scope: TenantScope, options: { maxProblems?: number } = {}): Promise<IntegrityReport> {
  const maxProblems = options.maxProblems ?? 100;
  const report: IntegrityReport = { tenant_id: scope.tenantId, checked: 0, first_seq: null, last_seq: null, ok: true, problems: [] };
  const note = (problem: IntegrityProblem) => {
    report.ok = false;
    if (report.problems.length < maxProblems) report.problems.push(problem);
  };
  await db.withTenant(scope.tenantId, async (tx) => {
    let previousChain: string | null = null;
    let previousSeq: number | null = null;
    for await (const batch of runCursor(tx, verifyQuery(scope), 2000)) {
      for (const raw of batch as unknown as Array<EventRow & { chain_hash: string }>) {
        const event = toStoredEvent(raw);
        const { hash: storedHash, ...fields } = event;
        const recomputed = computeEventHash(fields);
        if (recomputed !== storedHash) note({ seq: event.seq, id: event.id, problem: "hash_mismatch", detail: "stored fields do not match the stored hash" });
        if (previousSeq === null) {
          report.first_seq = event.seq;
          // History before the first remaining row may have been removed by cleanup or retention;
          // the chain is then anchored at that row. Starting at seq 1 it must link to genesis.
          if (event.seq === 1 && computeChainHash(GENESIS_CHAIN_HASH, storedHash) !== raw.chain_hash) {
            note({ seq: event.seq, id: event.id, problem: "chain_mismatch", detail: "first event does not link to the genesis hash" });
          }
        } else {
          if (event.seq !== previousSeq + 1) note({ seq: event.seq, problem: "seq_gap", detail: `seq ${previousSeq + 1}..${event.seq - 1} missing` });
          else if (computeChainHash(previousChain!, storedHash) !== raw.chain_hash) {
            note({ seq: event.seq, id: event.id, problem: "chain_mismatch", detail: "chain hash does not follow from the previous event" });
          }
        }
        previousChain = raw.chain_hash;
        previousSeq = event.seq;
        report.checked++;
      }
    }
    report.last_seq = previousSeq;
    const [head] = await tx<{ last_seq: number; last_chain_hash: string }[]>`
      select last_seq, last_chain_hash from tenant_sequences where tenant_id = ${scope.tenantId}`;
    if (head && head.last_seq > 0) {
      if (previousSeq !== head.last_seq) {
        note({ seq: head.last_seq, problem: "head_mismatch", detail: `newest stored seq is ${previousSeq ?? "none"}, the sequence says ${head.last_seq}` });
      } else if (previousChain !== head.last_chain_hash) {
        note({ seq: head.last_seq, problem: "head_mismatch", detail: "newest chain hash differs from the recorded head" });
      }
    }
  });
  return report;
}
