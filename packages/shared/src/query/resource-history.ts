// One resource's events in seq order, each with the field-level diff of before_state → after_state.
// Keyset-paged by seq; served by the (tenant, resource_type, resource_id) index, so the cost grows
// with that resource's history, not the tenant's. No default time window: a resource's history is
// only meaningful whole.
import { z } from "zod";
import { type Database, queryBuilder, run } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { decodeCursor, encodeCursor, queryFingerprint } from "./cursor.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import { diffStates, type StateDiff } from "./state-diff.ts";
import type { TenantScope } from "./tenant-scope.ts";

export const historyParamsSchema = z.strictObject({
  limit: z.coerce
    .number("must be a whole number from 1 to 1000")
    .int("must be a whole number from 1 to 1000")
    .min(1, "must be a whole number from 1 to 1000")
    .max(1000, "must be a whole number from 1 to 1000")
    .default(100),
  cursor: z.string().min(1).max(1024).optional(),
});

export const resourceRefSchema = z.object({
  resource_type: z.string().min(1, "must not be empty").max(128, "must be at most 128 characters"),
  resource_id: z.string().min(1, "must not be empty").max(256, "must be at most 256 characters"),
});

export type HistoryParams = z.infer<typeof historyParamsSchema>;
export type ResourceRef = z.infer<typeof resourceRefSchema>;

export interface HistoryEntry extends StoredEvent {
  diff: StateDiff;
}

export interface ResourceHistory {
  resource_type: string;
  resource_id: string;
  data: HistoryEntry[];
  next_cursor: string | null;
}

export function resourceHistoryQuery(
  scope: TenantScope,
  resource: ResourceRef,
  afterSeq: number,
  limit: number,
) {
  return queryBuilder
    .selectFrom("events")
    .select([...EVENT_COLUMNS])
    .where("tenant_id", "=", scope.tenantId)
    .where("resource_type", "=", resource.resource_type)
    .where("resource_id", "=", resource.resource_id)
    .where("seq", ">", afterSeq)
    .orderBy("seq", "asc")
    .limit(limit + 1);
}

export async function resourceHistory(
  db: Database,
  scope: TenantScope,
  resource: ResourceRef,
  params: HistoryParams,
): Promise<ResourceHistory> {
  // The cursor is bound to this tenant and this resource.
  const fingerprint = queryFingerprint({ history: resource });
  const afterSeq = params.cursor ? decodeCursor(params.cursor, scope.tenantId, fingerprint).seq : 0;
  const rows = (await db.withTenant(scope.tenantId, (tx) =>
    run(tx, resourceHistoryQuery(scope, resource, afterSeq, params.limit)),
  )) as unknown as EventRow[];
  const data = rows.slice(0, params.limit).map((row) => {
    const event = toStoredEvent(row);
    return { ...event, diff: diffStates(event.before_state, event.after_state) };
  });
  const last = data.at(-1);
  const next_cursor =
    rows.length > params.limit && last
      ? encodeCursor(scope.tenantId, fingerprint, { key: last.seq, seq: last.seq })
      : null;
  return { resource_type: resource.resource_type, resource_id: resource.resource_id, data, next_cursor };
}
