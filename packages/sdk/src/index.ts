// @vigil/sdk: the Vigil audit-log client. Zero runtime dependencies; runs on Node ≥ 20, Bun, Deno
// and edge runtimes (global fetch and Web Crypto; a WebSocket constructor for `stream()`).
export {
  type ClientCounters,
  DEFAULT_REDACT_KEYS,
  type LogResult,
  type Page,
  REDACTED_VALUE,
  VigilClient,
  type VigilClientOptions,
} from "./client.ts";
export { type Problem, VigilApiError, VigilConnectionError } from "./errors.ts";
export {
  ACTION_TYPES,
  type ActionType,
  type AuditEvent,
  EVENT_LIMITS,
  type JsonObject,
  OUTCOMES,
  type Outcome,
  SEVERITIES,
  type Severity,
} from "./event-rules.ts";
export type {
  EventFilters,
  EventStats,
  ExportParams,
  HistoryEntry,
  SearchParams,
  StateDiff,
  StatsParams,
  StoredEvent,
} from "./event-types.ts";
export type { DropInfo, DropReason, FlushResult, RetryOptions } from "./ingest-queue.ts";
export type { StreamOptions, WebSocketConstructor, WebSocketLike } from "./live-stream.ts";
export { uuidv7 } from "./uuidv7.ts";
