// Bounds on client JSON that hold before and after JSON.parse, without recursion (a client controls
// the nesting, so recursive code would let it overflow the stack and turn bad input into a 500):
// a scan of the body text that finds nesting deeper than allowed before it is parsed, and one
// iterative walk over a parsed value that checks its depth, its numbers and its text.
// Pure TypeScript with no imports beyond storable-text's check, so the SDK can use it too.
import { isStorable, UNSTORABLE_MESSAGE } from "./storable-text.ts";

export interface JsonShape {
  /** Offset of the opening bracket that first nests deeper than allowed, or -1. */
  overflowAt: number;
  /** Objects and arrays in the text (counted up to the overflow, if any). */
  containers: number;
}

/**
 * The nesting and the number of objects and arrays of JSON `text`, before it is parsed: each
 * container costs tens of bytes of heap once parsed (`{}` is 2 bytes of text, ~60 of heap), so a
 * body's container count bounds what parsing it can allocate. Malformed text is not judged
 * (JSON.parse does that). One pass; strings are skipped with indexOf, ~1 ms per MiB.
 */
export function scanJsonShape(text: string, maxDepth: number): JsonShape {
  let depth = 0;
  let containers = 0;
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at);
    if (char === QUOTE) {
      const end = stringEnd(text, at);
      if (end < 0) break;
      at = end;
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      containers++;
      if (++depth > maxDepth) return { overflowAt: at, containers };
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth--;
    }
  }
  return { overflowAt: -1, containers };
}

/** Where JSON `text` first nests deeper than `maxDepth` containers (see scanJsonShape), or -1. */
export function findNestingOverflow(text: string, maxDepth: number): number {
  return scanJsonShape(text, maxDepth).overflowAt;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/** The offset of the quote closing the string that opens at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

/**
 * The path (object keys and array indexes) of the container that opens at `offset` in JSON `text`,
 * outermost first, at most `maxSegments` long: names the field of a refused body. Only called on
 * the error path; tolerant of anything malformed.
 */
export function jsonPathAt(text: string, offset: number, maxSegments = 4): Array<string | number> {
  // Per open container: its key or index in its parent, and, for arrays, the index of the item.
  const stack: Array<{ inArray: boolean; segment: string | number | undefined; index: number }> = [];
  let lastKey: string | undefined;
  for (let at = 0; at < offset && at < text.length; at++) {
    const char = text.charCodeAt(at);
    const top = stack[stack.length - 1];
    if (char === QUOTE) {
      const end = stringEnd(text, at);
      if (end < 0) break;
      // A string followed by a colon is a key.
      let next = end + 1;
      while (next < text.length && /\s/.test(text[next]!)) next++;
      if (text.charCodeAt(next) === COLON) lastKey = decodeJsonString(text.slice(at, end + 1));
      at = end;
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      const segment = top === undefined ? undefined : top.inArray ? top.index : lastKey;
      stack.push({ inArray: char === OPEN_BRACKET, segment, index: 0 });
      lastKey = undefined;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      stack.pop();
    } else if (char === COMMA && top?.inArray) {
      top.index++;
    }
  }
  const top = stack[stack.length - 1];
  const segments = stack.slice(1).map((container) => container.segment ?? "?");
  segments.push(top === undefined ? "?" : top.inArray ? top.index : (lastKey ?? "?"));
  return segments.slice(0, maxSegments);
}

function decodeJsonString(literal: string): string {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return literal.slice(1, -1);
  }
}

export type JsonProblem = "depth" | "number" | "text";

export const JSON_PROBLEM_MESSAGES: Record<JsonProblem, (maxDepth: number) => string> = {
  depth: (maxDepth) => `nesting depth must be at most ${maxDepth}`,
  // JSON.parse turns 1e400 into Infinity, which JSON cannot store and the hash cannot cover.
  number: () => "must not hold a number beyond the range of a double (about ±1.8e308)",
  text: () => UNSTORABLE_MESSAGE,
};

/**
 * The first problem inside a parsed JSON value, or null: nesting deeper than `maxDepth` (a scalar
 * is 0, `{}` is 1, `{"a":{}}` is 2), a number that is not finite, a key or string PostgreSQL cannot
 * store. Iterative, and it stops descending past `maxDepth`, so any input is safe to inspect.
 */
export function findJsonProblem(value: unknown, maxDepth: number): JsonProblem | null {
  if (typeof value === "number") return Number.isFinite(value) ? null : "number";
  if (typeof value === "string") return isStorable(value) ? null : "text";
  if (value === null || typeof value !== "object") return null;
  const pending: Array<{ value: object; depth: number }> = [{ value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.depth > maxDepth) return "depth";
    const isArray = Array.isArray(next.value);
    const record = next.value as Record<string, unknown>;
    for (const key of isArray ? [] : Object.keys(record)) if (!isStorable(key)) return "text";
    for (const child of isArray ? (next.value as unknown[]) : Object.values(record)) {
      if (typeof child === "number") {
        if (!Number.isFinite(child)) return "number";
      } else if (typeof child === "string") {
        if (!isStorable(child)) return "text";
      } else if (child !== null && typeof child === "object") {
        pending.push({ value: child, depth: next.depth + 1 });
      }
    }
  }
  return null;
}
