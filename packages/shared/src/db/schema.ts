// Row types of the tables, as Kysely sees them. The migrations are the source of truth for the
// tables themselves; this file mirrors them for the query builder.
import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<Record<string, unknown> | null, string | null, string | null>;

export interface TenantsTable {
  id: string;
  name: string;
  status: "active" | "suspended" | "inactive";
  retention_days: number;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
  archive_enabled: Generated<boolean>;
  archive_bucket: string | null;
  archive_prefix: Generated<string>;
}

export interface TenantSequencesTable {
  tenant_id: string;
  last_seq: number;
  last_chain_hash: string;
  /** Leaves in the tenant's Merkle tree; equals last_seq once history before the tree is backfilled. */
  tree_size: Generated<number>;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  scopes: string[];
  created_at: Generated<Timestamp>;
  created_by: string | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface EventsTable {
  tenant_id: string;
  seq: number;
  id: string;
  occurred_at: Timestamp;
  received_at: Timestamp;
  stored_at: Generated<Timestamp>;
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
  before_state: Json;
  after_state: Json;
  metadata: Json;
  redacted: string[];
  hash: string;
  chain_hash: string;
  search_vector: Generated<string>;
  /** Spec §13: base64url salt the hash covers (null before salts, and once erased). */
  salt: string | null;
  hash_version: Generated<number>;
  erased: ColumnType<{ at: string; by: string; fields: string[] } | null, never, never>;
}

export interface EventIdsTable {
  tenant_id: string;
  id: string;
  seq: number;
  occurred_at: Timestamp;
  payload_hash: string;
}

export interface EventConflictsTable {
  tenant_id: string;
  id: string;
  payload_hash: string;
  received_at: Timestamp;
  detected_at: Generated<Timestamp>;
}

export interface EventRollupsHourlyTable {
  tenant_id: string;
  bucket: Timestamp;
  action_type: string;
  severity: string;
  outcome: string;
  resource_type: string;
  event_count: number;
}

/** Events per UTC day and dimension combination, the sum of that day's EventRollupsHourlyTable rows. */
export interface EventRollupsDailyTable {
  tenant_id: string;
  day: Timestamp;
  action_type: string;
  severity: string;
  outcome: string;
  resource_type: string;
  event_count: number;
}

/** Events per user and UTC hour (events without a user_id are not counted), kept like the hourly rollups. */
export interface EventUserRollupsHourlyTable {
  tenant_id: string;
  bucket: Timestamp;
  user_id: string;
  event_count: number;
}

/** Events per user and UTC day, the sum of that day's EventUserRollupsHourlyTable rows. */
export interface EventUserRollupsDailyTable {
  tenant_id: string;
  day: Timestamp;
  user_id: string;
  event_count: number;
}

/** A run of consecutive seqs removed by cleanup or retention (never rewritten). */
export interface EventRemovedRangesTable {
  tenant_id: string;
  from_seq: number;
  to_seq: number;
  last_chain_hash: string;
  removed_at: Generated<Timestamp>;
  reason: "cleanup" | "retention";
  /** The archive object holding the removed events (archive-enabled tenants), else null. */
  archive_key: string | null;
}

export interface DatabaseSchema {
  tenants: TenantsTable;
  tenant_sequences: TenantSequencesTable;
  api_keys: ApiKeysTable;
  events: EventsTable;
  event_ids: EventIdsTable;
  event_conflicts: EventConflictsTable;
  event_rollups_hourly: EventRollupsHourlyTable;
  event_rollups_daily: EventRollupsDailyTable;
  event_user_rollups_hourly: EventUserRollupsHourlyTable;
  event_user_rollups_daily: EventUserRollupsDailyTable;
  event_removed_ranges: EventRemovedRangesTable;
}
