// Reads what the pipeline stored for one tenant, straight from PostgreSQL (the owner connection).
import type { TestPipeline } from "@vigil/testkit";

export interface StoredSummary {
  rows: number;
  distinctIds: number;
  minSeq: number | null;
  maxSeq: number | null;
}

export async function storedSummary(pipeline: TestPipeline, tenantId: string): Promise<StoredSummary> {
  const [row] = await pipeline.database.admin<
    { rows: number; distinct_ids: number; min_seq: number | null; max_seq: number | null }[]
  >`select count(*)::int as rows, count(distinct id)::int as distinct_ids, min(seq)::int as min_seq,
           max(seq)::int as max_seq
    from events where tenant_id = ${tenantId}`;
  return { rows: row!.rows, distinctIds: row!.distinct_ids, minSeq: row!.min_seq, maxSeq: row!.max_seq };
}

/** Waits until `expected` rows are stored (and a little longer, to catch a late duplicate). */
export async function waitForStored(
  pipeline: TestPipeline,
  tenantId: string,
  expected: number,
  timeoutMs = 30_000,
): Promise<StoredSummary> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const summary = await storedSummary(pipeline, tenantId);
    if (summary.rows >= expected) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return storedSummary(pipeline, tenantId);
    }
    if (Date.now() > deadline) return summary;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Retries fast enough for tests; as many attempts as a test can wait for. */
export const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 300, maxAttempts: 10_000 };

/** The event the ingest tests log: a secret in metadata that must never be stored. */
export function invoiceEvent(index: number) {
  return {
    action_type: "UPDATE" as const,
    resource_type: "invoice",
    resource_id: `inv-${index}`,
    user_id: `user-${index % 17}`,
    after_state: { status: "approved", amount: index },
    metadata: { password: "never-stored", index },
  };
}
