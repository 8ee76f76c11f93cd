// The one mapping from an events row to the StoredEvent every read path returns.
import { HASHED_FIELDS, type StoredEvent } from "../events/event-schema.ts";

/** Columns every read selects: the hashed fields plus the hash, in the order of the public event shape. */
export const EVENT_COLUMNS = [...HASHED_FIELDS, "hash"] as const;

export interface EventRow {
  id: string;
  tenant_id: string;
  seq: number;
  occurred_at: Date;
  received_at: Date;
  action_type: string;
  action: string;
  resource_type: string;
  resource_id: string;
  user_id: string | null;
  session_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  severity: string;
  outcome: string;
  before_state: Record<string, unknown> | null;
  after_state: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
  redacted: string[];
  hash: string;
  /** Selected by the reads that show erasure markers (GET /logs/{id}); absent or null otherwise. */
  erased?: { at: string; by: string; fields: string[] } | null;
}

export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    seq: Number(row.seq),
    occurred_at: row.occurred_at.toISOString(),
    received_at: row.received_at.toISOString(),
    action_type: row.action_type as StoredEvent["action_type"],
    action: row.action,
    resource_type: row.resource_type,
    resource_id: row.resource_id,
    user_id: row.user_id,
    session_id: row.session_id,
    ip_address: row.ip_address,
    user_agent: row.user_agent,
    severity: row.severity as StoredEvent["severity"],
    outcome: row.outcome as StoredEvent["outcome"],
    before_state: row.before_state,
    after_state: row.after_state,
    metadata: row.metadata,
    redacted: row.redacted,
    hash: row.hash,
    ...(row.erased ? { erased: row.erased } : {}),
  };
}
