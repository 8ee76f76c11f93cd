// Reading archives back (spec §12): GET /api/v1/archives lists a tenant's archived seq ranges;
// POST /api/v1/archives/restore reads the objects covering a seq or time range, checks each against
// its manifest (SHA-256, count, chain, hash roll-up) and every event against its hash, and inserts
// them into restored_events under their original seq (ADR 0008). The table's key is (tenant, seq),
// so restoring twice never doubles an event. Only objects recorded in the tenant's own
// event_archives rows (RLS) are read: a tenant cannot name another tenant's objects or bucket.
import { z } from "zod";
import type { AuditRecorder } from "../audit/record-audit-event.ts";
import { recordAuditEvent } from "../audit/record-audit-event.ts";
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { toStoredEvent } from "../query/event-rows.ts";
import { filterText, queryTime } from "../query/search-params.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import {
  ArchiveCheckError,
  type ArchivedEvent,
  checkArchivedObject,
  parseManifest,
} from "./archive-format.ts";
import type { ArchiveStorage } from "./archive-storage.ts";

/** Most events one restore request may bring back (the request reads and checks them all). */
export const RESTORE_MAX_EVENTS = 500_000;
const INSERT_CHUNK = 2000;
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

const seqField = z
  .number("must be a number")
  .int("must be an integer")
  .min(1, "must be at least 1")
  .max(MAX_SEQ);
const timeField = queryTime;
const seqParam = z.coerce.number("must be a number").int("must be an integer").min(0).max(MAX_SEQ);

export const restoreRequestSchema = z
  .strictObject({
    from_seq: seqField.optional(),
    to_seq: seqField.optional(),
    from: timeField.optional(),
    to: timeField.optional(),
  })
  .superRefine((body, ctx) => {
    const bySeq = body.from_seq !== undefined || body.to_seq !== undefined;
    const byTime = body.from !== undefined || body.to !== undefined;
    if (bySeq && byTime)
      return void ctx.addIssue({
        code: "custom",
        path: ["from"],
        message: "give a seq range or a time range, not both",
      });
    if (!bySeq && !byTime)
      return void ctx.addIssue({
        code: "custom",
        path: ["from_seq"],
        message: "give from_seq and to_seq (or from and to)",
      });
    if (bySeq) {
      if (body.from_seq === undefined)
        ctx.addIssue({ code: "custom", path: ["from_seq"], message: "is required with to_seq" });
      else if (body.to_seq === undefined)
        ctx.addIssue({ code: "custom", path: ["to_seq"], message: "is required with from_seq" });
      else if (body.to_seq < body.from_seq)
        ctx.addIssue({ code: "custom", path: ["to_seq"], message: "must not be below from_seq" });
    } else if (body.from === undefined)
      ctx.addIssue({ code: "custom", path: ["from"], message: "is required with to" });
    else if (body.to === undefined)
      ctx.addIssue({ code: "custom", path: ["to"], message: "is required with from" });
    else if (Date.parse(body.to) <= Date.parse(body.from))
      ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
  });

export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

export const archiveListQuerySchema = z.strictObject({
  after_seq: seqParam.optional(),
  limit: z.coerce.number("must be a number").int("must be an integer").min(1).max(1000).default(100),
});

export const restoredEventsQuerySchema = z
  .strictObject({
    from_seq: seqParam.optional(),
    to_seq: seqParam.optional(),
    from: queryTime.optional(),
    to: queryTime.optional(),
    user_id: filterText(256).optional(),
    action: filterText(128).optional(),
    resource_type: filterText(128).optional(),
    resource_id: filterText(256).optional(),
    limit: z.coerce.number("must be a number").int("must be an integer").min(1).max(1000).default(100),
  })
  .refine((q) => q.from_seq === undefined || q.to_seq === undefined || q.to_seq >= q.from_seq, {
    path: ["to_seq"],
    message: "must not be below from_seq",
  });

export interface ArchivedRange {
  from_seq: number;
  to_seq: number;
  event_count: number;
  min_occurred_at: string;
  max_occurred_at: string;
  reason: "cleanup" | "retention";
  archived_at: string;
  bucket: string;
  object_key: string;
  manifest_key: string;
  sha256: string;
  bytes: number;
  restored: number;
}

interface ArchiveRecordRow {
  from_seq: string;
  to_seq: string;
  event_count: number;
  min_occurred_at: Date;
  max_occurred_at: Date;
  reason: "cleanup" | "retention";
  archived_at: Date;
  bucket: string;
  object_key: string;
  manifest_key: string;
  sha256: string;
  bytes: string;
  events_sha256: string;
  last_chain_hash: string;
  restored?: number;
}

const toRange = (row: ArchiveRecordRow): ArchivedRange => ({
  from_seq: Number(row.from_seq),
  to_seq: Number(row.to_seq),
  event_count: row.event_count,
  min_occurred_at: row.min_occurred_at.toISOString(),
  max_occurred_at: row.max_occurred_at.toISOString(),
  reason: row.reason,
  archived_at: row.archived_at.toISOString(),
  bucket: row.bucket,
  object_key: row.object_key,
  manifest_key: row.manifest_key,
  sha256: row.sha256,
  bytes: Number(row.bytes),
  restored: Number(row.restored ?? 0),
});

/** The tenant's archived ranges in seq order, with how many of each are restored. */
export async function listArchives(
  db: Database,
  scope: TenantScope,
  query: z.infer<typeof archiveListQuerySchema>,
): Promise<{ data: ArchivedRange[]; next_after_seq: number | null }> {
  const rows = await db.withTenant(
    scope.tenantId,
    (tx) => tx<ArchiveRecordRow[]>`
      select a.*, (select count(*) from restored_events r
                   where r.tenant_id = a.tenant_id and r.seq between a.from_seq and a.to_seq)::int as restored
      from event_archives a
      where a.tenant_id = ${scope.tenantId} and a.from_seq > ${query.after_seq ?? 0}
      order by a.from_seq limit ${query.limit + 1}`,
  );
  const more = rows.length > query.limit;
  const data = rows.slice(0, query.limit).map(toRange);
  return { data, next_after_seq: more ? data.at(-1)!.to_seq : null };
}

export interface RestoreContext {
  db: Database;
  storage: ArchiveStorage;
  recorder?: AuditRecorder;
  actor: string;
}

export interface RestoreResult {
  restored: number;
  already_restored: number;
  objects: number;
  from_seq: number | null;
  to_seq: number | null;
}

function overlapping(db: Database, scope: TenantScope, request: RestoreRequest) {
  return db.withTenant(scope.tenantId, (tx) =>
    request.from_seq !== undefined
      ? tx<ArchiveRecordRow[]>`
          select * from event_archives where tenant_id = ${scope.tenantId}
            and from_seq <= ${request.to_seq!} and to_seq >= ${request.from_seq}
          order by from_seq`
      : tx<ArchiveRecordRow[]>`
          select * from event_archives where tenant_id = ${scope.tenantId}
            and min_occurred_at < ${request.to!} and max_occurred_at >= ${request.from!}
          order by from_seq`,
  );
}

const invalid = (error: unknown) =>
  error instanceof ArchiveCheckError
    ? new VigilError(
        "ARCHIVE_INVALID",
        `archive object failed its check: ${error.message}; nothing of it was restored`,
      )
    : error;

/** Checks and restores the archived events of a seq or time range; idempotent. */
export async function restoreArchivedEvents(
  context: RestoreContext,
  scope: TenantScope,
  request: RestoreRequest,
): Promise<RestoreResult> {
  const records = await overlapping(context.db, scope, request);
  if (!records.length) throw new VigilError("NOT_FOUND", "no archived events in that range");
  const inRange = (event: ArchivedEvent) =>
    request.from_seq !== undefined
      ? event.seq >= request.from_seq && event.seq <= request.to_seq!
      : Date.parse(event.occurred_at) >= Date.parse(request.from!) &&
        Date.parse(event.occurred_at) < Date.parse(request.to!);
  const upperBound = records.reduce((sum, r) => sum + r.event_count, 0);
  if (upperBound > RESTORE_MAX_EVENTS)
    throw new VigilError(
      "VALIDATION_FAILED",
      `the range covers more than ${RESTORE_MAX_EVENTS} archived events`,
      [
        {
          path: request.from_seq !== undefined ? "to_seq" : "to",
          message: `narrow the range to at most ${RESTORE_MAX_EVENTS} archived events`,
        },
      ],
    );
  if (context.recorder)
    await recordAuditEvent(context.recorder, scope.tenantId, {
      action_type: "CREATE",
      action: "vigil.events.restore",
      resource_type: "vigil.audit_log",
      resource_id: scope.tenantId,
      user_id: context.actor,
      metadata: { ...request, objects: records.length },
    });

  const result: RestoreResult = {
    restored: 0,
    already_restored: 0,
    objects: 0,
    from_seq: null,
    to_seq: null,
  };
  const manifests = new Map<string, ReturnType<typeof parseManifest>>();
  for (const record of records) {
    // A seq range whose events are all restored already needs no download: nothing would change.
    if (request.from_seq !== undefined) {
      const from = Math.max(request.from_seq, Number(record.from_seq));
      const to = Math.min(request.to_seq!, Number(record.to_seq));
      if ((await restoredCount(context.db, scope, from, to)) === to - from + 1) {
        result.already_restored += to - from + 1;
        result.objects++;
        result.from_seq = Math.min(result.from_seq ?? Number.POSITIVE_INFINITY, from);
        result.to_seq = Math.max(result.to_seq ?? 0, to);
        continue;
      }
    }
    let manifest = manifests.get(record.manifest_key);
    if (!manifest) {
      manifest = parseManifestOrThrow(
        await context.storage.get(record.bucket, record.manifest_key),
        record.manifest_key,
      );
      if (manifest.tenant_id !== scope.tenantId)
        throw new VigilError("ARCHIVE_INVALID", `manifest ${record.manifest_key} belongs to another tenant`);
      manifests.set(record.manifest_key, manifest);
    }
    const entry = manifest.objects.find((object) => object.key === record.object_key);
    if (
      !entry ||
      entry.sha256 !== record.sha256 ||
      entry.from_seq !== Number(record.from_seq) ||
      entry.to_seq !== Number(record.to_seq) ||
      entry.events_sha256 !== record.events_sha256 ||
      entry.last_chain_hash !== record.last_chain_hash
    )
      throw new VigilError(
        "ARCHIVE_INVALID",
        `manifest ${record.manifest_key} does not match the archive record of ${record.object_key}`,
      );
    let events: ArchivedEvent[];
    try {
      events = checkArchivedObject(
        await context.storage.get(record.bucket, record.object_key),
        entry,
        scope.tenantId,
      );
    } catch (error) {
      throw invalid(error);
    }
    const wanted = events.filter(inRange);
    for (let start = 0; start < wanted.length; start += INSERT_CHUNK) {
      const chunk = wanted.slice(start, start + INSERT_CHUNK);
      const inserted = await insertRestored(context.db, scope, chunk, Number(record.from_seq));
      result.restored += inserted;
      result.already_restored += chunk.length - inserted;
    }
    if (wanted.length) {
      result.objects++;
      result.from_seq = Math.min(result.from_seq ?? Number.POSITIVE_INFINITY, wanted[0]!.seq);
      result.to_seq = Math.max(result.to_seq ?? 0, wanted.at(-1)!.seq);
    }
  }
  return result;
}

async function restoredCount(db: Database, scope: TenantScope, from: number, to: number): Promise<number> {
  const [row] = await db.withTenant(
    scope.tenantId,
    (tx) => tx<{ n: number }[]>`
      select count(*)::int as n from restored_events
      where tenant_id = ${scope.tenantId} and seq between ${from} and ${to}`,
  );
  return row?.n ?? 0;
}

function parseManifestOrThrow(bytes: Buffer, key: string) {
  try {
    return parseManifest(bytes, key);
  } catch (error) {
    throw invalid(error);
  }
}

async function insertRestored(
  db: Database,
  scope: TenantScope,
  events: ArchivedEvent[],
  archiveFromSeq: number,
): Promise<number> {
  const rows = events.map((event) => ({ ...event, erased: event.erased ?? null }));
  const [row] = await db.withTenant(
    scope.tenantId,
    (tx) => tx<{ inserted: number }[]>`
      with added as (
        insert into restored_events (tenant_id, seq, id, occurred_at, received_at, action_type, action,
          resource_type, resource_id, user_id, session_id, ip_address, user_agent, severity, outcome,
          before_state, after_state, metadata, redacted, hash, chain_hash, salt, hash_version, erased, archive_from_seq)
        select ${scope.tenantId}, r.seq, r.id, r.occurred_at, r.received_at, r.action_type, r.action,
          r.resource_type, r.resource_id, r.user_id, r.session_id, r.ip_address, r.user_agent, r.severity, r.outcome,
          r.before_state, r.after_state, r.metadata, coalesce(r.redacted, '{}'), r.hash, r.chain_hash, r.salt,
          r.hash_version, r.erased, ${archiveFromSeq}
        from jsonb_to_recordset(${tx.json(rows as unknown as Parameters<typeof tx.json>[0])}) as r(seq bigint, id uuid, occurred_at timestamptz,
          received_at timestamptz, action_type text, action text, resource_type text, resource_id text,
          user_id text, session_id text, ip_address text, user_agent text, severity text, outcome text,
          before_state jsonb, after_state jsonb, metadata jsonb, redacted text[], hash text, chain_hash text,
          salt text, hash_version smallint, erased jsonb)
        on conflict (tenant_id, seq) do nothing
        returning 1
      )
      select count(*)::int as inserted from added`,
  );
  return row?.inserted ?? 0;
}

/**
 * Restored events in seq order, as the ordinary reads show them (no salt), with `restored_at`;
 * optionally by time window and by user, action or resource (exact match).
 */
export async function listRestoredEvents(
  db: Database,
  scope: TenantScope,
  query: z.infer<typeof restoredEventsQuerySchema>,
): Promise<{ data: Array<StoredEvent & { restored_at: string }>; next_from_seq: number | null }> {
  const rows = await db.withTenant(
    scope.tenantId,
    (tx) => tx<Array<Parameters<typeof toStoredEvent>[0] & { restored_at: Date }>>`
      select * from restored_events
      where tenant_id = ${scope.tenantId} and seq >= ${query.from_seq ?? 0} and seq <= ${query.to_seq ?? MAX_SEQ}
        and (${query.from ?? null}::timestamptz is null or occurred_at >= ${query.from ?? null}::timestamptz)
        and (${query.to ?? null}::timestamptz is null or occurred_at < ${query.to ?? null}::timestamptz)
        and (${query.user_id ?? null}::text is null or user_id = ${query.user_id ?? null})
        and (${query.action ?? null}::text is null or action = ${query.action ?? null})
        and (${query.resource_type ?? null}::text is null or resource_type = ${query.resource_type ?? null})
        and (${query.resource_id ?? null}::text is null or resource_id = ${query.resource_id ?? null})
      order by seq limit ${query.limit + 1}`,
  );
  const more = rows.length > query.limit;
  const data = rows
    .slice(0, query.limit)
    .map((row) => ({ ...toStoredEvent(row), restored_at: row.restored_at.toISOString() }));
  return { data, next_from_seq: more ? Number(rows[query.limit]!.seq) : null };
}
