// The worker's verb: store a batch of queue messages in ONE transaction.
//
// Guarantees, per tenant: seq is claimed from tenant_sequences under a row lock held until commit,
// so commit order equals seq order and there are no gaps; an id already stored (SQS redelivery, a
// client retry) is skipped before a seq is claimed, so duplicates never consume one; hash and chain
// hash are computed here, after seq is known; rollups and the NOTIFY for streamers ride in the same
// transaction, so they exist exactly when the events do. The batch's leaves are appended to the
// tenant's Merkle tree (tlog tiles) under the same lock and in the same transaction, so the tree is
// never behind or ahead of the table.

import { type Database, setTenant, type TransactionSql } from "../db/database.ts";
import { computeChainHash, computeEventHash } from "../events/event-hash.ts";
import { newEventSalt } from "../events/event-salt.ts";
import { HASH_VERSION, type NormalizedEvent } from "../events/event-schema.ts";
import { appendTenantLeaves } from "../tlog/append-leaves.ts";

export const EVENTS_NOTIFY_CHANNEL = "vigil_events";

export interface StoreSummary {
  stored: number;
  duplicates: number;
  conflicts: number;
  tenants: Array<{ tenantId: string; fromSeq: number; toSeq: number }>;
}

/** Months (UTC) for which a partition is known to exist in this process; avoids a call per batch. */
const knownPartitionMonths = new Set<string>();

function monthKey(iso: string): string {
  return iso.slice(0, 7);
}

async function ensurePartitions(db: Database, events: NormalizedEvent[]): Promise<void> {
  const missing = new Set<string>();
  for (const event of events) {
    const key = monthKey(event.occurred_at);
    if (!knownPartitionMonths.has(key)) missing.add(key);
  }
  for (const key of missing) {
    const start = `${key}-01T00:00:00Z`;
    await db.sql`select vigil_ensure_event_partitions(${start}::timestamptz, ${start}::timestamptz)`;
    knownPartitionMonths.add(key);
  }
}

/** Every stored column with its type, as json_to_recordset reads a batch; payload_hash goes to event_ids. */
const BATCH_RECORD = `x(tenant_id uuid, seq bigint, id uuid, occurred_at timestamptz, received_at timestamptz,
  action_type text, action text, resource_type text, resource_id text, user_id text, session_id text,
  ip_address text, user_agent text, severity text, outcome text, before_state jsonb, after_state jsonb,
  metadata jsonb, redacted text[], hash text, chain_hash text, payload_hash text, salt text, hash_version smallint)`;

const EVENT_COLUMNS = `tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type,
  resource_id, user_id, session_id, ip_address, user_agent, severity, outcome, before_state, after_state,
  metadata, redacted, hash, chain_hash, salt, hash_version`;

/**
 * Everything a tenant's batch writes, in ONE statement (one round trip, the rows sent and parsed
 * once): events, their ids, the rollups by UTC hour and day and the per-user ones (UTC hours and days;
 * events without a user_id have no user row), the sequence row, and the NOTIFY. The batch holds only events not
 * stored before (duplicates are dropped above), so each event is counted exactly once.
 */
const WRITE_BATCH = `
  with batch as materialized (select * from json_to_recordset($1::text::json) as ${BATCH_RECORD}),
  stored as (
    insert into events (${EVENT_COLUMNS}) select ${EVENT_COLUMNS} from batch),
  ids as (
    insert into event_ids (tenant_id, id, seq, occurred_at, payload_hash)
    select tenant_id, id, seq, occurred_at, payload_hash from batch),
  rollups as (
    insert into event_rollups_hourly (tenant_id, bucket, action_type, severity, outcome, resource_type, event_count)
    select tenant_id, date_trunc('hour', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
    from batch group by 1, 2, 3, 4, 5, 6
    on conflict (tenant_id, bucket, action_type, severity, outcome, resource_type)
    do update set event_count = event_rollups_hourly.event_count + excluded.event_count),
  days as (
    insert into event_rollups_daily (tenant_id, day, action_type, severity, outcome, resource_type, event_count)
    select tenant_id, date_trunc('day', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
    from batch group by 1, 2, 3, 4, 5, 6
    on conflict (tenant_id, day, action_type, severity, outcome, resource_type)
    do update set event_count = event_rollups_daily.event_count + excluded.event_count),
  user_rollups as (
    insert into event_user_rollups_hourly (tenant_id, bucket, user_id, event_count)
    select tenant_id, date_trunc('hour', occurred_at, 'UTC'), user_id, count(*)
    from batch where user_id is not null group by 1, 2, 3
    on conflict (tenant_id, bucket, user_id)
    do update set event_count = event_user_rollups_hourly.event_count + excluded.event_count),
  user_days as (
    insert into event_user_rollups_daily (tenant_id, day, user_id, event_count)
    select tenant_id, date_trunc('day', occurred_at, 'UTC'), user_id, count(*)
    from batch where user_id is not null group by 1, 2, 3
    on conflict (tenant_id, day, user_id)
    do update set event_count = event_user_rollups_daily.event_count + excluded.event_count),
  sequence as (
    update tenant_sequences set last_seq = $2, last_chain_hash = $3, tree_size = $7 where tenant_id = $4)
  select pg_notify($5, $6)`;

async function lockTenantSequence(tx: TransactionSql, tenantId: string) {
  const lock = () => tx<{ last_seq: number; last_chain_hash: string; tree_size: number }[]>`
    select last_seq, last_chain_hash, tree_size from tenant_sequences where tenant_id = ${tenantId} for update`;
  const [sequence] = await lock();
  if (sequence) return sequence;
  // A tenant's first batch creates its row (concurrent first batches: one inserts, both then lock).
  await tx`insert into tenant_sequences (tenant_id) values (${tenantId}) on conflict do nothing`;
  const [created] = await lock();
  if (!created) throw new Error(`tenant ${tenantId} has no sequence row`);
  return created;
}

/**
 * The rows of `events` as stored after `lastSeq`: seq assigned in order, salted event hash, and the
 * chain hash linking each to the one before.
 */
export function hashedRows(events: NormalizedEvent[], lastSeq: number, lastChainHash: string) {
  let seq = lastSeq;
  let chainHash = lastChainHash;
  return events.map((event) => {
    seq += 1;
    // One literal of a fixed shape (a spread of the queued event would make a slow dictionary object).
    const row = {
      id: event.id,
      tenant_id: event.tenant_id,
      seq,
      occurred_at: event.occurred_at,
      received_at: event.received_at,
      action_type: event.action_type,
      action: event.action,
      resource_type: event.resource_type,
      resource_id: event.resource_id,
      user_id: event.user_id,
      session_id: event.session_id,
      ip_address: event.ip_address,
      user_agent: event.user_agent,
      severity: event.severity,
      outcome: event.outcome,
      before_state: event.before_state,
      after_state: event.after_state,
      metadata: event.metadata,
      redacted: event.redacted,
      payload_hash: event.payload_hash,
      // A message queued before salts existed is salted here: every event stored from now on is.
      salt: event.salt ?? newEventSalt(),
      hash_version: HASH_VERSION.salted,
      hash: "",
      chain_hash: "",
    };
    row.hash = computeEventHash(row);
    chainHash = computeChainHash(chainHash, row.hash);
    row.chain_hash = chainHash;
    return row;
  });
}

async function storeTenantEvents(
  tx: TransactionSql,
  tenantId: string,
  events: NormalizedEvent[],
  summary: StoreSummary,
) {
  await setTenant(tx, tenantId);
  const sequence = await lockTenantSequence(tx, tenantId);

  // Under the tenant lock nobody else can insert this tenant's ids, so a plain lookup is race-free.
  const ids = events.map((event) => event.id);
  const existing = await tx<{ id: string; payload_hash: string }[]>`
    select id, payload_hash from event_ids where tenant_id = ${tenantId} and id = any(${ids}::uuid[])`;
  const storedHashes = new Map(existing.map((row) => [row.id, row.payload_hash]));

  const fresh: NormalizedEvent[] = [];
  const conflicts: NormalizedEvent[] = [];
  for (const event of events) {
    const storedHash = storedHashes.get(event.id);
    if (storedHash === undefined) {
      fresh.push(event);
      storedHashes.set(event.id, event.payload_hash);
    } else if (storedHash !== event.payload_hash) {
      conflicts.push(event);
    } else {
      summary.duplicates++;
    }
  }
  if (conflicts.length > 0) {
    summary.conflicts += conflicts.length;
    await tx`
      insert into event_conflicts (tenant_id, id, payload_hash, received_at)
      select ${tenantId}, x.id, x.payload_hash, x.received_at
      from json_to_recordset(${JSON.stringify(conflicts)}::text::json) as x(id uuid, payload_hash text, received_at timestamptz)
      on conflict do nothing`;
  }
  if (fresh.length === 0) return;

  const rows = hashedRows(fresh, sequence.last_seq, sequence.last_chain_hash);
  const seq = sequence.last_seq + rows.length;
  const chainHash = rows.at(-1)!.chain_hash;

  const fromSeq = sequence.last_seq + 1;
  // History stored before the tree existed is appended by the backfill (tlog/backfill-tree.ts),
  // which then hands over to this path; until it caught up, the tree is left to it.
  const treeSize =
    sequence.tree_size === sequence.last_seq
      ? await appendTenantLeaves(tx, tenantId, sequence.tree_size, rows)
      : sequence.tree_size;
  // Delivered at commit and only if it commits; small on purpose (NOTIFY payloads cap at 8000 bytes).
  await tx.unsafe(WRITE_BATCH, [
    JSON.stringify(rows),
    seq,
    chainHash,
    tenantId,
    EVENTS_NOTIFY_CHANNEL,
    `${tenantId}:${fromSeq}:${seq}`,
    treeSize,
  ]);
  summary.stored += rows.length;
  summary.tenants.push({ tenantId, fromSeq, toSeq: seq });
}

/**
 * Stores every event of the given messages in one transaction and resolves after COMMIT. Only
 * then may the caller delete the messages from the queue.
 */
export async function storeEvents(db: Database, events: NormalizedEvent[]): Promise<StoreSummary> {
  await ensurePartitions(db, events);
  const byTenant = new Map<string, NormalizedEvent[]>();
  for (const event of events) {
    const list = byTenant.get(event.tenant_id) ?? [];
    list.push(event);
    byTenant.set(event.tenant_id, list);
  }
  // Tenants are locked in one global order so two workers can never deadlock on each other.
  const tenantIds = [...byTenant.keys()].sort();
  const summary: StoreSummary = { stored: 0, duplicates: 0, conflicts: 0, tenants: [] };
  await db.withoutTenant(async (tx) => {
    for (const tenantId of tenantIds) await storeTenantEvents(tx, tenantId, byTenant.get(tenantId)!, summary);
  });
  return summary;
}
