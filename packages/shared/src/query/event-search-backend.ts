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
  /** Most rows on the page. */
  limit: number;
  /**
   * Most bytes of JSON values (states and metadata) on the page: a page ends early, after at
   * least one row, once its rows reach this, so `limit=1000` of rows near the 256 KiB event limit
   * never loads hundreds of MB into one response. Absent: SEARCH_PAGE_MAX_BYTES.
   */
  maxBytes?: number;
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
   * One page of `scope`'s tenant: at most `query.limit` events (and about `query.maxBytes`), in
   * `query.sort` order then `seq`, after `query.after`, and whether more follow. Must never return
   * another tenant's event; `q` is the user's full-text query in websearch syntax (words,
   * "quoted phrases", OR, -negation).
   */
  findEvents(scope: TenantScope, query: EventSearchQuery): Promise<EventPageRows>;
}

export interface EventPageRows {
  events: StoredEvent[];
  /** True when at least one more event follows the page. */
  more: boolean;
}

/**
 * Bytes of states and metadata (as JSON text) one search page may hold; the page ends after the
 * row that reaches it. About 32 of the largest events, or every row of a 1,000-row page of
 * typical ones.
 */
export const SEARCH_PAGE_MAX_BYTES = 8 * 1024 * 1024;

/** Rows in page order, each with the JSON bytes of the rows before it → the page: rows while under the byte budget (at least one), then "more". */
export function pageFromRows<Row extends { bytes_before: number }>(
  rows: Row[],
  query: EventSearchQuery,
): { events: Row[]; more: boolean } {
  let size = 0;
  while (
    size < rows.length &&
    size < query.limit &&
    (size === 0 || Number(rows[size]!.bytes_before) < (query.maxBytes ?? SEARCH_PAGE_MAX_BYTES))
  )
    size++;
  return { events: rows.slice(0, size), more: rows.length > size };
}
