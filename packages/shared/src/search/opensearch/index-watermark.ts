// The search index watermark (spec §12): per tenant, the highest seq such that every event with
// seq ≤ it is in the OpenSearch index. Kept in PostgreSQL (search_index_state), advanced only over
// contiguous ranges: whoever indexes a run of events (the feed after its bulk succeeds, the repair
// loop) records the seq range it covered, and `foldIndexedRanges` moves the watermark over every
// recorded range that touches it. A range that is not contiguous waits in search_indexed_ranges
// until the gap below it is filled (by a late batch or by the repair loop).
//
// Writes are tenant-scoped (RLS), serialised per tenant by the state row's lock.
import type { Database, TransactionSql } from "../../db/database.ts";

export interface SeqRange {
  from_seq: number;
  to_seq: number;
}

export interface Watermark {
  tenant_id: string;
  /** Every event with seq ≤ indexed_seq is in the index. */
  indexed_seq: number;
  /** The tenant's last committed seq. */
  head_seq: number;
  /** The start of the lowest recorded range above the watermark (the gap ends just below it). */
  next_range_from: number | null;
  /** Reconciliation has compared counts up to here in its current pass (0: start from seq 1). */
  checked_seq: number;
}

/** The contiguous runs of a set of seqs: [1,2,3,7,8] → [{1,3},{7,8}]. */
export function seqRuns(seqs: readonly number[]): SeqRange[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const runs: SeqRange[] = [];
  for (const seq of sorted) {
    const last = runs.at(-1);
    if (last && seq === last.to_seq + 1) last.to_seq = seq;
    else runs.push({ from_seq: seq, to_seq: seq });
  }
  return runs;
}

/** Records ranges of one tenant as indexed and folds them into the watermark. */
export async function recordIndexedRanges(
  db: Database,
  tenantId: string,
  ranges: readonly SeqRange[],
): Promise<Watermark> {
  return db.withTenant(tenantId, async (tx) => {
    for (const range of ranges)
      await tx`
        insert into search_indexed_ranges (tenant_id, from_seq, to_seq)
        values (${tenantId}, ${range.from_seq}, ${range.to_seq}) on conflict do nothing`;
    return foldInTransaction(tx, tenantId);
  });
}

/** Moves the watermark over the recorded ranges that touch it; returns the state after. */
export function foldIndexedRanges(db: Database, tenantId: string): Promise<Watermark> {
  return db.withTenant(tenantId, (tx) => foldInTransaction(tx, tenantId));
}

async function foldInTransaction(tx: TransactionSql, tenantId: string): Promise<Watermark> {
  await tx`insert into search_index_state (tenant_id) values (${tenantId}) on conflict do nothing`;
  const [state] = await tx<{ indexed_seq: string; checked_seq: string }[]>`
    select indexed_seq, checked_seq from search_index_state where tenant_id = ${tenantId} for update`;
  const ranges = await tx<{ from_seq: string; to_seq: string }[]>`
    select from_seq, to_seq from search_indexed_ranges where tenant_id = ${tenantId} order by from_seq`;
  const before = Number(state?.indexed_seq ?? 0);
  let watermark = before;
  let nextRangeFrom: number | null = null;
  for (const range of ranges) {
    const from = Number(range.from_seq);
    if (from > watermark + 1) {
      nextRangeFrom = from;
      break;
    }
    watermark = Math.max(watermark, Number(range.to_seq));
  }
  if (ranges.length > 0)
    await tx`delete from search_indexed_ranges where tenant_id = ${tenantId} and to_seq <= ${watermark}`;
  if (watermark !== before)
    await tx`
      update search_index_state set indexed_seq = ${watermark}, updated_at = now()
      where tenant_id = ${tenantId}`;
  const [head] = await tx<{ last_seq: string }[]>`
    select last_seq from tenant_sequences where tenant_id = ${tenantId}`;
  return {
    tenant_id: tenantId,
    indexed_seq: watermark,
    head_seq: Number(head?.last_seq ?? 0),
    next_range_from: nextRangeFrom,
    checked_seq: Number(state?.checked_seq ?? 0),
  };
}

/** Where reconciliation's pass over the tenant's seqs has got to (0 starts the next pass at seq 1). */
export async function recordCheckedSeq(db: Database, tenantId: string, checkedSeq: number): Promise<void> {
  await db.withTenant(
    tenantId,
    (tx) => tx`
      update search_index_state set checked_seq = ${checkedSeq}, updated_at = now()
      where tenant_id = ${tenantId}`,
  );
}

export interface SearchIndexStatus {
  tenant_id: string;
  indexed_seq: number;
  head_seq: number;
  lag_seq: number;
  /** Age of the oldest event not yet covered by the watermark; 0 when the index is in step. */
  lag_seconds: number;
}

/** GET /api/v1/search/status: the watermark, the head and the lag, read in one snapshot. */
export async function readSearchIndexStatus(db: Database, tenantId: string): Promise<SearchIndexStatus> {
  return db.withTenant(tenantId, async (tx) => {
    const [row] = await tx<{ indexed_seq: string | null; head_seq: string | null }[]>`
      select (select indexed_seq from search_index_state where tenant_id = ${tenantId}) as indexed_seq,
             (select last_seq from tenant_sequences where tenant_id = ${tenantId}) as head_seq`;
    const headSeq = Number(row?.head_seq ?? 0);
    const indexedSeq = Math.min(Number(row?.indexed_seq ?? 0), headSeq);
    let lagSeconds = 0;
    if (indexedSeq < headSeq) {
      const [oldest] = await tx<{ stored_at: Date }[]>`
        select stored_at from events where tenant_id = ${tenantId} and seq > ${indexedSeq}
        order by seq limit 1`;
      if (oldest) lagSeconds = Math.max(0, (Date.now() - oldest.stored_at.getTime()) / 1000);
    }
    return {
      tenant_id: tenantId,
      indexed_seq: indexedSeq,
      head_seq: headSeq,
      lag_seq: headSeq - indexedSeq,
      lag_seconds: Math.round(lagSeconds * 1000) / 1000,
    };
  });
}

/** Just the watermark (the `Vigil-Index-Seq` header of searches answered by the index). */
export async function readIndexedSeq(db: Database, tenantId: string): Promise<number> {
  const rows = await db.withTenant(
    tenantId,
    (tx) => tx<{ indexed_seq: string }[]>`
      select indexed_seq from search_index_state where tenant_id = ${tenantId}`,
  );
  return Number(rows[0]?.indexed_seq ?? 0);
}
