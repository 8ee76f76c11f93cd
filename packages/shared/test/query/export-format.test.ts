// The export oracle's CSV and NDJSON text (the JS formatter the COPY export is compared with byte
// for byte in export-copy.test.ts), without a database: byte for byte what the fast-csv formatter
// (which the first export used) produces for the same cells, on values that need quoting,
// doubling, formula neutralising and NUL stripping. JSON values arrive as text (PostgreSQL's jsonb
// output, `{"a": 1}`) and are written as they came.
import type { StoredEvent } from "@vigil/shared/events/event-schema";
import { EXPORT_COLUMNS } from "@vigil/shared/query/export-events";
import { format as fastCsvFormat } from "fast-csv";
import { describe, expect, test } from "vitest";
import { type ExportRow, formatExportOracle, neutralizeFormula } from "./export-oracle.ts";

const TRICKY = [
  "plain",
  "",
  "a,b",
  'say "hi"',
  '"quoted", with comma',
  "line one\nline two",
  "carriage\rreturn",
  "crlf\r\n",
  "pipe|separated",
  "nul\0inside",
  '\0"',
  "=1+2",
  "+SUM(A1)",
  "-1+1",
  "@cmd",
  "\tx",
  "\rcalc",
  "'already",
  "ünïcödé ✓ 🚀",
  "trailing space ",
];

function event(index: number): StoredEvent {
  const text = TRICKY[index % TRICKY.length]!;
  return {
    id: `00000000-0000-4000-8000-${String(index).padStart(12, "0")}`,
    tenant_id: "11111111-1111-4111-8111-111111111111",
    seq: index + 1,
    occurred_at: new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString(),
    received_at: new Date(Date.UTC(2026, 0, 1) + index * 1000 + 5).toISOString(),
    action_type: "UPDATE",
    action: text,
    resource_type: "invoice",
    resource_id: text,
    user_id: index % 3 === 0 ? null : text,
    session_id: index % 4 === 0 ? null : `s-${index}`,
    ip_address: "10.0.0.1",
    user_agent: text,
    severity: "INFO",
    outcome: "success",
    before_state: index % 2 ? null : { note: text, n: index },
    after_state: { status: text, nested: { list: [text, 1, null, true] } },
    metadata: index % 5 ? { index } : null,
    redacted: index % 2 ? [] : ["metadata.password", text],
    hash: "ab".repeat(32),
  };
}

/** jsonb's text output: `, ` and `: ` between items (only the layout differs from JSON.stringify). */
function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(", ")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.entries(value)
      .map(([key, child]) => `${JSON.stringify(key)}: ${jsonbText(child)}`)
      .join(", ")}}`;
  return JSON.stringify(value);
}

/** The event as the export's query returns it: JSON values as text, as PostgreSQL prints them. */
function exportRow(event: StoredEvent): ExportRow {
  const json = (value: Record<string, unknown> | null | undefined) => (value ? jsonbText(value) : null);
  return {
    ...event,
    user_id: event.user_id ?? null,
    session_id: event.session_id ?? null,
    ip_address: event.ip_address ?? null,
    user_agent: event.user_agent ?? null,
    before_state: json(event.before_state),
    after_state: json(event.after_state),
    metadata: json(event.metadata),
    redacted: JSON.stringify(event.redacted),
    erased: json(event.erased),
  };
}

/** The same rows through fast-csv, with the cells the export writes: JSON values as they came. */
async function fastCsvText(events: StoredEvent[]): Promise<string> {
  const cell = (value: unknown) =>
    value === null || value === undefined
      ? ""
      : typeof value === "object"
        ? Array.isArray(value)
          ? JSON.stringify(value)
          : jsonbText(value)
        : neutralizeFormula(String(value));
  const stream = fastCsvFormat({
    headers: [...EXPORT_COLUMNS],
    alwaysWriteHeaders: true,
    includeEndRowDelimiter: true,
  });
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => stream.on("end", resolve));
  for (const row of events) stream.write(EXPORT_COLUMNS.map((column) => cell(row[column])));
  stream.end();
  await ended;
  return Buffer.concat(chunks).toString("utf8");
}

function exported(format: "csv" | "ndjson", batches: StoredEvent[][]) {
  return { text: formatExportOracle(format, batches.flat().map(exportRow)) };
}

describe("export text", () => {
  const events = Array.from({ length: 3 * TRICKY.length + 7 }, (_, index) => event(index));
  const batches = [events.slice(0, 25), [], events.slice(25, 26), events.slice(26)];

  test("CSV is byte-identical to fast-csv's", async () => {
    const { text } = exported("csv", batches);
    expect(text).toBe(await fastCsvText(events));
    expect(text).toContain(`"say ""hi"""`);
    expect(text).toContain(`"pipe|separated"`);
    expect(text).toContain(`,'=1+2,`);
    expect(text).not.toContain("\0");
  });

  test("CSV of no rows is the header line, as before", async () => {
    const { text } = exported("csv", [[]]);
    expect(text).toBe(await fastCsvText([]));
    expect(text).toBe(`${EXPORT_COLUMNS.join(",")}\n`);
  });

  test("NDJSON is one event per line: the fields, order and values of JSON.stringify(event)", async () => {
    const { text } = exported("ndjson", batches);
    const lines = text.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(events.length);
    lines.forEach((line, index) => {
      const event = events[index]!;
      const parsed = JSON.parse(line);
      expect(parsed).toEqual(JSON.parse(JSON.stringify(event)));
      expect(Object.keys(parsed)).toEqual(Object.keys(event));
      // Byte for byte: JSON.stringify's output, except that states and metadata keep jsonb's layout.
      const row = exportRow(event);
      const withJsonbLayout = JSON.stringify({
        ...event,
        before_state: "\u0001before",
        after_state: "\u0001after",
        metadata: "\u0001metadata",
      })
        .replace('"\\u0001before"', row.before_state ?? "null")
        .replace('"\\u0001after"', row.after_state ?? "null")
        .replace('"\\u0001metadata"', row.metadata ?? "null");
      expect(line).toBe(withJsonbLayout);
    });
    expect(text).toContain(`"after_state":{"status": "plain", "nested": {"list": ["plain", 1, null, true]}}`);
    expect(exported("ndjson", []).text).toBe("");
  });

  test("neutralizeFormula prefixes exactly = + - @ tab and CR", () => {
    for (const start of ["=", "+", "-", "@", "\t", "\r"])
      expect(neutralizeFormula(`${start}x`)).toBe(`'${start}x`);
    for (const safe of ["x", "", " =x", "'=x", "\n=x", "1"]) expect(neutralizeFormula(safe)).toBe(safe);
  });
});
