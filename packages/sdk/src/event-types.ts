// Event types returned by reads. test/types.test.ts asserts they match the server's StoredEvent.
import type { ActionType, JsonObject, Outcome, Severity } from "./event-rules.ts";

/** An event as stored and returned by every read path (spec §3). */
export interface StoredEvent {
  id: string;
  tenant_id: string;
  seq: number;
  hash: string;
  occurred_at: string;
  received_at: string;
  action_type: ActionType;
  action: string;
  resource_type: string;
  resource_id: string;
  user_id: string | null;
  session_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  severity: Severity;
  outcome: Outcome;
  before_state: JsonObject | null;
  after_state: JsonObject | null;
  metadata: JsonObject | null;
  redacted: string[];
  /** Present once the event's personal data was erased (spec §13); the hash then cannot be recomputed. */
  erased?: { at: string; by: string; fields: string[] };
}

/** Filters of `GET /api/v1/logs` (and, except `q` and sorting, of the live stream). */
export interface EventFilters {
  user_id?: string;
  session_id?: string;
  action_type?: ActionType;
  action?: string;
  resource_type?: string;
  resource_id?: string;
  severity?: Severity | Severity[];
  outcome?: Outcome;
  /** Platform admins name the tenant. */
  tenant_id?: string;
}

export interface SearchParams extends EventFilters {
  from?: string;
  to?: string;
  q?: string;
  sort?: "-occurred_at" | "occurred_at" | "-seq" | "seq" | "-received_at";
  /** Page size, 1–1000. */
  limit?: number;
  cursor?: string;
}

export interface ExportParams extends Omit<SearchParams, "sort" | "limit" | "cursor"> {
  format?: "csv" | "ndjson";
  after_seq?: number;
}

export interface StatsParams {
  from?: string;
  to?: string;
  bucket?: "hour" | "day";
  tenant_id?: string;
}

export interface EventStats {
  from: string;
  to: string;
  bucket: "hour" | "day";
  total: number;
  by_action_type: Record<string, number>;
  by_severity: Record<string, number>;
  by_outcome: Record<string, number>;
  top_resource_types: Array<{ resource_type: string; count: number }>;
  top_users: Array<{ user_id: string; count: number }>;
  top_users_from: string;
  timeseries: Array<{ bucket: string; count: number }>;
}

/** Field-level diff of before_state → after_state; paths as in `redacted` (`a.b[2].c`). */
export interface StateDiff {
  added: Array<{ path: string; value: unknown }>;
  removed: Array<{ path: string; value: unknown }>;
  changed: Array<{ path: string; old: unknown; new: unknown }>;
}

export interface HistoryEntry extends StoredEvent {
  diff: StateDiff;
}
