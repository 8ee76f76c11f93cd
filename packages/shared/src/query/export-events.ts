// Export: every event matching the search filters, as CSV or NDJSON, streamed from a server-side
// cursor. Batches are pulled only as fast as the consumer reads them (one batch read ahead), so
// memory stays flat for any export size; a consumer that goes away closes the cursor and the
// transaction at once.
import { Readable } from "node:stream";
import { sql } from "kysely";
import { z } from "zod";
import { type Database, setTenant } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { EVENT_COLUMNS } from "./event-rows.ts";
import { applyEventFilter, baseEventsQuery, JSON_BYTES } from "./search-events.ts";
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

/** Most rows fetched per round trip of the server-side cursor. */
export const EXPORT_BATCH_SIZE = 2000;
/**
 * Most bytes of JSON values (states, metadata) in one fetched batch, after its first row: rows
 * near the 256 KiB event limit come a few dozen at a time, not 2,000 (hundreds of MB), while
 * typical rows still come 2,000 at a time.
 */
export const EXPORT_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * How many of the rows whose JSON sizes are `sizes[start…]` the next batch takes: up to
 * EXPORT_BATCH_SIZE, ending after the row that reaches EXPORT_BATCH_BYTES (at least one row).
 */
export function batchLength(sizes: readonly number[], start: number): number {
  let count = 0;
  let bytes = 0;
  while (
    start + count < sizes.length &&
    count < EXPORT_BATCH_SIZE &&
    (count === 0 || bytes < EXPORT_BATCH_BYTES)
  ) {
    bytes += sizes[start + count]!;
    count++;
  }
  return count;
}

/**
 * An event as the export reads it: every value already text in its output form, so no Date or
 * JSON object is built per row. Timestamps are ISO 8601 UTC with milliseconds (as toISOString);
 * JSON values are JSON text: states and metadata as jsonb prints them (`{"a": 1, "b": [1, 2]}`,
 * the same values as the compact form), redacted paths compact.
 */
export type ExportRow = Omit<Pick<StoredEvent, (typeof EVENT_COLUMNS)[number]>, keyof ExportText> &
  ExportText & {
    /** An erased event's marker as JSON text (NDJSON shows it as GET /logs/{id} does); CSV has no column for it. */
    erased: string | null;
  };

/** The columns PostgreSQL hands over already as output text (see the comment above). */
interface ExportText {
  occurred_at: string;
  received_at: string;
  before_state: string | null;
  after_state: string | null;
  metadata: string | null;
  redacted: string;
}

/** Column → SQL that yields it as ExportRow text; every other column is read as it is. */
const EXPORT_SELECTION = EVENT_COLUMNS.map((column) => {
  switch (column) {
    case "occurred_at":
    case "received_at":
      return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`.as(
        column,
      );
    case "before_state":
    case "after_state":
    case "metadata":
      return sql<string | null>`${sql.ref(column)}::text`.as(column);
    case "redacted":
      // array_to_json writes compact JSON, as JSON.stringify of the array.
      return sql<string>`array_to_json(redacted)::text`.as("redacted");
    default:
      return column;
  }
});

/**
 * Spreadsheet formula injection: a cell that starts with = + - @ tab or CR can run as a formula
 * when the file is opened, so it is prefixed with an apostrophe (OWASP's recommendation).
 */
export function neutralizeFormula(cell: string): string {
  const first = cell.charCodeAt(0);
  // = + - @ tab CR
  return first === 61 || first === 43 || first === 45 || first === 64 || first === 9 || first === 13
    ? `'${cell}`
    : cell;
}

export function exportEventsQuery(
  scope: TenantScope,
  filter: EventFilter & { from: string },
  afterSeq?: number,
) {
  let query = applyEventFilter(baseEventsQuery(), scope, filter)
    .select(EXPORT_SELECTION)
    .select(sql<string | null>`erased::text`.as("erased"));
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

/**
 * RFC 4180 quoting, byte for byte as the CSV library this replaced wrote it (existing exports and
 * their consumers stay valid): NULs dropped; a field holding a quote is quoted with quotes doubled;
 * one holding a comma, CR, LF or `|` is quoted as it is.
 */
const NEEDS_QUOTING = /[",\r\n|\0]/;
function csvField(text: string): string {
  if (!NEEDS_QUOTING.test(text)) return text;
  const field = text.includes("\0") ? text.replaceAll("\0", "") : text;
  if (field.includes('"')) return `"${field.replaceAll('"', '""')}"`;
  return /[,\r\n|]/.test(field) ? `"${field}"` : field;
}

const CSV_HEADER = `${EXPORT_COLUMNS.map(csvField).join(",")}\n`;

/** A CSV cell of free text: absent → empty; formulas neutralised. */
const textCell = (value: string | null) => (value === null ? "" : csvField(neutralizeFormula(value)));
/** A CSV cell of JSON text: it starts with { or [, so it is never taken for a formula. */
const jsonCell = (value: string | null) => (value === null ? "" : csvField(value));

/** One CSV row in EXPORT_COLUMNS order; uuids, hashes, enums and timestamps never need quoting. */
function csvRow(row: ExportRow): string {
  return `${row.seq},${row.id},${row.tenant_id},${row.occurred_at},${row.received_at},${row.action_type},${textCell(row.action)},${textCell(row.resource_type)},${textCell(row.resource_id)},${textCell(row.user_id)},${textCell(row.session_id)},${textCell(row.ip_address)},${textCell(row.user_agent)},${row.severity},${row.outcome},${jsonCell(row.before_state)},${jsonCell(row.after_state)},${jsonCell(row.metadata)},${jsonCell(row.redacted)},${row.hash}`;
}

const jsonString = (value: string | null) => (value === null ? "null" : JSON.stringify(value));

/**
 * One NDJSON line: the event with the fields, order and values of GET /logs/{id}; the JSON values
 * spliced in as PostgreSQL printed them. uuids, hashes, enums and timestamps need no escaping.
 */
function ndjsonRow(row: ExportRow): string {
  return `{"id":"${row.id}","tenant_id":"${row.tenant_id}","seq":${row.seq},"occurred_at":"${row.occurred_at}","received_at":"${row.received_at}","action_type":"${row.action_type}","action":${JSON.stringify(row.action)},"resource_type":${JSON.stringify(row.resource_type)},"resource_id":${JSON.stringify(row.resource_id)},"user_id":${jsonString(row.user_id)},"session_id":${jsonString(row.session_id)},"ip_address":${jsonString(row.ip_address)},"user_agent":${jsonString(row.user_agent)},"severity":"${row.severity}","outcome":"${row.outcome}","before_state":${row.before_state ?? "null"},"after_state":${row.after_state ?? "null"},"metadata":${row.metadata ?? "null"},"redacted":${row.redacted},"hash":"${row.hash}"${row.erased === null ? "" : `,"erased":${row.erased}`}}`;
}

/** Yields `source`'s items while the next one is already being fetched (one item read ahead). */
async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = iterator.next();
      yield current.value;
    }
  } finally {
    // Stopped early (consumer gone, or an error): the fetch in flight settles, then the source
    // closes (for the cursor: rollback and the connection back to the pool).
    next.catch(() => undefined);
    await iterator.return?.();
  }
}

/** The export's rows in the same order, each reduced to its seq and the size of its JSON values. */
export function exportSizesQuery(
  scope: TenantScope,
  filter: EventFilter & { from: string },
  afterSeq?: number,
) {
  let query = applyEventFilter(baseEventsQuery(), scope, filter).select(["seq", JSON_BYTES.as("json_bytes")]);
  if (afterSeq !== undefined) query = query.where("seq", ">", afterSeq);
  return query.orderBy("seq", "asc");
}

/**
 * The rows of an export from two server-side cursors over the same rows in one read-only
 * REPEATABLE READ transaction (one snapshot): one yields only each row's JSON size, the other the
 * rows, fetched as many at a time as batchLength allows, so a batch is bounded in bytes before
 * it is read, however sizes are mixed. Stopping the iteration (client gone, stalled, error) rolls
 * back, which closes both cursors, and returns the connection to the pool.
 */
async function* exportCursor(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
): AsyncGenerator<ExportRow[]> {
  const rows = exportEventsQuery(scope, plan.filter, plan.afterSeq).compile();
  const sizesQuery = exportSizesQuery(scope, plan.filter, plan.afterSeq).compile();
  const connection = await db.sql.reserve();
  let open = false;
  try {
    await connection.unsafe("begin isolation level repeatable read read only");
    open = true;
    await setTenant(connection, scope.tenantId);
    await connection.unsafe(
      `declare vigil_export_sizes no scroll cursor for ${sizesQuery.sql}`,
      sizesQuery.parameters as never[],
    );
    await connection.unsafe(
      `declare vigil_export no scroll cursor for ${rows.sql}`,
      rows.parameters as never[],
    );
    let sizes: number[] = [];
    let next = 0;
    let sizesDone = false;
    for (;;) {
      if (!sizesDone && sizes.length - next < EXPORT_BATCH_SIZE) {
        const fetched = (await connection.unsafe(
          `fetch forward ${EXPORT_BATCH_SIZE} from vigil_export_sizes`,
        )) as unknown as Array<{ json_bytes: number }>;
        sizes = sizes.slice(next).concat(fetched.map((row) => Number(row.json_bytes)));
        next = 0;
        sizesDone = fetched.length < EXPORT_BATCH_SIZE;
      }
      const count = batchLength(sizes, next);
      if (count === 0) break;
      const batch = (await connection.unsafe(
        `fetch forward ${count} from vigil_export`,
      )) as unknown as ExportRow[];
      next += count;
      if (batch.length > 0) yield Array.from(batch);
      if (batch.length < count) break;
    }
    await connection.unsafe("commit");
    open = false;
  } finally {
    if (open) await connection.unsafe("rollback").catch(() => undefined);
    connection.release();
  }
}

/** The rows of an export, a cursor batch at a time, from inside the tenant's scope. */
async function* exportedBatches(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
): AsyncGenerator<ExportRow[]> {
  // While one batch is formatted and written, PostgreSQL already produces the next.
  yield* readAhead(exportCursor(db, scope, plan));
}

export interface ExportProgress {
  rows: number;
  completed: boolean;
}

/**
 * Characters per output chunk: rows are joined up to about this size. Kept below V8's large-object
 * size (128 KiB) so an export's text is short-lived young-generation garbage, not old-space that
 * only a full collection frees (which let the api's RSS climb by ~100 MB during an export).
 */
const CHUNK_CHARS = 64 * 1024;

/** Batches of events → the export's text in `format`, in chunks of whole rows; `progress` counts rows. */
export async function* formatExport(
  format: ExportFormat,
  batches: AsyncIterable<ExportRow[]>,
  progress: ExportProgress,
): AsyncGenerator<string> {
  const formatRow = format === "csv" ? csvRow : ndjsonRow;
  if (format === "csv") yield CSV_HEADER;
  for await (const batch of batches) {
    progress.rows += batch.length;
    let lines: string[] = [];
    let size = 0;
    for (const row of batch) {
      const line = formatRow(row);
      lines.push(line);
      size += line.length + 1;
      if (size >= CHUNK_CHARS) {
        yield `${lines.join("\n")}\n`;
        lines = [];
        size = 0;
      }
    }
    if (lines.length) yield `${lines.join("\n")}\n`;
  }
  progress.completed = true;
}

/**
 * The export as a byte stream (node Readable) in the plan's format, formatted a cursor batch at a time.
 * The next batch is fetched only once the output wants more; when the output is destroyed (client
 * gone) the cursor is closed. `progress` counts rows sent.
 */
export function exportEvents(
  db: Database,
  scope: TenantScope,
  plan: ExportPlan,
  progress: ExportProgress = { rows: 0, completed: false },
): Readable {
  return Readable.from(formatExport(plan.format, exportedBatches(db, scope, plan), progress), {
    objectMode: false,
    highWaterMark: 256 * 1024,
  });
}
