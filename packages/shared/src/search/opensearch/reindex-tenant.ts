// Reconciliation: rebuilds a tenant's documents in the OpenSearch index from PostgreSQL, the source
// of truth. Reads the tenant's events in seq order in bounded pages (the same positioned read the
// stream backfill uses) and bulk-indexes each page; `_id = <tenant>:<id>` makes a rerun harmless.
// Run it after an outage the worker logged, after a mapping change, or to seed a new cluster.
import type { Database } from "../../db/database.ts";
import type { TenantScope } from "../../query/tenant-scope.ts";
import { readEventsAfter } from "../../stream/read-events-after.ts";
import { type EventIndexTarget, ensureEventIndex } from "./event-index.ts";
import { type FailedDocument, type IndexOptions, indexStoredEvents } from "./index-events.ts";

export interface ReindexRange {
  /** Inclusive start of occurred_at (RFC 3339). */
  from?: string;
  /** Exclusive end of occurred_at (RFC 3339). */
  to?: string;
}

export interface ReindexReport {
  tenant_id: string;
  read: number;
  indexed: number;
  failed: number;
  last_seq: number;
  /** The first few failures, for the operator; the rest are counted. */
  failures: FailedDocument[];
}

export async function reindexTenant(
  db: Database,
  target: EventIndexTarget,
  scope: TenantScope,
  range: ReindexRange = {},
  options: IndexOptions & { pageSize?: number; onPage?: (report: ReindexReport) => void } = {},
): Promise<ReindexReport> {
  await ensureEventIndex(target);
  const report: ReindexReport = {
    tenant_id: scope.tenantId,
    read: 0,
    indexed: 0,
    failed: 0,
    last_seq: 0,
    failures: [],
  };
  const filter = { ...(range.from ? { from: range.from } : {}), ...(range.to ? { to: range.to } : {}) };
  for (;;) {
    const page = await readEventsAfter(db, scope, {
      after: report.last_seq,
      filter,
      limit: options.pageSize ?? 500,
    });
    if (page.length === 0) return report;
    const events = page.map((item) => item.event);
    const outcome = await indexStoredEvents(target, events, options);
    report.read += events.length;
    report.indexed += outcome.indexed;
    report.failed += outcome.failed.length;
    report.failures.push(...outcome.failed.slice(0, Math.max(0, 10 - report.failures.length)));
    report.last_seq = events.at(-1)!.seq;
    options.onPage?.(report);
  }
}
