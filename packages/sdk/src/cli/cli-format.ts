// Terminal output of the client CLI: coloured event lines, tables, sparklines, diffs, byte sizes.
import type { HistoryEntry, StoredEvent } from "../event-types.ts";

export interface Painter {
  red: (text: string) => string;
  yellow: (text: string) => string;
  green: (text: string) => string;
  cyan: (text: string) => string;
  dim: (text: string) => string;
  bold: (text: string) => string;
}

export function painter(enabled: boolean): Painter {
  const wrap = (open: number, close: number) => (text: string) =>
    enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    green: wrap(32, 39),
    cyan: wrap(36, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}

/** Control characters in event text could drive the terminal; they are shown escaped. */
export function safeText(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.charCodeAt(0);
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  return out;
}

export function eventLine(event: StoredEvent, paint: Painter): string {
  const severity = event.severity.padEnd(8);
  const coloured =
    event.severity === "CRITICAL" || event.severity === "ERROR"
      ? paint.red(severity)
      : event.severity === "WARNING"
        ? paint.yellow(severity)
        : paint.green(severity);
  const outcome = event.outcome === "failure" ? paint.red("failure") : "success";
  return [
    paint.dim(String(event.seq).padStart(7)),
    event.occurred_at,
    coloured,
    paint.bold(safeText(event.action)),
    paint.cyan(safeText(`${event.resource_type}/${event.resource_id}`)),
    safeText(event.user_id ?? "-"),
    outcome,
  ].join("  ");
}

export function table(rows: Array<Array<string | number>>, paint?: Painter): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [index, cell] of row.entries())
      widths[index] = Math.max(widths[index] ?? 0, String(cell).length);
  }
  return rows
    .map((row, rowIndex) => {
      const line = row
        .map((cell, index) =>
          typeof cell === "number"
            ? String(cell).padStart(widths[index]!)
            : String(cell).padEnd(widths[index]!),
        )
        .join("  ")
        .trimEnd();
      return rowIndex === 0 && paint ? paint.bold(line) : line;
    })
    .join("\n");
}

const SPARKS = "▁▂▃▄▅▆▇█";

export function sparkline(values: number[]): string {
  if (values.length === 0) return "";
  const max = Math.max(...values);
  return values
    .map((value) => (max === 0 ? SPARKS[0] : SPARKS[Math.round((value / max) * (SPARKS.length - 1))]))
    .join("");
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function historyLines(entry: HistoryEntry, paint: Painter): string[] {
  const lines = [
    `${paint.dim(`#${entry.seq}`)}  ${entry.occurred_at}  ${paint.bold(safeText(entry.action))}  ${safeText(entry.user_id ?? "-")}  ${entry.outcome}`,
  ];
  const show = (value: unknown) => safeText(JSON.stringify(value) ?? "null");
  for (const item of entry.diff.added)
    lines.push(paint.green(`  + ${safeText(item.path)}: ${show(item.value)}`));
  for (const item of entry.diff.removed)
    lines.push(paint.red(`  - ${safeText(item.path)}: ${show(item.value)}`));
  for (const item of entry.diff.changed)
    lines.push(paint.yellow(`  ~ ${safeText(item.path)}: ${show(item.old)} → ${show(item.new)}`));
  return lines;
}
