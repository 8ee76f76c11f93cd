// Search: every filter of GET /api/v1/logs, a sort from a fixed list, and keyset pagination by
// (sort key, seq) so page N costs the same as page 1. Written once; the api, export and CLI use it.
import { type ExpressionBuilder, type SelectQueryBuilder, sql } from "kysely";
import { type Database, queryBuilder, run } from "../db/database.ts";
import type { DatabaseSchema } from "../db/schema.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { decodeCursor, encodeCursor, queryFingerprint } from "./cursor.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import type { EventFilter, SearchParams, Sort } from "./search-params.ts";
import type { TenantScope } from "./tenant-scope.ts";

type EventsExpression = ExpressionBuilder<DatabaseSchema, "events">;

const SORT_COLUMN: Record<Sort, "occurred_at" | "seq" | "received_at"> = {
  "-occurred_at": "occurred_at",
  occurred_at: "occurred_at",
  "-seq": "seq",
  seq: "seq",
  "-received_at": "received_at",
};

/** The WHERE clause shared by search, export and stats: tenant first, always. */
export function applyEventFilter<Output>(
  query: SelectQueryBuilder<DatabaseSchema, "events", Output>,
  scope: TenantScope,
  filter: EventFilter,
): SelectQueryBuilder<DatabaseSchema, "events", Output> {
  let q = query.where("tenant_id", "=", scope.tenantId);
  if (filter.user_id) q = q.where("user_id", "=", filter.user_id);
  if (filter.session_id) q = q.where("session_id", "=", filter.session_id);
  if (filter.action_type?.length) q = q.where("action_type", "in", filter.action_type);
  if (filter.action) q = q.where("action", "=", filter.action);
  if (filter.resource_type) q = q.where("resource_type", "=", filter.resource_type);
  if (filter.resource_id) q = q.where("resource_id", "=", filter.resource_id);
  if (filter.severity?.length) q = q.where("severity", "in", filter.severity);
  if (filter.outcome) q = q.where("outcome", "=", filter.outcome);
  if (filter.from) q = q.where("occurred_at", ">=", new Date(filter.from));
  if (filter.to) q = q.where("occurred_at", "<", new Date(filter.to));
  if (filter.q) q = q.where(sql<boolean>`search_vector @@ websearch_to_tsquery('simple', ${filter.q})`);
  return q;
}

export function baseEventsQuery() {
  return queryBuilder.selectFrom("events");
}

export interface SearchPage {
  data: StoredEvent[];
  next_cursor: string | null;
}

function fingerprintOf(params: SearchParams): string {
  const { cursor: _cursor, limit: _limit, ...rest } = params;
  return queryFingerprint(rest);
}

export function searchEventsQuery(scope: TenantScope, params: SearchParams) {
  const column = SORT_COLUMN[params.sort];
  const descending = params.sort.startsWith("-");
  let query = applyEventFilter(baseEventsQuery(), scope, params).select([...EVENT_COLUMNS]);
  if (params.cursor) {
    const position = decodeCursor(params.cursor, scope.tenantId, fingerprintOf(params));
    const op = descending ? "<" : ">";
    if (column === "seq") {
      query = query.where("seq", op, position.seq);
    } else {
      const key = new Date(String(position.key));
      query = query.where((eb: EventsExpression) => eb(eb.refTuple(column, "seq"), op, eb.tuple(key, position.seq)));
    }
  }
  const direction = descending ? "desc" : "asc";
  if (column !== "seq") query = query.orderBy(column, direction);
  // Fetch one extra row to learn whether another page exists without a count query.
  return query.orderBy("seq", direction).limit(params.limit + 1);
}

export async function searchEvents(db: Database, scope: TenantScope, params: SearchParams): Promise<SearchPage> {
  const rows = (await db.withTenant(scope.tenantId, (tx) => run(tx, searchEventsQuery(scope, params)))) as unknown as EventRow[];
  const page = rows.slice(0, params.limit).map(toStoredEvent);
  const last = page.at(-1);
  let next_cursor: string | null = null;
  if (rows.length > params.limit && last) {
    const column = SORT_COLUMN[params.sort];
    next_cursor = encodeCursor(scope.tenantId, fingerprintOf(params), {
      key: column === "seq" ? last.seq : last[column],
      seq: last.seq,
    });
  }
  return { data: page, next_cursor };
}
