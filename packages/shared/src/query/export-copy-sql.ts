// The export as one `COPY (select …) TO STDOUT` statement: PostgreSQL writes every output line
// itself (CSV quoting, formula neutralising, the NDJSON object), so the api only relays bytes.
// COPY takes no bind parameters, so the filter's values are written into the statement as
// escaped literals (inlineParameters); nothing else from the request reaches the SQL text.
import type { CompiledQuery } from "kysely";
import { sql } from "kysely";
import { EVENT_COLUMNS } from "./event-rows.ts";
import { applyEventFilter, baseEventsQuery } from "./search-events.ts";
import type { EventFilter } from "./search-params.ts";
import type { TenantScope } from "./tenant-scope.ts";

/** Marks the export's statement in pg_stat_activity (tests and operators look for it). */
export const EXPORT_STATEMENT_MARK = "vigil_export";

/** Column → SQL that yields it as output text; every other column is read as it is. */
const OUTPUT_TEXT = EVENT_COLUMNS.map((column) => {
  switch (column) {
    case "occurred_at":
    case "received_at":
      // ISO 8601 UTC with milliseconds, as Date#toISOString writes it.
      return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`.as(
        column,
      );
    case "before_state":
    case "after_state":
    case "metadata":
      // jsonb's own text layout (`{"a": 1, "b": [1, 2]}`), as exports have always carried it.
      return sql<string | null>`${sql.ref(column)}::text`.as(column);
    case "redacted":
      // array_to_json writes compact JSON, as JSON.stringify of the array.
      return sql<string>`array_to_json(redacted)::text`.as("redacted");
    default:
      return column;
  }
});

/** The export's rows in seq order, each column already its output text. */
export function exportRowsQuery(
  scope: TenantScope,
  filter: EventFilter & { from: string },
  afterSeq?: number,
) {
  let query = applyEventFilter(baseEventsQuery(), scope, filter)
    .select(OUTPUT_TEXT)
    .select(sql<string | null>`erased::text`.as("erased"));
  if (afterSeq !== undefined) query = query.where("seq", ">", afterSeq);
  // seq order: an interrupted export resumes with after_seq = the last seq received.
  return query.orderBy("seq", "asc");
}

/**
 * A value as a SQL literal that means exactly that value whatever standard_conforming_strings
 * says: an E'' string with backslashes and quotes escaped. Only the types the filter produces.
 */
export function sqlLiteral(value: unknown): string {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("export filter: a number must be finite");
    // In parentheses when negative: a `-` written just before it would otherwise make `--`, a comment.
    return value < 0 ? `(${value})` : String(value);
  }
  const text = value instanceof Date ? value.toISOString() : value;
  if (typeof text !== "string") throw new TypeError(`export filter: unsupported value type ${typeof value}`);
  // Validation refuses NUL in every filter; PostgreSQL could not take it in a statement anyway.
  if (text.includes("\0")) throw new TypeError("export filter: NUL in a value");
  return `E'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/**
 * The compiled query with each `$n` replaced by its parameter as a literal. The builder's SQL holds
 * string literals of its own (formats, 'UTC') but no `$` inside them; quoted text is skipped anyway.
 */
export function inlineParameters(compiled: CompiledQuery): string {
  const { sql: text, parameters } = compiled;
  let out = "";
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (char === "'" || char === '"') {
      const end = text.indexOf(char, index + 1);
      if (end === -1) throw new Error("export: unterminated quote in the compiled query");
      out += text.slice(index, end + 1);
      index = end + 1;
    } else if (char === "$" && /\d/.test(text[index + 1] ?? "")) {
      let end = index + 1;
      while (/\d/.test(text[end] ?? "")) end++;
      const position = Number(text.slice(index + 1, end));
      if (position < 1 || position > parameters.length) throw new Error(`export: no parameter $${position}`);
      out += sqlLiteral(parameters[position - 1]);
      index = end;
    } else {
      out += char;
      index++;
    }
  }
  return out;
}

/** Characters that make a CSV cell quoted (RFC 4180, plus `|` as the CSV library this replaced did). */
const NEEDS_QUOTING = `E'[",\\r\\n|]'`;
/** First characters a spreadsheet takes for a formula: = + - @ tab CR (as code points). */
const FORMULA_START = "(61, 43, 45, 64, 9, 13)";

/**
 * A cell's text quoted for CSV, quotes doubled, in one call: quote_ident does exactly that to any
 * text holding a character other than [a-z0-9_], which every cell that needs quoting does.
 */
const quoted = (text: string) => `quote_ident(${text})`;

/**
 * A CSV cell of JSON text: quoted when it must be, quotes doubled; absent → empty. jsonb prints an
 * object with a key with at least one quote and an empty one as exactly `{}`, and JSON text of at
 * most two bytes holds a quote only as `""`, so most cells are settled by their length and first
 * character; anything else is tested.
 */
const jsonCell = (column: string) =>
  `case when octet_length(${column}) > 2 and ascii(${column}) = 123 then ${quoted(column)} when octet_length(${column}) <= 2 and ascii(${column}) <> 34 then ${column} when strpos(${column}, '"') > 0 or ${column} ~ ${NEEDS_QUOTING} then ${quoted(column)} else coalesce(${column}, '') end`;

/** A CSV cell of free text: a formula start prefixed with ', then quoted as a JSON cell is. */
const textCell = (column: string) =>
  `case when ${column} is null then '' when ${column} ~ ${NEEDS_QUOTING} then concat('"', case when ascii(${column}) in ${FORMULA_START} then '''' end, replace(${column}, '"', '""'), '"') when ascii(${column}) in ${FORMULA_START} then concat('''', ${column}) else ${column} end`;

/** A CSV cell of free text known to need neither quoting nor the formula prefix. */
const plainTextCell = (column: string) => `coalesce(${column}, '')`;

const TEXT_COLUMNS = [
  "action",
  "resource_type",
  "resource_id",
  "user_id",
  "session_id",
  "ip_address",
  "user_agent",
];

/** One CSV line in EXPORT_COLUMNS order; uuids, hashes, enums and timestamps never need quoting. */
const csvLine = (text: (column: string) => string) =>
  `concat_ws(',', seq, id, tenant_id, occurred_at, received_at, action_type, ${TEXT_COLUMNS.map(text).join(", ")}, severity, outcome, ${jsonCell("before_state")}, ${jsonCell("after_state")}, ${jsonCell("metadata")}, ${jsonCell("redacted")}, hash)`;

/**
 * The row's free text, each cell after a \x01: one regular expression over it finds every cell
 * that needs quoting or starts like a formula (a \x01 inside a cell can only send a row the
 * careful way). A per-cell test costs several times that one test, so only rows that need it
 * take the per-cell path.
 */
const TEXT_NEEDS_CARE = `concat(E'\\x01', ${TEXT_COLUMNS.join(", E'\\x01', ")}) ~ E'[",\\r\\n|]|\\x01[-=+@\\t\\r]'`;

const CSV_LINE = `case when ${TEXT_NEEDS_CARE} then ${csvLine(textCell)} else ${csvLine(plainTextCell)} end`;

/** A JSON string (to_json escapes as JSON.stringify does), or null. */
const jsonString = (column: string) => `coalesce(to_json(${column})::text, 'null')`;

/** A JSON string of text known to hold no quote, backslash or control character, or null. */
const plainJsonString = (column: string) => `coalesce('"' || ${column} || '"', 'null')`;

/** Whether any free text needs JSON escaping: a quote, a backslash or a control character. */
const TEXT_NEEDS_ESCAPES = String.raw`concat(${TEXT_COLUMNS.join(", ")}) ~ E'["\\\\\x01-\x1f]'`;

/**
 * One NDJSON line: the event with the fields, order and values of GET /logs/{id}, states and
 * metadata in jsonb's layout, an erased event's marker after its hash.
 */
const ndjsonLine = (string: (column: string) => string) =>
  `concat('{"id":"', id, '","tenant_id":"', tenant_id, '","seq":', seq, ',"occurred_at":"', occurred_at, '","received_at":"', received_at, '","action_type":"', action_type, '","action":', ${string("action")}, ',"resource_type":', ${string("resource_type")}, ',"resource_id":', ${string("resource_id")}, ',"user_id":', ${string("user_id")}, ',"session_id":', ${string("session_id")}, ',"ip_address":', ${string("ip_address")}, ',"user_agent":', ${string("user_agent")}, ',"severity":"', severity, '","outcome":"', outcome, '","before_state":', coalesce(before_state, 'null'), ',"after_state":', coalesce(after_state, 'null'), ',"metadata":', coalesce(metadata, 'null'), ',"redacted":', redacted, ',"hash":"', hash, '"', ',"erased":' || erased, '}')`;

/** to_json per string costs more than one test per row, so only rows that need escaping pay it. */
const NDJSON_LINE = `case when ${TEXT_NEEDS_ESCAPES} then ${ndjsonLine(jsonString)} else ${ndjsonLine(plainJsonString)} end`;

/**
 * The COPY statement of an export: one text column per event, its whole CSV or NDJSON line. The
 * rows come from a subquery kept apart (`offset 0`) so each value is turned into text once.
 * Text format: PostgreSQL ends each line with \n and backslash-escapes \ and control characters
 * inside it, which decodeCopyText undoes.
 */
export function exportCopyStatement(
  format: "csv" | "ndjson",
  scope: TenantScope,
  filter: EventFilter & { from: string },
  afterSeq?: number,
): string {
  const rows = inlineParameters(exportRowsQuery(scope, filter, afterSeq).compile());
  const line = format === "csv" ? CSV_LINE : NDJSON_LINE;
  // The mark first: pg_stat_activity keeps only the start of a long statement.
  return `copy /* ${EXPORT_STATEMENT_MARK} */ (select ${line} from (${rows} offset 0) as exported) to stdout`;
}
