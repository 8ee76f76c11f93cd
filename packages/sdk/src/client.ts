// VigilClient: `log()` validates, redacts and queues synchronously (never throws, never waits on the
// network); the IngestQueue batches and retries with the same ids. Reads are thin typed wrappers of
// the HTTP API, with cursors turned into async iterators, and `stream()` follows the live WebSocket.

import { DEFAULT_REDACT_KEYS as CONTRACT_REDACT_KEYS } from "../../shared/src/events/event-constants.ts";
import {
  REDACTED_VALUE as REDACTED,
  RedactedPathList,
  redactValue,
  sensitiveKeyMatcher,
} from "../../shared/src/events/redaction.ts";
import { apiErrorFrom, VigilApiError, VigilConnectionError } from "./errors.ts";
import {
  type AuditEvent,
  EVENT_LIMITS,
  eventShapeViolations,
  isPlainObject,
  unknownFieldViolation,
  utf8Length,
} from "./event-rules.ts";
import type {
  EventStats,
  ExportParams,
  HistoryEntry,
  SearchParams,
  StatsParams,
  StoredEvent,
} from "./event-types.ts";
import {
  type DropInfo,
  type FlushResult,
  type IngestCounters,
  IngestQueue,
  type RetryOptions,
} from "./ingest-queue.ts";
import { isoTime } from "./iso-time.ts";
import { liveStream, type StreamOptions, type WebSocketConstructor } from "./live-stream.ts";
import { uuidv7 } from "./uuidv7.ts";

/** The server's default list (spec §3, VIGIL_REDACT_KEYS); keys match per word, so `db_password` and `x-api-key` are caught. */
export const DEFAULT_REDACT_KEYS = CONTRACT_REDACT_KEYS;

/** What a redacted value becomes (the server writes the same). */
export const REDACTED_VALUE = REDACTED;

export interface VigilClientOptions {
  /** The api's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key (`vgl_…`), sent as `X-API-Key`. */
  apiKey?: string;
  /** Or a bearer token (JWT access token), or a function returning a fresh one. */
  token?: string | (() => string | Promise<string>);
  /** The streamer's base URL for `stream()` (default: `baseUrl` with a ws scheme). */
  streamUrl?: string;
  /** Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** WebSocket constructor for `stream()`; defaults to `globalThis.WebSocket` (Node 20: pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Events per bulk request (≤ 1000; default 500). */
  batchSize?: number;
  /** Bytes per bulk request (≤ 8 MiB; default 1 MiB). */
  maxBatchBytes?: number;
  /** A partial batch is sent after this long (default 1000 ms). */
  flushIntervalMs?: number;
  /** Events held (queued, in flight or retrying) before log() drops new ones (default 10,000). */
  maxQueueEvents?: number;
  /** Bytes held before log() drops new ones (default 16 MiB). */
  maxQueueBytes?: number;
  /** Bulk requests in flight at once, retries included (default 2). */
  maxConcurrentRequests?: number;
  /**
   * Per-request timeout (default 30 s): a batch's whole answer, a JSON read's whole answer, the start
   * of an export's answer. A timed-out batch is retried with the same ids.
   */
  requestTimeoutMs?: number;
  retry?: Partial<RetryOptions>;
  /** Sensitive key names (default: the server's list). Matching values are replaced before queueing. */
  redactKeys?: readonly string[];
  /** Called for every event that will not be stored: dropped by log(), rejected or failed. */
  onDrop?: (info: DropInfo) => void;
  /** Serverless runtimes: receives the promise that sends queued events (e.g. `ctx.waitUntil`). */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Extra headers on every request (e.g. a client name). */
  headers?: Record<string, string>;
}

export interface LogResult {
  id: string;
  accepted: boolean;
  reason?: string;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export type ClientCounters = IngestCounters;

/** Vigil never sends an empty page with a next_cursor; a few in a row mean a server that never ends. */
const MAX_EMPTY_PAGES_IN_A_ROW = 3;

const STATE_FIELDS = ["before_state", "after_state", "metadata"] as const;

/** A redacted-path list that keeps nothing: log() needs the redacted copy, not the list of paths. */
class UnlistedPaths extends RedactedPathList {
  override add(): void {}
}
const UNLISTED_PATHS = new UnlistedPaths();

function queryString(params: object): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export class VigilClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly isSensitiveKey: (key: string) => boolean;
  private readonly queue: IngestQueue;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: VigilClientOptions) {
    if (!options.baseUrl) throw new TypeError("VigilClient: baseUrl is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (!fetchImpl) throw new TypeError("VigilClient: no fetch available; pass options.fetch");
    this.fetchImpl = fetchImpl;
    this.isSensitiveKey = sensitiveKeyMatcher(options.redactKeys ?? DEFAULT_REDACT_KEYS);
    const clamp = (value: number | undefined, fallback: number, min: number, max: number) =>
      Math.min(max, Math.max(min, Math.floor(value ?? fallback)));
    this.requestTimeoutMs = clamp(options.requestTimeoutMs, 30_000, 1, 600_000);
    this.queue = new IngestQueue({
      url: `${this.baseUrl}/api/v1/logs/bulk`,
      headers: () => this.authHeaders(),
      fetch: (input, init) => this.fetchImpl(input, init),
      batchSize: clamp(options.batchSize, 500, 1, EVENT_LIMITS.maxBulkEvents),
      maxBatchBytes: clamp(options.maxBatchBytes, 1024 * 1024, 1024, EVENT_LIMITS.maxBulkBytes - 2),
      flushIntervalMs: clamp(options.flushIntervalMs, 1000, 1, 3_600_000),
      maxQueueEvents: clamp(options.maxQueueEvents, 10_000, 1, Number.MAX_SAFE_INTEGER),
      maxQueueBytes: clamp(options.maxQueueBytes, 16 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
      maxConcurrentRequests: clamp(options.maxConcurrentRequests, 2, 1, 64),
      requestTimeoutMs: this.requestTimeoutMs,
      retry: {
        maxAttempts: clamp(options.retry?.maxAttempts, 12, 1, Number.MAX_SAFE_INTEGER),
        baseDelayMs: clamp(options.retry?.baseDelayMs, 200, 0, 3_600_000),
        maxDelayMs: clamp(options.retry?.maxDelayMs, 30_000, 0, 3_600_000),
      },
      onDrop: options.onDrop ?? (() => {}),
      waitUntil: options.waitUntil,
    });
  }

  /**
   * Queues one event and returns at once. Assigns `id` (UUIDv7, unless given) and `occurred_at`
   * (now, unless given), validates with the server's rules and redacts secrets. Never throws.
   */
  log(event: AuditEvent): LogResult {
    let id = "";
    try {
      const input = event as unknown;
      if (!isPlainObject(input)) return this.refuse(id, "(event) must be a JSON object");
      const now = Date.now();
      const givenId = input.id;
      id = typeof givenId === "string" ? givenId : uuidv7(now);
      let occurredAt = input.occurred_at;
      const createdAt = input.created_at;
      const generatedTime = occurredAt == null && createdAt == null;
      if (occurredAt == null) occurredAt = typeof createdAt === "string" ? createdAt : isoTime(now);
      else if (createdAt != null && Date.parse(String(createdAt)) !== Date.parse(String(occurredAt)))
        return this.refuse(id, "created_at is an alias of occurred_at; send one of them");
      // Unknown keys are refused before the copy, so Object.assign (much faster here than a spread
      // with extra properties) only ever sets event fields — never a `__proto__` key.
      const unknown = unknownFieldViolation(input);
      if (unknown) return this.refuse(id, `${unknown.path} ${unknown.message}`);
      const copy: Record<string, unknown> = Object.assign({ id, occurred_at: occurredAt }, input);
      copy.id = id;
      copy.occurred_at = occurredAt;
      if (copy.created_at !== undefined) delete copy.created_at;
      for (const field of STATE_FIELDS) {
        const value = copy[field];
        if (value === null || typeof value !== "object") continue;
        if (Object.hasOwn(value, "__proto__"))
          return this.refuse(id, `${field}.__proto__ the key __proto__ is not allowed`);
        // The server validates what it receives, which is the redacted copy. It lists the redacted
        // paths itself (it redacts again), so the client does not collect them.
        try {
          copy[field] = redactValue(value, this.isSensitiveKey, field, UNLISTED_PATHS);
        } catch (error) {
          // A state nested thousands deep overflows the stack here: the reason names the field.
          return this.refuse(
            id,
            `${field} cannot be serialized: ${error instanceof Error ? error.name : "error"}`,
          );
        }
      }
      const json = JSON.stringify(copy);
      const bytes = utf8Length(json);
      const violation = eventShapeViolations(copy, {
        serializedBytes: bytes,
        json,
        knownFieldsOnly: true,
        generated: { id: givenId !== id, occurred_at: generatedTime },
      })[0];
      if (violation) return this.refuse(id, `${violation.path} ${violation.message}`);
      if (!generatedTime && Date.parse(occurredAt as string) > now + EVENT_LIMITS.maxFutureSkewMs)
        return this.refuse(id, "occurred_at must not be more than 5 minutes in the future");
      if (bytes > EVENT_LIMITS.maxEventBytes)
        return this.refuse(id, `(event) must be at most ${EVENT_LIMITS.maxEventBytes} bytes`);
      const dropped = this.queue.enqueue(id, json, bytes);
      return dropped === undefined ? { id, accepted: true } : { id, accepted: false, reason: dropped };
    } catch (error) {
      return this.refuse(
        id,
        `(event) cannot be serialized: ${error instanceof Error ? error.name : "error"}`,
      );
    }
  }

  private refuse(id: string, message: string): LogResult {
    return { id, ...this.queue.drop("invalid", id, message), reason: `invalid: ${message}` };
  }

  /** Sends everything queued before the call; resolves once each of those events is sent or failed. */
  flush(): Promise<FlushResult> {
    return this.queue.flush();
  }

  /**
   * Stops taking events and sends what is queued, for at most `timeoutMs` (default 10 s); events
   * still unsent then are reported as `pending`. Call it before the process exits.
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<FlushResult> {
    return this.queue.shutdown(options.timeoutMs ?? 10_000);
  }

  /** Live counters of the send queue (a copy). */
  counters(): ClientCounters {
    return { ...this.queue.counters };
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { ...this.options.headers };
    if (this.options.apiKey) headers["X-API-Key"] = this.options.apiKey;
    else if (this.options.token) {
      const token =
        typeof this.options.token === "function" ? await this.options.token() : this.options.token;
      headers.Authorization = `Bearer ${token}`;
    }
    return headers;
  }

  /** The credential for the stream's `bearer.<token>` subprotocol. */
  private async bearer(): Promise<string> {
    if (this.options.apiKey) return this.options.apiKey;
    if (typeof this.options.token === "function") return this.options.token();
    if (this.options.token) return this.options.token;
    throw new TypeError("VigilClient: stream() needs apiKey or token");
  }

  /**
   * One API request; a non-2xx answer throws VigilApiError, no answer throws VigilConnectionError.
   * With no `signal`, a request whose answer has not begun (or whose error body has not ended) within
   * `requestTimeoutMs` is aborted; a success body (an export) is then read at the caller's pace.
   */
  async request(
    path: string,
    init: { method?: string; query?: object; body?: unknown; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const url = `${this.baseUrl}${path}${init.query ? queryString(init.query) : ""}`;
    const headers = await this.authHeaders();
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const deadline = init.signal ? undefined : this.deadline();
    const signal = init.signal ?? deadline!.signal;
    try {
      let response: Response;
      try {
        response = await this.fetchImpl(url, {
          method: init.method ?? "GET",
          headers,
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal,
        });
      } catch (cause) {
        throw new VigilConnectionError(
          signal.aborted ? `no answer from ${this.baseUrl} in time` : `cannot reach ${this.baseUrl}`,
          { cause },
        );
      }
      if (!response.ok) throw await apiErrorFrom(response);
      return response;
    } finally {
      deadline?.clear();
    }
  }

  /** An AbortSignal that fires after `requestTimeoutMs` (its timer unref'd), and a way to disarm it. */
  private deadline(): { signal: AbortSignal; clear: () => void } {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.requestTimeoutMs);
    (timer as { unref?: () => void }).unref?.();
    return { signal: controller.signal, clear: () => clearTimeout(timer) };
  }

  /** A JSON read: the whole answer, body included, within `requestTimeoutMs`. */
  private async json<T>(path: string, query?: object): Promise<T> {
    const deadline = this.deadline();
    try {
      const response = await this.request(path, { query, signal: deadline.signal });
      return (await response.json()) as T;
    } catch (error) {
      if (error instanceof VigilApiError || error instanceof VigilConnectionError) throw error;
      throw new VigilConnectionError(
        deadline.signal.aborted ? `no answer from ${this.baseUrl} in time` : "the answer is not JSON",
        { cause: error },
      );
    } finally {
      deadline.clear();
    }
  }

  /** One page of `GET /api/v1/logs`. */
  searchPage(params: SearchParams = {}): Promise<Page<StoredEvent>> {
    return this.json("/api/v1/logs", params);
  }

  /** Every matching event, following `next_cursor` page by page (pages of `limit`, default 100). */
  search(params: SearchParams = {}): AsyncGenerator<StoredEvent> {
    return this.pages("/api/v1/logs", params);
  }

  /**
   * Every item of a cursor-paged read, page by page, from `query.cursor` (if any) on. A server that
   * hands back a cursor already followed, or keeps answering empty pages that promise more, would
   * page forever: either ends the read with a VigilConnectionError.
   */
  private async *pages<T>(path: string, query: object & { cursor?: string }): AsyncGenerator<T> {
    let cursor = query.cursor;
    const followed = new Set<string>();
    let emptyInARow = 0;
    do {
      if (cursor) followed.add(cursor);
      const page = await this.json<Page<T>>(path, { ...query, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
      if (cursor && followed.has(cursor))
        throw new VigilConnectionError(
          `${path}: the server sent a cursor already followed again (paging would never end)`,
        );
      emptyInARow = page.data.length === 0 ? emptyInARow + 1 : 0;
      if (cursor && emptyInARow >= MAX_EMPTY_PAGES_IN_A_ROW)
        throw new VigilConnectionError(
          `${path}: the server sent ${emptyInARow} empty pages in a row that each promised more; paging stopped`,
        );
    } while (cursor);
  }

  /** One event by id (404 → VigilApiError with status 404). */
  get(id: string): Promise<StoredEvent> {
    return this.json(`/api/v1/logs/${encodeURIComponent(id)}`);
  }

  /** A resource's events in seq order, each with its before → after diff, across pages. */
  async *history(
    resourceType: string,
    resourceId: string,
    params: { limit?: number } = {},
  ): AsyncGenerator<HistoryEntry> {
    // In the generator, so that a bad name (a lone surrogate) rejects the first next(), as before.
    const path = `/api/v1/resources/${encodeURIComponent(resourceType)}/${encodeURIComponent(resourceId)}/history`;
    yield* this.pages<HistoryEntry>(path, { ...params, cursor: undefined });
  }

  stats(params: StatsParams = {}): Promise<EventStats> {
    return this.json("/api/v1/logs/stats", params);
  }

  /** The export as a byte stream (CSV by default, or NDJSON), in seq order, read as fast as you read it. */
  async export(params: ExportParams = {}): Promise<ReadableStream<Uint8Array>> {
    const response = await this.request("/api/v1/logs/export", { query: params });
    if (!response.body) throw new VigilConnectionError("the export answer has no body");
    return response.body;
  }

  /**
   * Live events (spec §6) as an async iterator: backfill after `since`, then live; reconnects with
   * `since` = the last seq seen after a restart, a 4008 or a network failure, and skips any repeat.
   */
  stream(options: StreamOptions = {}): AsyncGenerator<StoredEvent> {
    const WebSocketImpl =
      this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const base = (this.options.streamUrl ?? this.baseUrl).replace(/\/+$/, "").replace(/^http/, "ws");
    return liveStream(
      { url: `${base}/api/v1/logs/stream`, WebSocket: WebSocketImpl, bearer: () => this.bearer() },
      options,
    );
  }
}
