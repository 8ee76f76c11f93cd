// Deterministic events for the query-module tests, stored through the worker's own verb
// (storeEvents), so seq, hashes, event_ids and rollups are exactly what production writes.
import { createHash, randomUUID } from "node:crypto";
import type { Database } from "@vigil/shared/db/database";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import type postgres from "postgres";

const ACTION_TYPES = ["CREATE", "UPDATE", "DELETE", "VIEW"] as const;
const SEVERITIES = ["INFO", "WARNING", "ERROR", "CRITICAL"] as const;
const RESOURCE_TYPES = ["invoice", "user", "project", "document"] as const;

/** A small deterministic PRNG (mulberry32), so every run seeds the same data. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuidFrom(text: string): string {
  const hex = createHash("sha256").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Event number `index` of `tenantId`, at `occurredAt`; fields cycle so every filter has hits. */
export function sampleEvent(
  tenantId: string,
  index: number,
  occurredAt: Date,
  overrides: Partial<NormalizedEvent> = {},
): NormalizedEvent {
  const resource_type = RESOURCE_TYPES[index % 4]!;
  const action_type = ACTION_TYPES[(index >> 2) % 4]!;
  return {
    id: uuidFrom(`${tenantId}:${index}`),
    tenant_id: tenantId,
    occurred_at: occurredAt.toISOString(),
    received_at: new Date(occurredAt.getTime() + (index % 7) * 1000).toISOString(),
    action_type,
    action: `${resource_type}.${action_type.toLowerCase()}`,
    resource_type,
    resource_id: `${resource_type.slice(0, 3)}-${index % 50}`,
    user_id: index % 10 === 9 ? null : `user-${index % 13}`,
    session_id: `sess-${index % 17}`,
    ip_address: `10.0.${(index >> 8) & 255}.${index & 255}`,
    user_agent: "VigilTest/1.0",
    severity: SEVERITIES[index % 3 === 0 ? (index >> 1) % 4 : 0]!,
    outcome: index % 11 === 0 ? "failure" : "success",
    before_state: { status: "draft", amount: index % 100 },
    after_state: { status: "approved", amount: (index % 100) + 1, approver: { id: `user-${index % 5}` } },
    metadata: { region: index % 2 ? "eu-west-1" : "us-east-1", index },
    redacted: [],
    payload_hash: createHash("sha256").update(`${tenantId}:${index}:payload`).digest("hex"),
    ...overrides,
  };
}

/** Stores events in chunks (one worker transaction each). */
export async function seedEvents(db: Database, events: NormalizedEvent[], chunk = 5000): Promise<void> {
  for (let start = 0; start < events.length; start += chunk)
    await storeEvents(db, events.slice(start, start + chunk));
}

/** storeEvents, tried again on a deadlock (as the queue would redeliver the batch). */
export async function storeRetryingDeadlocks(db: Database, events: NormalizedEvent[]) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await storeEvents(db, events);
    } catch (error) {
      if ((error as { code?: string }).code !== "40P01" || attempt > 5) throw error;
    }
  }
}

/** A tenant row for the rollup tests: long retention unless given, archiving to `bucket` when asked. */
export async function insertRollupTenant(
  admin: postgres.Sql,
  namePrefix: string,
  options: { retentionDays?: number; archive?: boolean; bucket: string },
): Promise<string> {
  const id = randomUUID();
  await admin`
    insert into tenants (id, name, retention_days, archive_enabled, archive_bucket)
    values (${id}, ${`${namePrefix}-${id.slice(0, 8)}`}, ${options.retentionDays ?? 3650}, ${options.archive ?? false},
      ${options.archive ? options.bucket : null})`;
  return id;
}
