// One resource's events in seq order, each with the field-level diff of before_state → after_state.
// Keyset-paged by seq; served by the (tenant, resource_type, resource_id) index, so the cost grows
// with that resource's history, not the tenant's. No default time window: a resource's history is
// only meaningful whole.
import { z } from "zod";
import { type Database, queryBuilder, run } from "../db/database.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";
import { type CursorKey, decodeCursor, encodeCursor, queryFingerprint } from "./cursor.ts";
import { cursorKey } from "./cursor-key.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import { cursorParam } from "./search-params.ts";
import { diffStates, type StateDiff } from "./state-diff.ts";
import type { TenantScope } from "./tenant-scope.ts";

export const historyParamsSchema = z.strictObject({
  limit: z.coerce
    .number("must be a whole number from 1 to 1000")
    .int("must be a whole number from 1 to 1000")
    .min(1, "must be a whole number from 1 to 1000")
    .max(1000, "must be a whole number from 1 to 1000")
    .default(100),
  cursor: cursorParam.optional(),
});

const pathText = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `must be at most ${max} characters`)
    .refine(isStorable, UNSTORABLE_MESSAGE);

/** The path segments naming a resource (as the event schema bounds them). */
export const resourceRefSchema = z.object({
  resource_type: pathText(128),
  resource_id: pathText(256),
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
    .select([...EVENT_COLUMNS, "erased"])
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
  options: { cursorKey?: CursorKey } = {},
): Promise<ResourceHistory> {
  // The cursor is bound to this tenant and this resource.
  const fingerprint = queryFingerprint({ history: resource });
  const key = async () => options.cursorKey ?? (await cursorKey(db));
  const afterSeq = params.cursor
    ? decodeCursor(await key(), params.cursor, scope.tenantId, fingerprint).seq
    : 0;
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
      ? encodeCursor(await key(), scope.tenantId, fingerprint, { key: last.seq, seq: last.seq })
      : null;
  return { resource_type: resource.resource_type, resource_id: resource.resource_id, data, next_cursor };
}
