// Search: every filter of GET /api/v1/logs, a sort from a fixed list, and keyset pagination by
// (sort key, seq) so page N costs the same as page 1. Written once; the api, export and CLI use it.
//
// Full text: `q` is websearch_to_tsquery('simple', q) against the generated `search_vector`
// (action, resource type and id, user, and every string/number/boolean in metadata and states).
// The 'simple' configuration does no stemming and the same parser splits both sides, so an
// identifier such as "inv-1", "invoice.approve" or a UUID becomes the same lexemes (a phrase) in
// the query as in the row, and matches exactly; websearch syntax never raises on user input.
import { type ExpressionBuilder, type SelectQueryBuilder, sql } from "kysely";
import { type Database, queryBuilder, run } from "../db/database.ts";
import type { DatabaseSchema } from "../db/schema.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import { type CursorPosition, decodeCursor, encodeCursor, queryFingerprint } from "./cursor.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import type { EventSearchBackend, EventSearchQuery } from "./event-search-backend.ts";
import type { EventFilter, SearchParams, Sort } from "./search-params.ts";
import type { TenantScope } from "./tenant-scope.ts";
import { resolveTimeWindow } from "./time-window.ts";

type EventsExpression = ExpressionBuilder<DatabaseSchema, "events">;

export const SORT_COLUMN: Record<Sort, "occurred_at" | "seq" | "received_at"> = {
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

/** The PostgreSQL query for one page: filters, keyset condition, order, `limit + 1` rows. */
export function searchEventsQuery(scope: TenantScope, query: EventSearchQuery) {
  const column = SORT_COLUMN[query.sort];
  const descending = query.sort.startsWith("-");
  let select = applyEventFilter(baseEventsQuery(), scope, query.filter).select([...EVENT_COLUMNS]);
  if (query.after) {
    const op = descending ? "<" : ">";
    const position = query.after;
    if (column === "seq") {
      select = select.where("seq", op, position.seq);
    } else {
      const key = new Date(String(position.key));
      select = select.where((eb: EventsExpression) =>
        eb(eb.refTuple(column, "seq"), op, eb.tuple(key, position.seq)),
      );
    }
  }
  const direction = descending ? "desc" : "asc";
  if (column !== "seq") select = select.orderBy(column, direction);
  // One extra row tells whether another page exists without a count query.
  return select.orderBy("seq", direction).limit(query.limit + 1);
}

/** The default backend: PostgreSQL itself, under the tenant's RLS scope. */
export function postgresSearchBackend(db: Database): EventSearchBackend {
  return {
    name: "postgres",
    findEvents: async (scope, query) => {
      const rows = await db.withTenant(scope.tenantId, (tx) => run(tx, searchEventsQuery(scope, query)));
      return (rows as unknown as EventRow[]).map(toStoredEvent);
    },
  };
}

/**
 * Validated parameters → the backend's page request. A cursor is checked against the tenant and
 * the filter fingerprint first, and its pinned window start replaces the default one.
 */
export function resolveSearchQuery(
  scope: TenantScope,
  params: SearchParams,
  now: Date = new Date(),
): EventSearchQuery {
  const { cursor, limit, sort, ...filter } = params;
  let after: CursorPosition | null = null;
  let from: string;
  if (cursor) {
    after = decodeCursor(cursor, scope.tenantId, fingerprintOf(params));
    from = after.windowFrom ?? resolveTimeWindow(filter, now).from;
  } else {
    from = resolveTimeWindow(filter, now).from;
  }
  return { filter: { ...filter, from }, sort, limit, after };
}

export async function searchEvents(
  db: Database,
  scope: TenantScope,
  params: SearchParams,
  backend: EventSearchBackend = postgresSearchBackend(db),
): Promise<SearchPage> {
  const query = resolveSearchQuery(scope, params);
  const rows = await backend.findEvents(scope, query);
  const page = rows.slice(0, params.limit);
  const last = page.at(-1);
  let next_cursor: string | null = null;
  if (rows.length > params.limit && last) {
    const column = SORT_COLUMN[params.sort];
    next_cursor = encodeCursor(scope.tenantId, fingerprintOf(params), {
      key: column === "seq" ? last.seq : last[column],
      seq: last.seq,
      windowFrom: query.filter.from,
    });
  }
  return { data: page, next_cursor };
}
