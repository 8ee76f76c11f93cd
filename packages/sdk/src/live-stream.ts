// The live stream (spec §6) as an async iterator over WebSocket connections. Each event is yielded
// once, in seq order: after any close (streamer restart 1012, slow consumer 4008, network loss) it
// reconnects with `since` = the last seq it saw (or the `ready` position) and skips seqs at or below
// it. Memory is bounded: when the consumer falls `maxBufferedEvents` behind, the socket is closed and
// re-opened from the last seq once the consumer has caught up.
import { type Problem, VigilApiError, VigilConnectionError } from "./errors.ts";
import type { EventFilters, StoredEvent } from "./event-types.ts";

/** The subset of the WHATWG WebSocket the stream uses (browsers, Deno, Bun, Node ≥ 22, or `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface StreamOptions extends EventFilters {
  /** Deliver events with seq > since (backfill first); omit to start live. */
  since?: number;
  /** Stops the iterator (it then ends without error). */
  signal?: AbortSignal;
  /** Events buffered ahead of the consumer before the socket is paused by closing it (default 10,000). */
  maxBufferedEvents?: number;
  /** Consecutive failed connection attempts before the iterator throws (default 10). */
  maxReconnectAttempts?: number;
  /** Called with the seq up to which the backfill is complete, on every (re)connect. */
  onReady?: (seq: number) => void;
  /** Called before each reconnect, with the close code and the attempt number. */
  onReconnect?: (info: { code: number; attempt: number; since: number | undefined }) => void;
}

export const STREAM_SUBPROTOCOL = "vigil.v1";

/** Close codes after which reconnecting cannot help. */
const FATAL_ERROR_CODES = new Set([
  "UNAUTHENTICATED",
  "INVALID_CREDENTIAL",
  "FORBIDDEN",
  "TENANT_MISMATCH",
  "TENANT_NOT_ACTIVE",
  "INVALID_PARAMETER",
  "BAD_REQUEST",
  "NOT_FOUND",
]);

type Item =
  | { kind: "event"; event: StoredEvent }
  | { kind: "ready"; seq: number }
  | { kind: "closed"; code: number; reason: string };

const decoder = new TextDecoder();

function messageText(data: unknown): string {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return decoder.decode(data);
  if (ArrayBuffer.isView(data)) return decoder.decode(data as Uint8Array);
  return String(data);
}

/** One WebSocket connection, turned into a pull queue. */
class StreamConnection {
  private readonly items: Item[] = [];
  private head = 0;
  private wake: (() => void) | null = null;
  opened = false;
  serverError: { code: string; message: string } | null = null;
  transportError: string | null = null;
  private readonly socket: WebSocketLike;

  constructor(WebSocketImpl: WebSocketConstructor, url: string, token: string) {
    this.socket = new WebSocketImpl(url, [STREAM_SUBPROTOCOL, `bearer.${token}`]);
    this.socket.onopen = () => {
      this.opened = true;
    };
    this.socket.onmessage = (message) => {
      let parsed: { type?: string; data?: StoredEvent; seq?: number; code?: string; message?: string };
      try {
        parsed = JSON.parse(messageText(message.data));
      } catch {
        return;
      }
      // Positions must be seqs: an Infinity or fraction from a hostile streamer would make every later
      // event look already seen and the reconnect ask for since=Infinity.
      if (parsed.type === "event" && isSeq(parsed.data?.seq))
        this.push({ kind: "event", event: parsed.data! });
      else if (parsed.type === "ready" && isSeq(parsed.seq)) this.push({ kind: "ready", seq: parsed.seq });
      else if (parsed.type === "error")
        this.serverError = { code: String(parsed.code), message: String(parsed.message) };
    };
    this.socket.onerror = (event) => {
      const message = (event as { message?: unknown; error?: { message?: unknown } } | null)?.message;
      this.transportError = typeof message === "string" ? message : "WebSocket error";
    };
    this.socket.onclose = (event) => this.push({ kind: "closed", code: event.code, reason: event.reason });
  }

  get buffered(): number {
    return this.items.length - this.head;
  }

  private push(item: Item): void {
    this.items.push(item);
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async next(): Promise<Item> {
    while (this.buffered === 0)
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    const item = this.items[this.head++]!;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }

  close(code = 1000, reason = ""): void {
    try {
      if (this.socket.readyState <= 1) this.socket.close(code, reason);
    } catch {}
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** `ws` reports a refused upgrade as "Unexpected server response: 401". */
function refusedStatus(message: string | null): number | undefined {
  const match = message ? /server response: (\d{3})/.exec(message) : null;
  return match ? Number(match[1]) : undefined;
}

export async function* liveStream(
  target: { url: string; WebSocket: WebSocketConstructor | undefined; bearer: () => Promise<string> },
  options: StreamOptions,
): AsyncGenerator<StoredEvent> {
  const WebSocketImpl = target.WebSocket;
  if (!WebSocketImpl)
    throw new TypeError(
      "stream() needs a WebSocket: pass the `WebSocket` option (e.g. the `ws` package on Node 20)",
    );
  const { signal, since, maxBufferedEvents = 10_000, maxReconnectAttempts = 10 } = options;
  const {
    since: _since,
    signal: _signal,
    maxBufferedEvents: _m,
    maxReconnectAttempts: _r,
    onReady,
    onReconnect,
    ...filters
  } = options;
  let lastSeq = since;
  let failures = 0;
  while (!signal?.aborted) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) {
      if (value === undefined || value === null || typeof value === "function") continue;
      for (const item of Array.isArray(value) ? value : [value]) query.append(key, String(item));
    }
    if (lastSeq !== undefined) query.set("since", String(lastSeq));
    const connection = new StreamConnection(WebSocketImpl, `${target.url}?${query}`, await target.bearer());
    const stop = () => connection.close(1000, "client stopped");
    signal?.addEventListener("abort", stop, { once: true });
    let closed: { code: number; reason: string } | undefined;
    let paused = false;
    try {
      while (!closed) {
        const item = await connection.next();
        if (item.kind === "closed") closed = item;
        else if (item.kind === "ready") {
          failures = 0;
          lastSeq = Math.max(lastSeq ?? 0, item.seq);
          onReady?.(item.seq);
        } else if (lastSeq === undefined || item.event.seq > lastSeq) {
          failures = 0;
          lastSeq = item.event.seq;
          if (!paused && connection.buffered > maxBufferedEvents) {
            // The consumer is behind: stop reading more; what is buffered is yielded, then resume.
            paused = true;
            connection.close(1000, "client paused");
          }
          yield item.event;
        }
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      connection.close();
    }
    if (signal?.aborted) return;
    if (paused) continue;
    const serverError = connection.serverError;
    if (serverError && FATAL_ERROR_CODES.has(serverError.code)) {
      throw new VigilApiError({ status: 400, code: serverError.code, detail: serverError.message });
    }
    const status = connection.opened ? undefined : refusedStatus(connection.transportError);
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      const problem: Problem = { status, detail: `the stream refused the connection (${status})` };
      throw new VigilApiError(problem);
    }
    failures++;
    if (failures > maxReconnectAttempts) {
      throw new VigilConnectionError(
        `the stream closed ${failures} times in a row (last: ${closed?.code} ${connection.transportError ?? closed?.reason ?? ""})`,
      );
    }
    onReconnect?.({ code: closed?.code ?? 1006, attempt: failures, since: lastSeq });
    // A restarting streamer (1012) or a paused consumer resumes at once; failures back off.
    const ceiling = Math.min(10_000, 100 * 2 ** failures);
    await sleep(closed?.code === 1012 && failures === 1 ? 50 : Math.random() * ceiling, signal);
  }
}

function isSeq(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
