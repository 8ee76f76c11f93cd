// Reads a JSON request body with its size limit enforced while reading (a client cannot make the
// api buffer more than the limit) and its nesting bounded before it is parsed (no code downstream
// recurses deeper than that), and turns each way it can be wrong into the right 4xx.

import type { IncomingMessage } from "node:http";
import { type FieldError, VigilError } from "@vigil/shared/errors/vigil-error";
import { jsonPathAt, scanJsonShape } from "@vigil/shared/events/json-bounds";
import type { Context } from "hono";

/** Nesting allowed in a body unless a route asks for less: far beyond any valid body, far below the stack. */
export const DEFAULT_MAX_BODY_DEPTH = 64;

export async function readJsonBody(
  c: Context,
  maxBytes: number,
  options: {
    maxDepth?: number;
    depthMessage?: string;
    /** Objects and arrays a body may hold: what parsing it may allocate, whatever its byte size. */
    maxContainers?: number;
    /** Called with the body's size once read, before it is parsed (see BodyBudget). */
    admit?: (bytes: number) => void;
  } = {},
): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new VigilError("UNSUPPORTED_MEDIA_TYPE", "send the body as application/json", [
      { path: "Content-Type", message: "must be application/json" },
    ]);
  }
  const text = await readBodyText(c, maxBytes);
  if (text.trim() === "")
    throw new VigilError("MALFORMED_JSON", "the request body is empty", [
      { path: "(body)", message: "is empty" },
    ]);
  options.admit?.(text.length);
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_BODY_DEPTH;
  const shape = scanJsonShape(text, maxDepth);
  if (shape.overflowAt >= 0) {
    throw new VigilError("VALIDATION_FAILED", `the body nests deeper than ${maxDepth} levels`, [
      nestingError(jsonPathAt(text, shape.overflowAt), options.depthMessage ?? "is nested too deeply"),
    ]);
  }
  if (options.maxContainers !== undefined && shape.containers > options.maxContainers) {
    throw new VigilError(
      "PAYLOAD_TOO_LARGE",
      `the body holds more than ${options.maxContainers} JSON objects and arrays; send fewer events per request`,
      [{ path: "(body)", message: `more than ${options.maxContainers} objects and arrays` }],
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // The parser's message names the position, never echoes the body (which may hold secrets).
    const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
    throw new VigilError(
      "MALFORMED_JSON",
      `the body is not valid JSON${position ? ` (at byte ${position})` : ""}`,
      [{ path: "(body)", message: "is not valid JSON" }],
    );
  }
}

/**
 * Names the field holding too deep a value as the schema would: a bulk item by `index` (in an array
 * body or under `events`), then its top-level field.
 */
function nestingError(segments: Array<string | number>, message: string): FieldError {
  const [first, second] = segments;
  const itemAt = typeof first === "number" ? 1 : first === "events" && typeof second === "number" ? 2 : 0;
  const index = itemAt === 0 ? undefined : (segments[itemAt - 1] as number);
  const field = segments[itemAt];
  return {
    path: typeof field === "string" ? field : "(body)",
    message,
    ...(index === undefined ? {} : { index }),
  };
}

/**
 * For OAuth-style endpoints: a JSON object or an application/x-www-form-urlencoded body (each field
 * once), with the same limit enforced while reading.
 */
export async function readJsonOrFormBody(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(type)) return readJsonBody(c, maxBytes);
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(await readBodyText(c, maxBytes))) {
    if (name in fields)
      throw new VigilError("BAD_REQUEST", `field \`${name}\` is repeated`, [
        { path: name, message: "must be sent once" },
      ]);
    fields[name] = value;
  }
  return fields;
}

/**
 * Bounds the request bodies one process works on at once, counted in bytes of body: parsed,
 * validated and redacted, a hostile body can take ~14× its size in heap (objects of many keys), so
 * a few concurrent 8 MiB bulks could otherwise exhaust the api's heap and crash every tenant's
 * requests. A body is admitted once it has been read (so a slow sender holds nothing: raw bodies
 * are buffers outside the heap) and held until its request's work is done. One request is always
 * admitted; beyond the budget a request is refused with 429 and Retry-After before it is parsed.
 */
export class BodyBudget {
  private inFlight = 0;

  constructor(readonly maxBytes: number) {}

  /** Runs `work`, which admits its body's bytes through `admit` (throws 429 beyond the budget). */
  async run<T>(work: (admit: (bytes: number) => void) => Promise<T>): Promise<T> {
    let held = 0;
    const admit = (bytes: number) => {
      if (this.inFlight > 0 && this.inFlight + bytes > this.maxBytes) {
        throw new VigilError(
          "RATE_LIMITED",
          "the api is busy with other large requests; retry shortly or send smaller ones",
          undefined,
          { "Retry-After": "1" },
        );
      }
      this.inFlight += bytes;
      held += bytes;
    };
    try {
      return await work(admit);
    } finally {
      this.inFlight -= held;
    }
  }

  /** Bytes held now. */
  get held(): number {
    return this.inFlight;
  }
}

/** The raw body as text, refusing (413) as soon as more than `maxBytes` have arrived. */
async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "0");
  // On @hono/node-server, read Node's request stream itself: touching `c.req.raw.body` would build
  // a WHATWG Request, an AbortController and a web stream for every request first.
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (declared > maxBytes) {
    if (incoming && declared <= maxBytes * DISCARD_FACTOR) await discard(incoming);
    throw tooLarge(maxBytes);
  }
  const chunks = incoming ? await readIncoming(incoming, maxBytes) : await readWebStream(c, maxBytes);
  return chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
}

/**
 * A body declared too large (up to this multiple of the limit) is read and thrown away before the
 * 413 goes out: a client still writing when the server closes gets EPIPE/ECONNRESET instead of the
 * problem+json that names the field. Beyond it, the connection is dropped without reading.
 */
const DISCARD_FACTOR = 4;
const DISCARD_TIMEOUT_MS = 10_000;

function discard(incoming: IncomingMessage): Promise<void> {
  if (incoming.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, DISCARD_TIMEOUT_MS);
    function done() {
      clearTimeout(timer);
      incoming.off("end", done).off("close", done).off("error", done);
      resolve();
    }
    incoming.on("end", done).on("close", done).on("error", done);
    incoming.resume();
  });
}

function readIncoming(incoming: IncomingMessage, maxBytes: number): Promise<Buffer[]> {
  if (incoming.readableEnded) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (error?: unknown) => {
      incoming.off("data", onData).off("end", onEnd).off("error", finish).off("close", onClose);
      if (error) reject(error);
      else resolve(chunks);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total <= maxBytes) return void chunks.push(chunk);
      // Over the limit: keep nothing more, but let the client finish (up to a bound) so it reads the 413.
      chunks.length = 0;
      if (total > maxBytes * DISCARD_FACTOR) {
        incoming.pause();
        finish(tooLarge(maxBytes));
      }
    };
    const onEnd = () => finish(total > maxBytes ? tooLarge(maxBytes) : undefined);
    // The client went away mid-body: nobody is left to answer.
    const onClose = () => finish(new VigilError("BAD_REQUEST", "the request body was cut off"));
    incoming.on("data", onData).on("end", onEnd).on("error", finish).on("close", onClose);
  });
}

async function readWebStream(c: Context, maxBytes: number): Promise<Buffer[]> {
  const stream = c.req.raw.body;
  if (!stream) return [];
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
}

/**
 * The rest of the body is left unread, so the connection cannot carry another request: `Connection:
 * close` tells the client to open a new one instead of reusing a socket the server is about to drop.
 */
function tooLarge(maxBytes: number) {
  return new VigilError(
    "PAYLOAD_TOO_LARGE",
    `the body must be at most ${maxBytes} bytes`,
    [{ path: "(body)", message: `larger than ${maxBytes} bytes` }],
    { Connection: "close" },
  );
}
