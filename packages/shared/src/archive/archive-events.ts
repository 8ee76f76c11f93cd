// Archive before deletion (spec §12): an archive-enabled tenant's events before a cutoff are
// written to S3 — NDJSON.gz objects, one per contiguous seq run (bounded in events and bytes), then
// a manifest naming each object's range, count, SHA-256 and hash roll-up and the checkpoint that
// covers them — and only then deleted, one object's range per transaction, with its removal record
// (naming the object) and its event_archives row in that same transaction. Object and manifest keys
// are derived from the seq ranges, so a run retried after a crash rewrites the same keys; a range is
// recorded once (primary key), so restore can never double it.
import { gzipSync } from "node:zlib";
import { sql } from "kysely";
import type { TransactionSql } from "postgres";
import { compilable, type Database, run } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { sha256Hex } from "../events/event-hash.ts";
import type { Logger } from "../logging/logger.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "../query/event-rows.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import { subtractGoneFromRollups } from "../retention/subtract-rollups.ts";
import {
  ARCHIVE_OBJECT_MAX_BYTES,
  type ArchivedObject,
  type ArchiveManifest,
  archiveObjectKey,
  HashRollup,
  MANIFEST_FORMAT,
  manifestKey,
} from "./archive-format.ts";
import type { ArchiveSettings } from "./archive-settings.ts";
import type { ArchiveStorage, ArchiveTarget } from "./archive-storage.ts";

/** Objects per manifest: rows of one run are deleted only after all its objects and its manifest exist. */
const RUN_MAX_OBJECTS = 16;
const PAGE_ROWS = 2000;

export type ArchiveReason = "cleanup" | "retention";

export interface ArchiveWriter {
  storage: ArchiveStorage;
  maxEventsPerObject: number;
  logger?: Logger;
  /** VIGIL_FAULT_ARCHIVE_KILL (crash tests only): `<point>:<n>`. */
  fault?: string;
}

export interface ArchiveResult {
  deleted: number;
  objects: number;
  bytes: number;
}

type ArchiveRow = EventRow & {
  salt: string | null;
  hash_version: number;
  chain_hash: string;
  erased: EventRow["erased"];
};

const SELECTED = [...EVENT_COLUMNS, "salt", "hash_version", "chain_hash", "erased"];

/** One archived event as an NDJSON line: the stored fields, its hash, salt, hash version and chain hash. */
export function archiveLine(row: ArchiveRow): string {
  return `${JSON.stringify({
    ...toStoredEvent(row),
    ...(row.salt ? { salt: row.salt } : {}),
    hash_version: row.hash_version,
    chain_hash: row.chain_hash,
  })}\n`;
}

let runsStarted = 0;
/** The crash tests' fault points: SIGKILL this process at `point` of its nth archive run. */
function faultPoint(writer: ArchiveWriter, point: "after_objects" | "after_delete" | "after_commit"): void {
  if (!writer.fault) return;
  const [wanted, nth] = writer.fault.split(":");
  if (wanted === point && Number(nth) === runsStarted) process.kill(process.pid, "SIGKILL");
}

class ObjectBuilder {
  readonly lines: string[] = [];
  readonly rollup = new HashRollup();
  bytes = 0;
  toSeq: number;
  lastChainHash = "";
  minOccurredAt = Number.POSITIVE_INFINITY;
  maxOccurredAt = Number.NEGATIVE_INFINITY;
  erased = 0;

  constructor(
    readonly fromSeq: number,
    readonly runRollup: HashRollup,
  ) {
    this.toSeq = fromSeq - 1;
  }

  accepts(seq: number, line: string, maxEvents: number): boolean {
    return (
      seq === this.toSeq + 1 &&
      this.lines.length < maxEvents &&
      this.bytes + Buffer.byteLength(line) <= ARCHIVE_OBJECT_MAX_BYTES
    );
  }

  add(row: ArchiveRow, line: string): void {
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line);
    this.toSeq = Number(row.seq);
    this.rollup.add(row.hash);
    this.runRollup.add(row.hash);
    this.lastChainHash = row.chain_hash;
    // Back-dated events: occurred_at is not monotone in seq, so keep the extremes.
    this.minOccurredAt = Math.min(this.minOccurredAt, row.occurred_at.getTime());
    this.maxOccurredAt = Math.max(this.maxOccurredAt, row.occurred_at.getTime());
    if (row.erased) this.erased++;
  }
}

type WrittenObject = ArchivedObject & { erased: number };

/** The rows before `before` in seq order, from one server-side cursor (one sort, constant memory). */
async function* expiredRows(db: Database, scope: TenantScope, before: Date) {
  const query = compilable(sql<ArchiveRow>`
    select ${sql.join(SELECTED.map((column) => sql.ref(column)))} from events
    where tenant_id = ${scope.tenantId} and occurred_at < ${before}
    order by seq`);
  for await (const batch of db.cursorWithTenant(scope.tenantId, query, PAGE_ROWS))
    for (const row of batch) yield { ...row, seq: Number(row.seq) };
}

async function writeObject(
  writer: ArchiveWriter,
  target: ArchiveTarget,
  scope: TenantScope,
  built: ObjectBuilder,
): Promise<WrittenObject> {
  const body = gzipSync(built.lines.join(""));
  const key = archiveObjectKey(target.prefix, scope.tenantId, built.fromSeq, built.toSeq);
  await writer.storage.put(target.bucket, key, body, {
    contentType: "application/x-ndjson",
    contentEncoding: "gzip",
  });
  return {
    key,
    from_seq: built.fromSeq,
    to_seq: built.toSeq,
    event_count: built.lines.length,
    min_occurred_at: new Date(built.minOccurredAt).toISOString(),
    max_occurred_at: new Date(built.maxOccurredAt).toISOString(),
    bytes: body.length,
    sha256: sha256Hex(body),
    events_sha256: built.rollup.digest(),
    last_chain_hash: built.lastChainHash,
    erased: built.erased,
  };
}

/** The smallest signed checkpoint whose tree covers `toSeq`, if one exists yet. */
async function coveringCheckpoint(db: Database, scope: TenantScope, toSeq: number) {
  const [row] = await db.withTenant(
    scope.tenantId,
    (tx) => tx<{ tree_size: string; note: string }[]>`
      select tree_size, note from tlog_checkpoints
      where tenant_id = ${scope.tenantId} and tree_size >= ${toSeq} order by tree_size limit 1`,
  );
  return row ? { tree_size: Number(row.tree_size), note: row.note } : null;
}

/** Deletes exactly the rows one object holds, with their event_ids and rollup counts; one statement. */
async function deleteObjectRows(tx: TransactionSql, scope: TenantScope, object: WrittenObject, before: Date) {
  const [gone] = await run(
    tx,
    compilable(sql<{ deleted: number; erased: number }>`
    with gone as (
      delete from events e
      where e.tenant_id = ${scope.tenantId} and e.seq between ${object.from_seq} and ${object.to_seq}
        and e.occurred_at < ${before}
      returning e.tenant_id, e.id, e.occurred_at, e.action_type, e.severity, e.outcome, e.resource_type, e.user_id, e.erased
    ), gone_ids as (
      delete from event_ids i using gone g where i.tenant_id = ${scope.tenantId} and i.id = g.id
      returning 1
    ), ${subtractGoneFromRollups(scope)}
    select count(*)::int as deleted, count(*) filter (where erased is not null)::int as erased from gone`),
  );
  return gone ?? { deleted: 0, erased: 0 };
}

async function recordArchivedObject(
  tx: TransactionSql,
  scope: TenantScope,
  object: WrittenObject,
  target: ArchiveTarget,
  manifest: string,
  reason: ArchiveReason,
) {
  await tx`
    insert into event_removed_ranges (tenant_id, from_seq, to_seq, last_chain_hash, reason, archive_key)
    values (${scope.tenantId}, ${object.from_seq}, ${object.to_seq}, ${object.last_chain_hash}, ${reason}, ${object.key})`;
  await tx`
    insert into event_archives (tenant_id, from_seq, to_seq, event_count, min_occurred_at, max_occurred_at,
      bucket, object_key, manifest_key, sha256, bytes, events_sha256, last_chain_hash, reason)
    values (${scope.tenantId}, ${object.from_seq}, ${object.to_seq}, ${object.event_count},
      ${object.min_occurred_at}, ${object.max_occurred_at}, ${target.bucket}, ${object.key}, ${manifest},
      ${object.sha256}, ${object.bytes}, ${object.events_sha256}, ${object.last_chain_hash}, ${reason})`;
}

/**
 * Archives, then deletes, every event of `scope` before `before`. Throws (deleting nothing more)
 * when the archive cannot be written; rows whose objects were written are deleted only once the
 * run's manifest is written too.
 */
export async function archiveAndDeleteEventsBefore(
  db: Database,
  writer: ArchiveWriter,
  scope: TenantScope,
  settings: ArchiveSettings,
  before: Date,
  reason: ArchiveReason,
): Promise<ArchiveResult> {
  const target = writer.storage.targetOf(settings);
  if (!target)
    throw new VigilError(
      "ARCHIVE_UNAVAILABLE",
      "archiving is enabled but no bucket is set (the tenant's archive.bucket or ARCHIVE_S3_BUCKET); nothing was deleted",
    );
  const result: ArchiveResult = { deleted: 0, objects: 0, bytes: 0 };
  for (;;) {
    runsStarted++;
    const objects: WrittenObject[] = [];
    const runRollup = new HashRollup();
    let current: ObjectBuilder | null = null;
    for await (const row of expiredRows(db, scope, before)) {
      const line = archiveLine(row);
      if (current && !current.accepts(row.seq, line, writer.maxEventsPerObject)) {
        objects.push(await writeObject(writer, target, scope, current));
        current = null;
        if (objects.length >= RUN_MAX_OBJECTS) break;
      }
      current ??= new ObjectBuilder(row.seq, runRollup);
      current.add(row, line);
    }
    if (current) objects.push(await writeObject(writer, target, scope, current));
    if (!objects.length) return result;

    const fromSeq = objects[0]!.from_seq;
    const toSeq = objects.at(-1)!.to_seq;
    const manifest: ArchiveManifest = {
      format: MANIFEST_FORMAT,
      tenant_id: scope.tenantId,
      reason,
      created_at: new Date().toISOString(),
      bucket: target.bucket,
      prefix: target.prefix,
      from_seq: fromSeq,
      to_seq: toSeq,
      event_count: objects.reduce((sum, object) => sum + object.event_count, 0),
      objects: objects.map(({ erased: _erased, ...object }) => object),
      events_sha256: runRollup.digest(),
      checkpoint: await coveringCheckpoint(db, scope, toSeq),
    };
    const manifestAt = manifestKey(target.prefix, scope.tenantId, fromSeq, toSeq);
    await writer.storage.put(target.bucket, manifestAt, `${JSON.stringify(manifest, null, 2)}\n`, {
      contentType: "application/json",
    });
    faultPoint(writer, "after_objects");

    for (const object of objects) {
      await db.withTenant(scope.tenantId, async (tx) => {
        const gone = await deleteObjectRows(tx, scope, object, before);
        // Rows changed since they were read (an erasure in between): roll back, archive again next time.
        if (gone.deleted !== object.event_count || gone.erased !== object.erased)
          throw new VigilError(
            "CONFLICT",
            `events ${object.from_seq}..${object.to_seq} changed while being archived; nothing of them was deleted`,
          );
        faultPoint(writer, "after_delete");
        await recordArchivedObject(tx, scope, object, target, manifestAt, reason);
      });
      faultPoint(writer, "after_commit"); // a partial run: this object's rows are gone, the rest are not
      result.deleted += object.event_count;
      result.objects++;
      result.bytes += object.bytes;
    }
    writer.logger?.info(
      { tenant_id: scope.tenantId, from_seq: fromSeq, to_seq: toSeq, objects: objects.length, reason },
      "archived and deleted",
    );
  }
}
