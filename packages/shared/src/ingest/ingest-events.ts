// The api's ingest verb: authorize, validate every item, refuse conflicting ids, and put the batch
// on the queue. A 2xx is given only when every message is on the queue; nothing is enqueued when
// any item is invalid.

import { authorize, type Principal } from "../auth/principal.ts";
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import type { NormalizedEvent, StoredEvent } from "../events/event-schema.ts";
import { prepareEvents } from "../events/prepare-events.ts";
import type { KeyMatcher } from "../events/redaction.ts";
import { findStoredPayloadHashes, getEvent } from "../query/get-event.ts";
import { tenantScope } from "../query/tenant-scope.ts";
import type { EventQueue } from "../queue/event-queue.ts";

export interface IngestDependencies {
  db: Database;
  queue: EventQueue;
  isSensitiveKey: KeyMatcher;
}

export interface IngestResult {
  ids: string[];
  /** Events put on the queue now; ids already stored with the same payload are not re-sent. */
  enqueued: number;
}

interface TenantState {
  status: string;
  retention_days: number;
}

async function loadTenantStates(db: Database, tenantIds: string[]): Promise<Map<string, TenantState>> {
  const rows = await db.sql<({ id: string } & TenantState)[]>`
    select id, status, retention_days from tenants where id = any(${tenantIds}::uuid[])`;
  return new Map(rows.map((row) => [row.id, row]));
}

export async function ingestEvents(
  deps: IngestDependencies,
  principal: Principal,
  items: unknown[],
  options: { bulk: boolean; now?: Date },
): Promise<IngestResult> {
  const tenantId = authorize(principal, "events:write");
  const now = options.now ?? new Date();
  const tenantCache = new Map<string, TenantState | undefined>();
  // An API key's lookup already read its tenant's state; only other tenants cost a query.
  if (principal.kind === "api_key" && principal.tenantRetentionDays !== undefined) {
    tenantCache.set(principal.tenantId, {
      status: principal.tenantStatus,
      retention_days: principal.tenantRetentionDays,
    });
  }
  const tenantState = async (id: string) => {
    if (!tenantCache.has(id)) tenantCache.set(id, (await loadTenantStates(deps.db, [id])).get(id));
    return tenantCache.get(id);
  };

  const events = await prepareEvents(
    items,
    { tenantId, isSensitiveKey: deps.isSensitiveKey, now },
    async (id) => {
      const state = await tenantState(id);
      return state ? new Date(now.getTime() - state.retention_days * 86_400_000) : null;
    },
    options,
  );

  // Every tenant written to must exist and be active (platform admins name tenants per event).
  for (const id of new Set(events.map((event) => event.tenant_id))) {
    const state = await tenantState(id);
    if (!state)
      throw new VigilError("VALIDATION_FAILED", "tenant_id names no tenant", [
        { path: "tenant_id", message: "unknown tenant" },
      ]);
    if (state.status !== "active")
      throw new VigilError("TENANT_NOT_ACTIVE", `tenant is ${state.status}; ingest is refused`);
  }

  // Only ids the client chose can already be stored; a UUIDv7 assigned just now cannot.
  const clientChosen = events.filter(
    (_, index) => (items[index] as { id?: unknown } | null)?.id !== undefined,
  );
  const toEnqueue =
    clientChosen.length > 0 ? await dropAlreadyStored(deps.db, events, clientChosen, options.bulk) : events;
  if (toEnqueue.length > 0) await deps.queue.publishEvents(toEnqueue);
  return { ids: events.map((event) => event.id), enqueued: toEnqueue.length };
}

/**
 * Client-retried ids that are already stored with the same payload are acknowledged without being
 * queued again; the same id with a different payload is a 409 for the whole request.
 */
async function dropAlreadyStored(
  db: Database,
  events: NormalizedEvent[],
  clientChosen: NormalizedEvent[],
  bulk: boolean,
): Promise<NormalizedEvent[]> {
  const byTenant = new Map<string, string[]>();
  for (const event of clientChosen) {
    const ids = byTenant.get(event.tenant_id) ?? [];
    ids.push(event.id);
    byTenant.set(event.tenant_id, ids);
  }
  const stored = new Map<string, string>();
  for (const [tenantId, ids] of byTenant) {
    for (const [id, hash] of await findStoredPayloadHashes(db, tenantScope(tenantId), ids))
      stored.set(`${tenantId}/${id}`, hash);
  }
  if (stored.size === 0) return events;
  const fresh: NormalizedEvent[] = [];
  events.forEach((event, index) => {
    const storedHash = stored.get(`${event.tenant_id}/${event.id}`);
    if (storedHash === undefined) fresh.push(event);
    else if (storedHash !== event.payload_hash) {
      throw new VigilError("CONFLICT", `event ${event.id} is already stored with a different payload`, [
        { path: "id", message: "already stored with a different payload", ...(bulk ? { index } : {}) },
      ]);
    }
  });
  return fresh;
}

/** Polls until the event is stored (for `?wait=true`), or resolves null at the deadline. */
export async function waitForStoredEvent(
  db: Database,
  tenantId: string,
  id: string,
  timeoutMs: number,
): Promise<StoredEvent | null> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const event = await getEvent(db, tenantScope(tenantId), id);
    if (event || Date.now() >= deadline) return event;
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 200);
  }
}
