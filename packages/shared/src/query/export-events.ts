// Export: every event matching the search filters, as CSV or NDJSON, streamed from a server-side
// cursor. Batches are pulled only as fast as the consumer reads them, so memory stays flat for any
// export size; a consumer that goes away closes the cursor and the transaction at once.
import { Readable, type Writable } from "node:stream";
import { format as csvFormat } from "fast-csv";
import { z } from "zod";
import type { Database } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import { applyEventFilter, baseEventsQuery } from "./search-events.ts";
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
 * redacted paths) are compact JSON in one cell; absent values are empty cells.
 */
export const EXPORT_COLUMNS = ["seq", ...EVENT_COLUMNS.filter((column) => column !== "seq")] as const;

/** Rows fetched per round trip of the server-side cursor. */
export const EXPORT_BATCH_SIZE = 1000;

/**
 * Spreadsheet formula injection: a cell that starts with = + - @ tab or CR can run as a formula
 * when the file is opened, so it is prefixed with an apostrophe (OWASP's recommendation).
 */
export function neutralizeFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

export function exportEventsQuery(
  scope: TenantScope,
  filter: EventFilter & { from: string },
  afterSeq?: number,
) {
  let query = applyEventFilter(baseEventsQuery(), scope, filter).select([...EVENT_COLUMNS]);
  if (afterSeq !== undefined) query = query.where("seq", ">", afterSeq);
  // seq order: an interrupted export resumes with after_seq = the last seq received.
  return query.orderBy("seq", "asc");
}

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

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return neutralizeFormula(JSON.stringify(value));
  return neutralizeFormula(String(value));
}

/** The rows of an export, a cursor batch at a time, from inside the tenant's scope. */
export async function* exportedBatches(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
): AsyncGenerator<StoredEvent[]> {
  const query = exportEventsQuery(scope, plan.filter, plan.afterSeq);
  for await (const batch of db.cursorWithTenant(scope.tenantId, query, EXPORT_BATCH_SIZE)) {
    yield (batch as unknown as EventRow[]).map(toStoredEvent);
  }
}

export interface ExportProgress {
  rows: number;
  completed: boolean;
}

/** Resolves when `stream` can take more (drain) or is gone (close): true if it can. */
function writable(stream: Writable): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    stream.on("drain", onDrain);
    stream.on("close", onClose);
  });
}

/**
 * The export as a byte stream (node Readable) in the plan's format. Work is done a cursor batch
 * at a time (not per row) and the next batch is fetched only once the output has drained; when
 * the output is destroyed (client gone) the cursor is closed. `progress` counts rows sent.
 */
export function exportEvents(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
  progress: ExportProgress = { rows: 0, completed: false },
): Readable {
  const batches = exportedBatches(db, scope, plan);
  if (plan.format === "ndjson") {
    return Readable.from(
      (async function* () {
        for await (const batch of batches) {
          progress.rows += batch.length;
          yield `${batch.map((event) => JSON.stringify(event)).join("\n")}\n`;
        }
        progress.completed = true;
      })(),
      { objectMode: false, highWaterMark: 256 * 1024 },
    );
  }
  const csv = csvFormat({
    headers: [...EXPORT_COLUMNS],
    alwaysWriteHeaders: true,
    includeEndRowDelimiter: true,
  });
  void (async () => {
    try {
      for await (const batch of batches) {
        if (csv.destroyed) break;
        let more = true;
        for (const event of batch) more = csv.write(EXPORT_COLUMNS.map((column) => csvCell(event[column])));
        progress.rows += batch.length;
        if (!more && !(await writable(csv))) break;
      }
      if (!csv.destroyed) {
        progress.completed = true;
        csv.end();
      }
    } catch (error) {
      csv.destroy(error as Error);
    }
  })();
  return csv;
}
