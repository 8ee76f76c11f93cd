// The seam between search and the store that answers it. PostgreSQL full-text search is the
// default backend (search-events.ts); an OpenSearch index can implement the same interface. Cursor
// packing, the default time window and tenant binding stay in searchEvents, so every backend pages
// the same way and a cursor from one tenant or filter set is refused before any backend runs.
import type { StoredEvent } from "../events/event-schema.ts";
import type { CursorPosition } from "./cursor.ts";
import type { EventFilter, Sort } from "./search-params.ts";
import type { TenantScope } from "./tenant-scope.ts";

/** One page request, already validated and resolved: `filter.from` is always set. */
export interface EventSearchQuery {
  /** Every filter of GET /api/v1/logs; `from` is the resolved window start, `to` may be open. */
  filter: EventFilter & { from: string };
  sort: Sort;
  /** Page size; a backend returns up to `limit + 1` rows so the caller learns whether more exist. */
  limit: number;
  /**
   * Keyset position of the last row of the previous page, or null for the first page. Rows come
   * strictly after it in `sort` order; ties on the sort key are broken by `seq` in the same direction.
   * `key` is the ISO time of the sort column (or the seq when sorting by seq).
   */
  after: CursorPosition | null;
}

export interface EventSearchBackend {
  /** For logs and metrics ("postgres", "opensearch"). */
  readonly name: string;
  /**
   * Up to `query.limit + 1` events of `scope`'s tenant, in `query.sort` order then `seq`, after
   * `query.after`. Must never return another tenant's event; `q` is the user's full-text query in
   * websearch syntax (words, "quoted phrases", OR, -negation).
   */
  findEvents(scope: TenantScope, query: EventSearchQuery): Promise<StoredEvent[]>;
}
