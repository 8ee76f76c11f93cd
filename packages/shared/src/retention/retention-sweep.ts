// The worker's retention job: every RETENTION_SWEEP_INTERVAL_SECONDS, remove each tenant's events
// older than its retention_days. Whole monthly partitions go first, by TRUNCATE or DROP, when every
// tenant's policy allows it (vigil_drop_expired_event_partitions, which runs with the owner's rights);
// what is left is deleted row by row in bounded batches. Both paths record the runs of seqs they
// remove (event_removed_ranges) for the verifier. Each tenant that lost rows gets one
// event in its own log saying how many and why. One replica sweeps at a time (advisory lock).
// Archive-enabled tenants (spec §12) go first: their expired events are written to S3 and only then
// deleted (archive/archive-events.ts); the partition function never empties a partition that holds
// their rows, and it is not called at all in a sweep where some tenant's archive failed.
import { type ArchiveWriter, archiveAndDeleteEventsBefore } from "../archive/archive-events.ts";
import type { AuditRecorder } from "../audit/record-audit-event.ts";
import { recordAuditEvent } from "../audit/record-audit-event.ts";
import { type Database, run } from "../db/database.ts";
import type { Logger } from "../logging/logger.ts";
import { tenantScope } from "../query/tenant-scope.ts";
import type { SearchIndexRemover } from "../search/opensearch/remove-events.ts";
import { deleteEventsBefore, pruneEmptyRollupsQuery } from "./cleanup-events.ts";

const DAY_MS = 86_400_000;
/** Advisory lock key shared by every worker replica ("vigil retention"). */
const SWEEP_LOCK_KEY = 0x76_69_67_72;
export const RETENTION_ACTOR = "system:retention";

export interface RetentionReport {
  /** Months beyond every tenant's retention: the partition is gone. */
  partitionsDropped: string[];
  /** Months whose rows all expired, but which a tenant may still back-fill: kept, emptied. */
  partitionsTruncated: string[];
  tenants: Array<{ tenantId: string; before: string; deleted: number; archived?: boolean }>;
  /** Archive-enabled tenants whose archive could not be written: nothing of theirs was deleted beyond it. */
  archiveFailures: string[];
  /** False when another replica held the sweep lock. */
  ran: boolean;
}

export interface RetentionContext {
  db: Database;
  recorder: AuditRecorder;
  logger?: Logger;
  /** The search index, when one is kept: expired events leave it too. */
  searchIndex?: SearchIndexRemover;
  /** Where archive-enabled tenants' events go before deletion; absent: such tenants keep their events. */
  archive?: ArchiveWriter;
  now?: () => Date;
}

interface SweptTenant {
  id: string;
  retention_days: number;
  archive_enabled: boolean;
  archive_bucket: string | null;
  archive_prefix: string;
}

export async function sweepRetention(context: RetentionContext): Promise<RetentionReport> {
  const { db } = context;
  const report: RetentionReport = {
    partitionsDropped: [],
    partitionsTruncated: [],
    tenants: [],
    archiveFailures: [],
    ran: false,
  };
  const lock = await db.sql.reserve();
  try {
    const [held] = await lock<
      { acquired: boolean }[]
    >`select pg_try_advisory_lock(${SWEEP_LOCK_KEY}) as acquired`;
    if (!held?.acquired) return report;
    report.ran = true;
    try {
      const removedByTenant = new Map<string, number>();
      const now = context.now?.() ?? new Date();
      const cutoff = (tenant: SweptTenant) => new Date(now.getTime() - tenant.retention_days * DAY_MS);
      const tenants = await db.sql<SweptTenant[]>`
        select id, retention_days, archive_enabled, archive_bucket, archive_prefix from tenants order by id`;
      // Archive first, so nothing an archive-enabled tenant owns is ever removed unarchived.
      const archived = new Map<string, number>();
      for (const tenant of tenants.filter((t) => t.archive_enabled)) {
        try {
          if (!context.archive) throw new Error("no archive storage configured in this process");
          const result = await archiveAndDeleteEventsBefore(
            db,
            context.archive,
            tenantScope(tenant.id),
            { enabled: true, bucket: tenant.archive_bucket, prefix: tenant.archive_prefix },
            cutoff(tenant),
            "retention",
          );
          archived.set(tenant.id, result.deleted);
          await db.withTenant(tenant.id, (tx) =>
            run(tx, pruneEmptyRollupsQuery(tenantScope(tenant.id), cutoff(tenant))),
          );
        } catch (error) {
          report.archiveFailures.push(tenant.id);
          context.logger?.warn(
            {
              err: { name: (error as Error)?.name, message: (error as Error)?.message },
              tenant_id: tenant.id,
            },
            "retention: archive not written; this tenant's expired events are kept",
          );
        }
      }
      if (report.archiveFailures.length === 0)
        try {
          const emptied = await db.sql<
            { partition_name: string; dropped: boolean; tenant_id: string | null; removed: number }[]
          >`
          select partition_name, dropped, tenant_id, removed from vigil_drop_expired_event_partitions()`;
          for (const row of emptied) {
            const list = row.dropped ? report.partitionsDropped : report.partitionsTruncated;
            if (!list.includes(row.partition_name)) list.push(row.partition_name);
            if (row.tenant_id)
              removedByTenant.set(
                row.tenant_id,
                (removedByTenant.get(row.tenant_id) ?? 0) + Number(row.removed),
              );
          }
        } catch (error) {
          // Usually lock_timeout behind a long reader; the batched deletes below still apply retention.
          context.logger?.warn(
            { err: error },
            "retention: dropping expired partitions failed; deleting rows instead",
          );
        }
      for (const tenant of tenants) {
        if (tenant.archive_enabled && !archived.has(tenant.id)) continue; // its archive failed
        const before = cutoff(tenant);
        const deleted = tenant.archive_enabled
          ? archived.get(tenant.id)!
          : (removedByTenant.get(tenant.id) ?? 0) +
            (await deleteEventsBefore(db, tenantScope(tenant.id), before, { reason: "retention" }));
        // Every sweep, whether rows went now or not: an index that could not be reached before is
        // cleaned by the next sweep (same cutoff or later).
        await context.searchIndex
          ?.removeEventsBefore(tenant.id, before)
          .catch((error) =>
            context.logger?.warn({ err: error, tenant_id: tenant.id }, "retention: search index not updated"),
          );
        if (deleted === 0) continue;
        report.tenants.push({
          tenantId: tenant.id,
          before: before.toISOString(),
          deleted,
          ...(tenant.archive_enabled ? { archived: true } : {}),
        });
        await recordAuditEvent(context.recorder, tenant.id, {
          action_type: "DELETE",
          action: "vigil.events.retention",
          resource_type: "vigil.audit_log",
          resource_id: tenant.id,
          user_id: RETENTION_ACTOR,
          metadata: {
            before: before.toISOString(),
            deleted,
            retention_days: tenant.retention_days,
            archived: tenant.archive_enabled,
          },
        });
      }
    } finally {
      await lock`select pg_advisory_unlock(${SWEEP_LOCK_KEY})`;
    }
  } finally {
    lock.release();
  }
  context.logger?.info(
    {
      partitions_dropped: report.partitionsDropped,
      partitions_truncated: report.partitionsTruncated,
      tenants: report.tenants.length,
      deleted: report.tenants.reduce((sum, t) => sum + t.deleted, 0),
    },
    "retention sweep",
  );
  return report;
}

/** Runs `sweepRetention` now and then every `intervalSeconds`; `stop()` waits for a sweep in progress. */
export function startRetentionSweeper(
  context: RetentionContext,
  intervalSeconds: number,
): { stop: () => Promise<void> } {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    running = sweepRetention(context)
      .catch((error) => context.logger?.error({ err: error }, "retention sweep failed"))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
      });
  };
  timer = setTimeout(tick, Math.min(intervalSeconds, 5) * 1000);
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
