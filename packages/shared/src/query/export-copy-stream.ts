// Reading `COPY … TO STDOUT` (text format, one column) through postgres.js a buffer at a time:
// whole buffered chunks are taken from the driver's stream (never a callback per row), decoded
// with one indexOf scan for backslashes, and the socket is paused while nobody reads, so a slow
// consumer holds PostgreSQL back instead of filling memory.
import type { Readable } from "node:stream";
import type postgres from "postgres";

const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
/** COPY text format's escapes (the only ones COPY TO writes) → the byte they stand for. */
const UNESCAPED: Record<number, number> = {
  [BACKSLASH]: BACKSLASH,
  98: 0x08, // \b
  102: 0x0c, // \f
  110: 0x0a, // \n
  114: 0x0d, // \r
  116: 0x09, // \t
  118: 0x0b, // \v
};

/**
 * Decodes COPY text-format output of a single text column, chunk by chunk: `\x` escapes become
 * their byte; the raw newline ending each row stays. A chunk without a backslash is passed on as
 * it is. An escape split across two chunks is completed with the next one.
 */
export function copyTextDecoder(): (chunk: Buffer) => Buffer {
  let pendingBackslash = false;
  return (chunk) => {
    let at = chunk.indexOf(BACKSLASH);
    if (!pendingBackslash && at === -1) return chunk;
    const out = Buffer.allocUnsafe(chunk.length);
    let written = 0;
    let from = 0;
    if (pendingBackslash) {
      if (chunk.length === 0) return chunk;
      out[written++] = unescaped(chunk[0]!);
      pendingBackslash = false;
      from = 1;
      at = chunk.indexOf(BACKSLASH, 1);
    }
    while (at !== -1) {
      written += chunk.copy(out, written, from, at);
      if (at + 1 === chunk.length) {
        pendingBackslash = true;
        from = chunk.length;
        break;
      }
      out[written++] = unescaped(chunk[at + 1]!);
      from = at + 2;
      at = chunk.indexOf(BACKSLASH, from);
    }
    written += chunk.copy(out, written, from);
    return out.subarray(0, written);
  };
}

function unescaped(code: number): number {
  const byte = UNESCAPED[code];
  if (byte === undefined) throw new Error(`COPY text: unexpected escape \\${String.fromCharCode(code)}`);
  return byte;
}

/** Rows in a chunk of raw COPY text output: each ends with the one unescaped newline. */
export function countRows(chunk: Buffer): number {
  let rows = 0;
  for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) rows++;
  return rows;
}

export class CopyStalledError extends Error {
  readonly code = "57014";
  constructor(ms: number) {
    super(`PostgreSQL produced nothing for ${ms} ms (statement_timeout)`);
    this.name = "CopyStalledError";
  }
}

/** The fields of a postgres.js 3.4.9 Query that `start()` and `abort()` rely on (internals; see below). */
interface PostgresQueryInternals {
  active: boolean;
  canceller: ((query: unknown) => Promise<void>) | null;
  /** Called by the driver, synchronously, with the COPY stream when CopyOutResponse arrives. */
  resolve: (value: unknown) => void;
}

/**
 * A running COPY TO STDOUT. `next()` resolves with everything buffered so far (or null at the
 * end); `abort()` cancels a COPY still running and drains it so the connection is usable again.
 *
 * postgres.js pauses its socket when the stream is full and resumes it only from the stream's
 * read(); once the stream has ended, read() is never called again, so a socket paused by the last
 * row would hold back the statement's completion (and every later statement on the connection).
 * `resumeSocket` calls the stream's read hook once more after the end, which resumes it.
 */
export class CopyOut {
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  private constructor(
    private readonly query: PostgresQueryInternals,
    private readonly stream: Readable,
    /** Longest wait for PostgreSQL's next bytes while the consumer waits (0: none). */
    private readonly stallMs: number,
  ) {
    stream.on("readable", () => this.notify());
    stream.on("end", () => {
      this.ended = true;
      this.resumeSocket();
      this.notify();
    });
    stream.on("error", (error) => {
      this.failure = error;
      this.resumeSocket();
      this.notify();
    });
    // Destroyed before this listener existed (see start): its error is the COPY's outcome.
    if (stream.errored) this.failure = stream.errored;
  }

  static async start(connection: postgres.ReservedSql, statement: string, stallMs: number): Promise<CopyOut> {
    const query = connection.unsafe(statement);
    // PostgreSQL may hold CopyOutResponse in its send buffer until the first rows or an error. When
    // a cancel (the first-byte bound below) ends a COPY that has sent nothing, both arrive in one
    // read: the driver creates the stream, hands it over, and destroys it with the error at once,
    // and the 'error' is emitted (process.nextTick) before an `await` could attach a listener. An
    // unlistened 'error' ends the process, so a listener goes on as the driver hands the stream over.
    const internals = query as unknown as PostgresQueryInternals;
    const handOver = internals.resolve;
    internals.resolve = (value) => {
      if (value && typeof (value as Readable).on === "function")
        (value as Readable).on("error", () => undefined);
      handOver(value);
    };
    // Until its first byte (locks, planning) the COPY gets the same bound as between bytes.
    const timer = stallMs > 0 ? setTimeout(() => query.cancel(), stallMs) : undefined;
    let stream: Readable;
    try {
      stream = (await query.readable()) as unknown as Readable;
    } finally {
      clearTimeout(timer);
    }
    return new CopyOut(internals, stream, stallMs);
  }

  get done(): boolean {
    return this.ended;
  }

  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.stream.read() as Buffer | null;
      if (chunk !== null) return chunk;
      if (this.ended) return null;
      await this.waitForData();
    }
  }

  /** Cancels a COPY that has not ended, reads what is still in flight, and resolves once it is over. */
  async abort(): Promise<void> {
    if (this.ended || this.failure) return;
    const over = new Promise<void>((resolve) => {
      this.stream.once("close", resolve);
      this.stream.once("end", resolve);
      this.stream.once("error", () => resolve());
    });
    // Flowing mode drains the stream (a 'readable' listener would keep it paused).
    this.stream.removeAllListeners("readable");
    this.stream.on("data", () => undefined);
    this.stream.resume();
    this.resumeSocket();
    // postgres.js marks a COPY query inactive once its stream is handed over, and cancel() sends
    // a CancelRequest only for an active query: mark it active again for the cancel.
    // query.cancel() drops the promise of its CancelRequest; wait for it too. Once PostgreSQL closes
    // the cancel connection it has signalled the backend, and a cancel that reaches a backend idle
    // between statements is dropped; without the wait, a cancel racing the COPY's own end could
    // arrive later and cancel the next statement run on this pooled connection (another request's).
    this.query.active = true;
    const canceller = this.query.canceller;
    this.query.canceller = null;
    const delivered = canceller ? canceller(this.query).catch(() => undefined) : undefined;
    await Promise.all([over, delivered]);
  }

  private waitForData(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer =
        this.stallMs > 0
          ? setTimeout(() => {
              this.wake = undefined;
              reject(new CopyStalledError(this.stallMs));
            }, this.stallMs)
          : undefined;
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private notify() {
    this.wake?.();
  }

  private resumeSocket() {
    try {
      (this.stream as unknown as { _read: (size: number) => void })._read(0);
    } catch {
      // The connection is gone; its queries fail on their own.
    }
  }
}
