// Export: every event matching the search filters, as CSV or NDJSON, written by PostgreSQL itself
// (`COPY (select …) TO STDOUT`, see export-copy-sql.ts) and relayed to the client a buffer at a
// time. PostgreSQL is read only as fast as the client takes the bytes, so memory stays flat for
// any export size; a client that goes away cancels the COPY and ends the transaction at once.
import { Readable } from "node:stream";
import { z } from "zod";
import { type Database, setTenant } from "../db/database.ts";
import { EVENT_COLUMNS } from "./event-rows.ts";
import { exportCopyStatement } from "./export-copy-sql.ts";
import { CopyOut, copyTextDecoder, countRows } from "./export-copy-stream.ts";
import { type EventFilter, eventFilterSchema } from "./search-params.ts";
import type { TenantScope } from "./tenant-scope.ts";
import { resolveTimeWindow } from "./time-window.ts";

export const EXPORT_FORMATS = ["csv", "ndjson"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const exportParamsSchema = eventFilterSchema
  .extend({
    format: z.enum(EXPORT_FORMATS, `must be one of ${EXPORT_FORMATS.join(", ")}`).default("csv"),
    /** Resume an interrupted export: only events with a larger seq. */
    after_seq: z.coerce
      .number("must be a whole number")
      .int("must be a whole number")
      .min(0, "must not be negative")
      .optional(),
  })
  .refine((value) => !value.from || !value.to || Date.parse(value.from) <= Date.parse(value.to), {
    message: "must not be after `to`",
    path: ["from"],
  });

export type ExportParams = z.infer<typeof exportParamsSchema>;

/**
 * CSV columns, fixed and in this order (the public event shape). JSON values (states, metadata,
 * redacted paths) are JSON in one cell, as PostgreSQL prints them; absent values are empty cells.
 */
export const EXPORT_COLUMNS = ["seq", ...EVENT_COLUMNS.filter((column) => column !== "seq")] as const;

export interface ExportPlan {
  format: ExportFormat;
  contentType: string;
  fileName: string;
  /** The filter as resolved (window start filled in), for the audit record. */
  filter: EventFilter & { from: string };
  afterSeq?: number;
}

/** Validated parameters → what will be exported; cheap, runs before any response is sent. */
export function planExport(params: ExportParams, now: Date = new Date()): ExportPlan {
  const { format, after_seq, ...filter } = params;
  const window = resolveTimeWindow(filter, now);
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return {
    format,
    contentType: format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
    fileName: `vigil-events-${stamp}.${format === "csv" ? "csv" : "ndjson"}`,
    filter: { ...filter, from: window.from, ...(window.to ? { to: window.to } : {}) },
    ...(after_seq !== undefined ? { afterSeq: after_seq } : {}),
  };
}

export interface ExportProgress {
  rows: number;
  completed: boolean;
}

/** The CSV header line: the column names, none of which needs quoting. */
const CSV_HEADER = `${EXPORT_COLUMNS.join(",")}\n`;

/**
 * The export as a byte stream (node Readable) in the plan's format, produced by PostgreSQL as one
 * `COPY (select …) TO STDOUT` inside a read-only transaction scoped to the tenant (RLS and the
 * WHERE clause, as every read), on the same role and pool as every other query. Only as much is
 * read from PostgreSQL as the output takes; when the output is destroyed (client gone, stalled)
 * the COPY is cancelled, the transaction rolled back and the connection returned to the pool.
 * `progress` counts rows sent.
 */
export function exportEvents(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
  progress: ExportProgress = { rows: 0, completed: false },
): Readable {
  return Readable.from(copyExport(db, scope, plan, progress), {
    objectMode: false,
    highWaterMark: 64 * 1024,
  });
}

async function* copyExport(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
  progress: ExportProgress,
): AsyncGenerator<Buffer> {
  const statement = exportCopyStatement(plan.format, scope, plan.filter, plan.afterSeq);
  const connection = await db.sql.reserve();
  let open = false;
  let copy: CopyOut | undefined;
  try {
    await connection.unsafe("begin read only");
    open = true;
    await setTenant(connection, scope.tenantId);
    // One statement for the whole export: statement_timeout would cut off any long one, so within
    // this transaction it is lifted, and kept instead as the longest PostgreSQL may go without
    // producing a byte while the client waits (as it bounded each cursor fetch before).
    const [setting] = (await connection.unsafe(
      "select setting::int as ms from pg_settings where name = 'statement_timeout'",
    )) as unknown as Array<{ ms: number }>;
    await connection.unsafe("set local statement_timeout = 0");
    copy = await CopyOut.start(connection, statement, setting?.ms ?? 0);
    if (plan.format === "csv") yield Buffer.from(CSV_HEADER);
    const decode = copyTextDecoder();
    for (let chunk = await copy.next(); chunk !== null; chunk = await copy.next()) {
      progress.rows += countRows(chunk);
      yield decode(chunk);
    }
    await connection.unsafe("commit");
    open = false;
    progress.completed = true;
  } finally {
    if (copy && !copy.done) await copy.abort().catch(() => undefined);
    // A CancelRequest racing the COPY's own end can cancel the next statement instead: the
    // rollback is retried once, so the connection never goes back to the pool inside a transaction.
    if (open)
      await connection
        .unsafe("rollback")
        .catch(() => connection.unsafe("rollback"))
        .catch(() => undefined);
    connection.release();
  }
}
