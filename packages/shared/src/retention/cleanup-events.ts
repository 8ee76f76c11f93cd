// Removing a tenant's events older than a cutoff (DELETE /api/v1/logs/cleanup and the retention
// sweep). Rows go in bounded batches, each its own short transaction, so ingest is never locked
// out; each batch removes the matching event_ids rows and decrements the rollups (by hour and day, and per
// user by hour and day: subtract-rollups.ts) in the same statement, so stats stay equal to what remains. The same statement records each run of
// consecutive seqs it removed in event_removed_ranges, so the verifier can tell the removal from
// tampering even when back-dated events make the removed rows a middle part of the seq range.
import { type Compilable, sql } from "kysely";
import { z } from "zod";
import { type ArchiveWriter, archiveAndDeleteEventsBefore } from "../archive/archive-events.ts";
import type { AuditRecorder } from "../audit/record-audit-event.ts";
import { recordAuditEvent } from "../audit/record-audit-event.ts";
import { compilable, type Database, run } from "../db/database.ts";
import type { EventRemovedRangesTable } from "../db/schema.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { queryTime } from "../query/search-params.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import type { SearchIndexRemover } from "../search/opensearch/remove-events.ts";
import { subtractGoneFromRollups } from "./subtract-rollups.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
export const CLEANUP_BATCH_SIZE = 5000;

/** Why rows were removed, as written in their removal records. */
export type RemovalReason = EventRemovedRangesTable["reason"];

export const cleanupParamsSchema = z.strictObject({
  before: queryTime,
  dry_run: z
    .enum(["true", "false"], "must be true or false")
    .default("false")
    .transform((value) => value === "true"),
});

export type CleanupParams = z.infer<typeof cleanupParamsSchema>;

/**
 * One batch: the oldest `batchSize` rows before `before` (primary-key order), their event_ids rows,
 * their counts off the rollups, and a removal record per run of consecutive seqs among them
 * (gaps and islands: within a run, seq minus its rank is constant), in one statement. Returns how
 * many events went.
 */
export function deleteEventsBatchQuery(
  scope: TenantScope,
  before: Date,
  batchSize: number,
  reason: RemovalReason = "cleanup",
): Compilable<{ deleted: number }> {
  return compilable(sql<{ deleted: number }>`
    with doomed as (
      select tenant_id, occurred_at, seq from events
      where tenant_id = ${scope.tenantId} and occurred_at < ${before}
      order by occurred_at, seq
      limit ${batchSize}
    ), gone as (
      delete from events e using doomed d
      where e.tenant_id = d.tenant_id and e.occurred_at = d.occurred_at and e.seq = d.seq
      returning e.tenant_id, e.seq, e.chain_hash, e.id, e.occurred_at, e.action_type, e.severity, e.outcome, e.resource_type,
        e.user_id
    ), gone_ids as (
      delete from event_ids i using gone g where i.tenant_id = ${scope.tenantId} and i.id = g.id
      returning 1
    ), ${subtractGoneFromRollups(scope)}, islands as (
      select tenant_id, seq, chain_hash, seq - row_number() over (partition by tenant_id order by seq) as island
      from gone
    ), recorded as (
      insert into event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason)
      select tenant_id, min(seq), max(seq), (array_agg(chain_hash order by seq desc))[1], ${sql.lit(reason)}
      from islands group by tenant_id, island
      returning 1
    )
    select (select count(*) from gone)::bigint as deleted, (select count(*) from gone_ids) as ids, (select count(*) from rolled) as buckets, (select count(*) from day_rolled) as days,
      (select count(*) from user_rolled) as user_buckets, (select count(*) from user_day_rolled) as user_days,
      (select count(*) from recorded) as removal_records`);
}

/** Rollup rows (every rollup table) that count nothing any more (their hours were emptied); one statement. */
export function pruneEmptyRollupsQuery(scope: TenantScope, before: Date): Compilable<unknown> {
  const end = new Date(Math.ceil(before.getTime() / HOUR_MS) * HOUR_MS);
  const dayEnd = new Date(Math.ceil(before.getTime() / DAY_MS) * DAY_MS);
  return compilable(sql`
    with users as (
      delete from event_user_rollups_hourly
      where tenant_id = ${scope.tenantId} and bucket < ${end} and event_count <= 0
      returning 1
    ), user_days as (
      delete from event_user_rollups_daily
      where tenant_id = ${scope.tenantId} and day < ${dayEnd} and event_count <= 0
      returning 1
    ), days as (
      delete from event_rollups_daily
      where tenant_id = ${scope.tenantId} and day < ${dayEnd} and event_count <= 0
      returning 1
    )
    delete from event_rollups_hourly
    where tenant_id = ${scope.tenantId} and bucket < ${end} and event_count <= 0`);
}

/**
 * How many events lie before `before`, without touching them: whole hours from the rollups, the
 * partial last hour from the events table, so the cost does not grow with the tenant's history.
 */
export function countEventsBeforeQuery(scope: TenantScope, before: Date): Compilable<{ count: number }> {
  const wholeHoursEnd = new Date(Math.floor(before.getTime() / HOUR_MS) * HOUR_MS);
  return compilable(sql<{ count: number }>`
    select
      coalesce((select sum(event_count) from event_rollups_hourly where tenant_id = ${scope.tenantId} and bucket < ${wholeHoursEnd}), 0)
      + (select count(*) from events where tenant_id = ${scope.tenantId} and occurred_at >= ${wholeHoursEnd} and occurred_at < ${before})
      as count`);
}

const DEADLOCK = "40P01";

/** Deletes every event of `scope` before `before`, batch by batch; resolves with the number removed. */
export async function deleteEventsBefore(
  db: Database,
  scope: TenantScope,
  before: Date,
  options: { batchSize?: number; reason?: RemovalReason } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? CLEANUP_BATCH_SIZE;
  let total = 0;
  for (let attempt = 0; ; ) {
    let deleted: number;
    try {
      const [row] = await db.withTenant(scope.tenantId, (tx) =>
        run(tx, deleteEventsBatchQuery(scope, before, batchSize, options.reason)),
      );
      deleted = Number(row?.deleted ?? 0);
    } catch (error) {
      // A batch can deadlock with the worker on a rollup row (a back-dated event in an old hour);
      // it rolled back whole, so trying again is safe.
      if ((error as { code?: string }).code === DEADLOCK && attempt++ < 5) continue;
      throw error;
    }
    total += deleted;
    if (deleted < batchSize) break;
    // Let other work on this process (and its pool) in between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await db.withTenant(scope.tenantId, (tx) => run(tx, pruneEmptyRollupsQuery(scope, before)));
  return total;
}

export async function countEventsBefore(db: Database, scope: TenantScope, before: Date): Promise<number> {
  const [row] = await db.withTenant(scope.tenantId, (tx) => run(tx, countEventsBeforeQuery(scope, before)));
  return Number(row?.count ?? 0);
}

export interface CleanupResult {
  deleted: number;
  dry_run: boolean;
  before: string;
}

export interface CleanupContext {
  db: Database;
  recorder: AuditRecorder;
  /** Who asked, as recorded in the tenant's log (`user:…`, `key:…`, `system:retention`). */
  actor: string;
  /** The search index, when one is kept: removed events leave it too. */
  searchIndex?: SearchIndexRemover;
  /** Archive storage: an archive-enabled tenant's events are archived before they are deleted. */
  archive?: ArchiveWriter;
  now?: Date;
}

/**
 * DELETE /api/v1/logs/cleanup: a dry run counts; a real run is recorded before anything is
 * deleted: the event (who, cutoff, how many events matched) is durably on the queue first, so
 * with the queue down the answer is 503 and every row is still there. It is an ordinary event
 * dated now, so the cleanup never removes its own record. Removed events leave the search index
 * too, when one is kept.
 */
export async function cleanupEvents(
  context: CleanupContext,
  scope: TenantScope,
  params: CleanupParams,
): Promise<CleanupResult> {
  const now = context.now ?? new Date();
  const before = new Date(params.before);
  if (before.getTime() > now.getTime()) {
    throw new VigilError("INVALID_PARAMETER", "`before` must not be in the future", [
      { path: "before", message: "must not be in the future" },
    ]);
  }
  const matching = await countEventsBefore(context.db, scope, before);
  if (params.dry_run) return { deleted: matching, dry_run: true, before: before.toISOString() };
  // Archive-enabled tenants: refused before the audit event when this process cannot archive.
  const [archive] = await context.db.sql<{ enabled: boolean; bucket: string | null; prefix: string }[]>`
    select archive_enabled as enabled, archive_bucket as bucket, archive_prefix as prefix
    from tenants where id = ${scope.tenantId}`;
  if (archive?.enabled && !context.archive?.storage.targetOf(archive))
    throw new VigilError(
      "ARCHIVE_UNAVAILABLE",
      "archiving is enabled for this tenant but no archive bucket is configured; nothing was deleted",
    );
  await recordAuditEvent(context.recorder, scope.tenantId, {
    action_type: "DELETE",
    action: "vigil.events.cleanup",
    resource_type: "vigil.audit_log",
    resource_id: scope.tenantId,
    user_id: context.actor,
    // `matching` is counted before the delete; events back-dated meanwhile may add to what goes.
    metadata: { before: before.toISOString(), matching },
  });
  const deleted = archive?.enabled
    ? (await archiveAndDeleteEventsBefore(context.db, context.archive!, scope, archive, before, "cleanup"))
        .deleted
    : await deleteEventsBefore(context.db, scope, before);
  if (archive?.enabled)
    await context.db.withTenant(scope.tenantId, (tx) => run(tx, pruneEmptyRollupsQuery(scope, before)));
  await context.searchIndex?.removeEventsBefore(scope.tenantId, before);
  return { deleted, dry_run: false, before: before.toISOString() };
}
