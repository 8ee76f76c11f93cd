// The export's text as the previous implementation wrote it in JavaScript (rows read as text,
// formatted row by row), kept only as the oracle the COPY export is compared with, byte for byte
// (export-copy.test.ts). export-format.test.ts checks this oracle against fast-csv, the CSV
// library the first export used, so the chain of "same bytes as before" stays unbroken.
import type { StoredEvent } from "@vigil/shared/events/event-schema";
import type { EVENT_COLUMNS } from "@vigil/shared/query/event-rows";
import { EXPORT_COLUMNS, type ExportFormat } from "@vigil/shared/query/export-events";

/**
 * An event as the export's query returns it: every value already text in its output form.
 * Timestamps are ISO 8601 UTC with milliseconds; states and metadata as jsonb prints them;
 * redacted paths compact JSON; an erased event's marker as JSON text (NDJSON only).
 */
export type ExportRow = Omit<Pick<StoredEvent, (typeof EVENT_COLUMNS)[number]>, keyof ExportText> &
  ExportText & { erased: string | null };

interface ExportText {
  occurred_at: string;
  received_at: string;
  before_state: string | null;
  after_state: string | null;
  metadata: string | null;
  redacted: string;
}

/** A cell that starts with = + - @ tab or CR is prefixed with an apostrophe (OWASP). */
export function neutralizeFormula(cell: string): string {
  const first = cell.charCodeAt(0);
  return first === 61 || first === 43 || first === 45 || first === 64 || first === 9 || first === 13
    ? `'${cell}`
    : cell;
}

/** RFC 4180 quoting as fast-csv wrote it: NULs dropped; quotes doubled; `,` CR LF `|` quoted. */
const NEEDS_QUOTING = /[",\r\n|\0]/;
function csvField(text: string): string {
  if (!NEEDS_QUOTING.test(text)) return text;
  const field = text.includes("\0") ? text.replaceAll("\0", "") : text;
  if (field.includes('"')) return `"${field.replaceAll('"', '""')}"`;
  return /[,\r\n|]/.test(field) ? `"${field}"` : field;
}

const textCell = (value: string | null) => (value === null ? "" : csvField(neutralizeFormula(value)));
const jsonCell = (value: string | null) => (value === null ? "" : csvField(value));

function csvRow(row: ExportRow): string {
  return `${row.seq},${row.id},${row.tenant_id},${row.occurred_at},${row.received_at},${row.action_type},${textCell(row.action)},${textCell(row.resource_type)},${textCell(row.resource_id)},${textCell(row.user_id)},${textCell(row.session_id)},${textCell(row.ip_address)},${textCell(row.user_agent)},${row.severity},${row.outcome},${jsonCell(row.before_state)},${jsonCell(row.after_state)},${jsonCell(row.metadata)},${jsonCell(row.redacted)},${row.hash}`;
}

const jsonString = (value: string | null) => (value === null ? "null" : JSON.stringify(value));

function ndjsonRow(row: ExportRow): string {
  return `{"id":"${row.id}","tenant_id":"${row.tenant_id}","seq":${row.seq},"occurred_at":"${row.occurred_at}","received_at":"${row.received_at}","action_type":"${row.action_type}","action":${JSON.stringify(row.action)},"resource_type":${JSON.stringify(row.resource_type)},"resource_id":${JSON.stringify(row.resource_id)},"user_id":${jsonString(row.user_id)},"session_id":${jsonString(row.session_id)},"ip_address":${jsonString(row.ip_address)},"user_agent":${jsonString(row.user_agent)},"severity":"${row.severity}","outcome":"${row.outcome}","before_state":${row.before_state ?? "null"},"after_state":${row.after_state ?? "null"},"metadata":${row.metadata ?? "null"},"redacted":${row.redacted},"hash":"${row.hash}"${row.erased === null ? "" : `,"erased":${row.erased}`}}`;
}

/** The whole export text of `rows` in `format`, as the previous path wrote it. */
export function formatExportOracle(format: ExportFormat, rows: readonly ExportRow[]): string {
  const header = format === "csv" ? `${EXPORT_COLUMNS.map(csvField).join(",")}\n` : "";
  const formatRow = format === "csv" ? csvRow : ndjsonRow;
  return header + rows.map((row) => `${formatRow(row)}\n`).join("");
}
