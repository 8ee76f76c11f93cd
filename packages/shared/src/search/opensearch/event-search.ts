// An EventSearchBackend (query/event-search-backend.ts) over the OpenSearch index: the filters of
// GET /api/v1/logs, the same sort list, and keyset pages as `search_after`. Cursor packing stays in
// query/search-events.ts, so cursors are interchangeable between this backend and PostgreSQL.
//
// Isolation: the request builder takes the TenantScope first and always emits a tenant_id term
// filter plus tenant routing; hits are checked against the scope again before they are returned.
import { errors } from "@opensearch-project/opensearch";
import { VigilError } from "../../errors/vigil-error.ts";
import type { StoredEvent } from "../../events/event-schema.ts";
import { EVENT_COLUMNS } from "../../query/event-rows.ts";
import {
  type EventPageRows,
  type EventSearchBackend,
  type EventSearchQuery,
  pageFromRows,
} from "../../query/event-search-backend.ts";
import type { Sort } from "../../query/search-params.ts";
import type { TenantScope } from "../../query/tenant-scope.ts";
import { type EventIndexTarget, eventIndexPattern } from "./event-index.ts";

type SortField = "occurred_at" | "seq" | "received_at";

const SORT_FIELD: Record<Sort, SortField> = {
  "-occurred_at": "occurred_at",
  occurred_at: "occurred_at",
  "-seq": "seq",
  seq: "seq",
  "-received_at": "received_at",
};

type Clause = Record<string, unknown>;

export interface OpenSearchSearchRequest {
  index: string;
  routing: string;
  ignore_unavailable: true;
  allow_no_indices: true;
  body: {
    size: number;
    track_total_hits: false;
    query: { bool: { filter: Clause[] } };
    sort: Array<Record<string, { order: "asc" | "desc" }>>;
    search_after?: Array<string | number>;
    _source: { excludes: string[] };
  };
}

/** The search request for one page. The tenant filter comes first and cannot be left out. */
export function buildSearchRequest(
  scope: TenantScope,
  query: EventSearchQuery,
  indexPrefix: string,
): OpenSearchSearchRequest {
  const filter = query.filter;
  const clauses: Clause[] = [{ term: { tenant_id: scope.tenantId } }];
  const term = (field: string, value: string | undefined) => {
    if (value) clauses.push({ term: { [field]: value } });
  };
  const terms = (field: string, values: readonly string[] | undefined) => {
    if (values?.length) clauses.push({ terms: { [field]: [...values] } });
  };
  term("user_id", filter.user_id);
  term("session_id", filter.session_id);
  terms("action_type", filter.action_type);
  term("action", filter.action);
  term("resource_type", filter.resource_type);
  term("resource_id", filter.resource_id);
  terms("severity", filter.severity);
  term("outcome", filter.outcome);
  if (filter.from || filter.to) {
    // `to` is exclusive, as in the PostgreSQL search.
    const range: Record<string, string> = {};
    if (filter.from) range.gte = new Date(filter.from).toISOString();
    if (filter.to) range.lt = new Date(filter.to).toISOString();
    clauses.push({ range: { occurred_at: range } });
  }
  if (filter.q) {
    // In filter context: the order is the requested sort, so relevance scores would be wasted work.
    clauses.push({
      simple_query_string: {
        query: toSimpleQueryString(filter.q),
        fields: ["search_text"],
        default_operator: "and",
        flags: "OR|NOT|PHRASE|WHITESPACE",
      },
    });
  }

  const field = SORT_FIELD[query.sort];
  const order: "asc" | "desc" = query.sort.startsWith("-") ? "desc" : "asc";
  // seq is unique within a tenant, so it breaks ties and makes the order (and search_after) total.
  const sort: OpenSearchSearchRequest["body"]["sort"] =
    field === "seq" ? [{ seq: { order } }] : [{ [field]: { order } }, { seq: { order } }];

  const request: OpenSearchSearchRequest = {
    index: eventIndexPattern(indexPrefix),
    routing: scope.tenantId,
    ignore_unavailable: true,
    allow_no_indices: true,
    body: {
      // One extra hit tells whether another page exists without counting.
      size: query.limit + 1,
      track_total_hits: false,
      query: { bool: { filter: clauses } },
      sort,
      _source: { excludes: ["search_text"] },
    },
  };
  if (query.after) {
    // Date sort values are epoch milliseconds; the cursor keeps the ISO time the PostgreSQL search uses.
    request.body.search_after =
      field === "seq" ? [query.after.seq] : [Date.parse(String(query.after.key)), query.after.seq];
  }
  return request;
}

/**
 * websearch_to_tsquery syntax → simple_query_string: words are ANDed, "quoted phrases" and
 * -negation carry over as they are, the word `or` becomes `|`. Every other operator
 * (+ * ( ) ~ and escapes) is switched off by the flags above, so those characters are plain text.
 */
export function toSimpleQueryString(q: string): string {
  return q
    .split(/("[^"]*")/)
    .map((part, index) => (index % 2 === 1 ? part : part.replace(/(^|\s)or(?=\s|$)/gi, "$1|")))
    .join("");
}

const jsonBytes = (value: unknown) => (value == null ? 0 : Buffer.byteLength(JSON.stringify(value)));

interface SearchHit {
  _source?: Record<string, unknown>;
}

export class OpenSearchEventSearch implements EventSearchBackend {
  readonly name = "opensearch";

  constructor(private readonly target: EventIndexTarget) {}

  async findEvents(scope: TenantScope, query: EventSearchQuery): Promise<EventPageRows> {
    const request = buildSearchRequest(scope, query, this.target.indexPrefix);
    try {
      const response = await this.target.client.search(request);
      const hits = (response.body as { hits?: { hits?: SearchHit[] } }).hits?.hits ?? [];
      const events = hits.map((hit) => toStoredEventFromSource(scope, hit._source ?? {}));
      // The same byte budget as PostgreSQL's pages, measured on the JSON values of the hits.
      let bytes = 0;
      const rows = events.map((event) => {
        const row = { ...event, bytes_before: bytes };
        bytes += jsonBytes(event.before_state) + jsonBytes(event.after_state) + jsonBytes(event.metadata);
        return row;
      });
      const page = pageFromRows(rows, query);
      return {
        events: page.events.map(({ bytes_before: _bytes, ...event }) => event as StoredEvent),
        more: page.more,
      };
    } catch (error) {
      if (
        error instanceof errors.ConnectionError ||
        error instanceof errors.TimeoutError ||
        error instanceof errors.NoLivingConnectionsError
      ) {
        throw new VigilError("SEARCH_UNAVAILABLE", "the search index is unavailable; try again later");
      }
      throw error;
    }
  }
}

/** A hit's _source → the public event shape, refusing any document outside the scope. */
function toStoredEventFromSource(scope: TenantScope, source: Record<string, unknown>): StoredEvent {
  if (source.tenant_id !== scope.tenantId) {
    // Cannot happen while the tenant filter is in place; if it ever does, fail loudly rather than leak.
    throw new Error("search index returned a document outside the tenant scope");
  }
  const event = Object.fromEntries(
    EVENT_COLUMNS.map((column) => [column, source[column] ?? null]),
  ) as unknown as StoredEvent;
  event.seq = Number(source.seq);
  event.redacted = Array.isArray(source.redacted) ? (source.redacted as string[]) : [];
  return event;
}
