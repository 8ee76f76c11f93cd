// GET /api/v1/logs/export?format=bundle&from_seq&to_seq: a tar (docs/tlog/bundle-format.md, written
// by @vigil/verify's writeBundle) holding the signed checkpoint, the range proof that exactly these
// leaves sit at these positions of that tree (O(log n) hashes), and events.ndjson with every stored
// field, the salt included, so `npx @vigil/verify` can check it offline with no trust in Vigil.
//
// Constant memory: rows are streamed from a server-side cursor, twice, inside one REPEATABLE READ
// snapshot — once to learn events.ndjson's size (tar writes an entry's size before its data), once
// to send it — so both passes see exactly the same rows.
import { proveRange, writeBundle } from "@vigil/verify";
import { sql } from "kysely";
import { z } from "zod";
import { compilable, type Database, runCursor, setTenant } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "../query/event-rows.ts";
import type { TenantScope } from "../query/tenant-scope.ts";
import { latestCheckpoint } from "./checkpoint-store.ts";
import "./node-sha256.ts";
import { tileReader } from "./tile-store.ts";

const seqParam = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, "must be a positive integer")
  .transform(Number);

export const bundleParamsSchema = z.strictObject({
  format: z.literal("bundle"),
  from_seq: seqParam.optional(),
  to_seq: seqParam.optional(),
});

export type BundleParams = z.infer<typeof bundleParamsSchema>;

const CURSOR_BATCH = 2000;

export interface BundleProgress {
  events: number;
  bytes: number;
  completed: boolean;
}

type BundleRow = EventRow & { salt: string | null; hash_version: number; erased: EventRow["erased"] };

function rangeQuery(scope: TenantScope, fromSeq: number, toSeq: number) {
  return compilable(sql<BundleRow>`
    select ${sql.join(EVENT_COLUMNS.map((column) => sql.ref(column)))}, salt, hash_version, erased
    from events where tenant_id = ${scope.tenantId} and seq between ${fromSeq} and ${toSeq}
    order by seq`);
}

/** One events.ndjson line: the stored fields, the salt (when the event has one), the hash version. */
function eventLine(row: BundleRow): string {
  const event = toStoredEvent(row);
  return `${JSON.stringify({ ...event, ...(row.salt ? { salt: row.salt } : {}), hash_version: row.hash_version })}\n`;
}

/**
 * The bundle's tar bytes. Checks run before the first byte: the range must be covered by the
 * latest checkpoint (409 with Retry-After otherwise) and every row of it must still be stored.
 */
export async function* exportBundle(
  db: Database,
  scope: TenantScope,
  params: BundleParams,
  options: { retryAfterSeconds: number; progress?: BundleProgress },
): AsyncGenerator<Uint8Array> {
  const progress = options.progress ?? { events: 0, bytes: 0, completed: false };
  const connection = await db.sql.reserve();
  let open = false;
  try {
    await connection.unsafe("begin isolation level repeatable read read only");
    open = true;
    await setTenant(connection, scope.tenantId);
    const checkpoint = await latestCheckpoint(connection, scope.tenantId);
    const fromSeq = params.from_seq ?? 1;
    const toSeq = params.to_seq ?? checkpoint?.tree_size ?? 0;
    if (toSeq < fromSeq) {
      throw new VigilError("INVALID_PARAMETER", "`to_seq` must not be below `from_seq`", [
        { path: "to_seq", message: `must be at least from_seq (${fromSeq})` },
      ]);
    }
    if (!checkpoint || checkpoint.tree_size < toSeq) {
      throw new VigilError(
        "CONFLICT",
        `seq ${toSeq} is not yet covered by a signed checkpoint (latest: ${checkpoint?.tree_size ?? "none"}); retry after the next one`,
        undefined,
        { "Retry-After": String(options.retryAfterSeconds) },
      );
    }
    const [{ count } = { count: 0 }] = await connection<{ count: number }[]>`
      select count(*)::int as count from events where tenant_id = ${scope.tenantId} and seq between ${fromSeq} and ${toSeq}`;
    if (count !== toSeq - fromSeq + 1) {
      throw new VigilError(
        "CONFLICT",
        `${toSeq - fromSeq + 1 - count} event(s) of seq ${fromSeq}..${toSeq} were removed (retention or cleanup); a bundle needs every row of its range`,
        [{ path: "from_seq", message: "choose a range whose events are all still stored" }],
      );
    }
    const proof = await proveRange(
      fromSeq - 1,
      toSeq,
      checkpoint.tree_size,
      tileReader(connection, scope.tenantId),
    );

    let eventsSize = 0;
    for await (const batch of runCursor(connection, rangeQuery(scope, fromSeq, toSeq), CURSOR_BATCH)) {
      for (const row of batch) eventsSize += Buffer.byteLength(eventLine(row));
    }
    async function* lines(): AsyncGenerator<Uint8Array> {
      for await (const batch of runCursor(connection, rangeQuery(scope, fromSeq, toSeq), CURSOR_BATCH)) {
        const text = batch.map(eventLine).join("");
        progress.events += batch.length;
        yield Buffer.from(text);
      }
    }
    for await (const chunk of writeBundle({ checkpoint: checkpoint.note, proof }, eventsSize, lines())) {
      progress.bytes += chunk.length;
      yield chunk;
    }
    await connection.unsafe("commit");
    open = false;
    progress.completed = true;
  } finally {
    if (open) await connection.unsafe("rollback").catch(() => undefined);
    connection.release();
  }
}
