// Search: every filter of GET /api/v1/logs, a sort from a fixed list, and keyset pagination by
// (sort key, seq) so page N costs the same as page 1. Written once; the api, export and CLI use it.
//
// Full text: `q` is websearch_to_tsquery('simple', q) against the generated `search_vector`
// (action, resource type and id, user, and every string/number/boolean in metadata and states).
// The 'simple' configuration does no stemming and the same parser splits both sides, so an
// identifier such as "inv-1", "invoice.approve" or a UUID becomes the same lexemes (a phrase) in
// the query as in the row, and matches exactly; websearch syntax never raises on user input.
import { type Compilable, type ExpressionBuilder, type SelectQueryBuilder, sql } from "kysely";
import type postgres from "postgres";
import { compilable, type Database, queryBuilder, run, type TransactionSql } from "../db/database.ts";
import type { DatabaseSchema } from "../db/schema.ts";
import { VigilError } from "../errors/vigil-error.ts";
import type { StoredEvent } from "../events/event-schema.ts";
import {
  type CursorKey,
  type CursorPosition,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  queryFingerprint,
} from "./cursor.ts";
import { cursorKey } from "./cursor-key.ts";
import { EVENT_COLUMNS, type EventRow, toStoredEvent } from "./event-rows.ts";
import {
  type EventPageRows,
  type EventSearchBackend,
  type EventSearchQuery,
  SEARCH_PAGE_MAX_BYTES,
} from "./event-search-backend.ts";
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

/** Rows strictly after the keyset position in `sort` order (ties on the sort key broken by seq). */
function afterPosition<Output>(
  select: SelectQueryBuilder<DatabaseSchema, "events", Output>,
  sort: Sort,
  after: CursorPosition | null,
): SelectQueryBuilder<DatabaseSchema, "events", Output> {
  if (!after) return select;
  const column = SORT_COLUMN[sort];
  const op = sort.startsWith("-") ? "<" : ">";
  if (column === "seq") return select.where("seq", op, after.seq);
  const key = new Date(String(after.key));
  return select.where((eb: EventsExpression) => eb(eb.refTuple(column, "seq"), op, eb.tuple(key, after.seq)));
}

/** Filters, keyset condition and order, without a limit or a select list. */
function orderedQuery(scope: TenantScope, filter: EventFilter, sort: Sort, after: CursorPosition | null) {
  const column = SORT_COLUMN[sort];
  const direction = sort.startsWith("-") ? "desc" : "asc";
  let select = afterPosition(applyEventFilter(baseEventsQuery(), scope, filter), sort, after);
  if (column !== "seq") select = select.orderBy(column, direction);
  return select.orderBy("seq", direction);
}

/** Filters, keyset condition, order and `limit + 1` rows of one page, without a select list. */
function orderedPageQuery(scope: TenantScope, query: Omit<EventSearchQuery, "maxBytes">) {
  // One extra row tells whether another page exists without a count query.
  return orderedQuery(scope, query.filter, query.sort, query.after).limit(query.limit + 1);
}

/** The PostgreSQL query for one page: filters, keyset condition, order, `limit + 1` rows. */
export function searchEventsQuery(scope: TenantScope, query: Omit<EventSearchQuery, "maxBytes">) {
  return orderedPageQuery(scope, query).select([...EVENT_COLUMNS]);
}

interface PageKey {
  seq: number;
  occurred_at: Date;
  json_bytes: number;
}

/** Bytes of a row's JSON values as text (states and metadata), measured by PostgreSQL. */
export const JSON_BYTES = sql<number>`coalesce(octet_length(before_state::text), 0) + coalesce(octet_length(after_state::text), 0) + coalesce(octet_length(metadata::text), 0)`;

/** The page's keys in page order, each with its JSON size: what decides the page before any row is loaded. */
export function searchKeysQuery(
  scope: TenantScope,
  query: Omit<EventSearchQuery, "maxBytes">,
): Compilable<PageKey> {
  if (query.filter.q) return textHeadKeysQuery(scope, query, query.filter.q);
  return orderedPageQuery(scope, query).select(["seq", "occurred_at", JSON_BYTES.as("json_bytes")]);
}

/*
 * Full text, with a cost that follows the matches rather than the window. Walking the window in
 * page order and testing each row costs (page rows / density): cheap for a common term, the whole
 * window for a rare one. Probing the tenant-leading GIN index costs the matches: cheap for a rare
 * term, all of them for a common one. So a page takes one or two statements:
 *  1. head (searchKeysQuery): the newest `textHeadRows` rows of the window (every other filter,
 *     after the cursor), tested for `q`. Rows past them all come later in page order, so its
 *     matches are the page's first keys exactly; when they decide the page (it is full and one key
 *     more exists) nothing else runs: a common term costs what the plain walk cost.
 *  2. otherwise textRestKeysQuery. When the window (every other filter, after the cursor) holds no
 *     more rows than the head tested, the ordered walk over it costs no more than the head did, and
 *     it runs (a selective filter beside a common term: no probe). Else at most
 *     TEXT_PROBE_MATCHES + 1 keys matching `q` in the window from the GIN index
 *     (vigil_search_match_keys). No more than TEXT_PROBE_MATCHES: they are every
 *     match; each is read back under RLS, checked against every filter and the cursor, and the page
 *     is the first of them in page order (cost: the matches). More: the matches are dense enough
 *     for the ordered walk over the window to end soon, and it runs instead.
 * Either way the keys are exactly those, in exactly the order, that the plain walk would give.
 */

/** Matches the probe may collect before the search walks the window in order instead. */
export const TEXT_PROBE_MATCHES = 1000;

/** Newest rows of the window the head tests for `q`: 10 per page row, at most 10,000. */
export function textHeadRows(limit: number): number {
  return Math.min(10 * (limit + 1), 10_000);
}

function pageOrder(sort: Sort, alias: string) {
  const column = SORT_COLUMN[sort];
  const direction = sort.startsWith("-") ? sql`desc` : sql`asc`;
  const seq = sql`${sql.ref(`${alias}.seq`)} ${direction}`;
  return column === "seq" ? seq : sql`${sql.ref(`${alias}.${column}`)} ${direction}, ${seq}`;
}

const matchesText = (alias: string, q: string) =>
  sql<boolean>`${sql.ref(`${alias}.search_vector`)} @@ websearch_to_tsquery('simple', ${q})`;

/** Statement 1 of a full-text page: the matches among the newest rows of the window, sizes measured as fetched. */
function textHeadKeysQuery(
  scope: TenantScope,
  query: Omit<EventSearchQuery, "maxBytes">,
  q: string,
): Compilable<PageKey> {
  const { q: _q, ...others } = query.filter;
  const head = orderedQuery(scope, others, query.sort, query.after)
    .select(["seq", "occurred_at", "received_at", "search_vector", "before_state", "after_state", "metadata"])
    .limit(textHeadRows(query.limit));
  return compilable(sql<PageKey>`
    select w.seq, w.occurred_at, ${JSON_BYTES} as json_bytes from ${head} as w
    where ${matchesText("w", q)} order by ${pageOrder(query.sort, "w")} limit ${query.limit + 1}`);
}

/** Statement 2 of a full-text page, when the head did not decide it: the probe, then its matches or the walk. */
export function textRestKeysQuery(
  scope: TenantScope,
  query: Omit<EventSearchQuery, "maxBytes">,
  q: string,
): Compilable<PageKey> {
  const pageRows = query.limit + 1;
  const probedRow = afterPosition(
    applyEventFilter(baseEventsQuery(), scope, query.filter),
    query.sort,
    query.after,
  )
    .select(["seq", "occurred_at", "received_at"])
    .where(sql<boolean>`occurred_at = p.occurred_at and seq = p.seq`)
    // Not pulled up into a join: one primary-key lookup per probed key, never a scan of the window.
    .offset(0);
  const walk = orderedPageQuery(scope, query).select(["seq", "occurred_at", "received_at"]);
  const { q: _q, ...others } = query.filter;
  const headRows = textHeadRows(query.limit);
  const window = orderedQuery(scope, others, query.sort, query.after)
    .select(sql<number>`1`.as("one"))
    .limit(headRows);
  // The cursor narrows the probe's window when the page is in occurred_at order.
  let from = new Date(query.filter.from);
  let until: Date | null = null;
  if (query.after && SORT_COLUMN[query.sort] === "occurred_at") {
    const key = new Date(String(query.after.key));
    if (query.sort.startsWith("-")) until = key;
    else if (key > from) from = key;
  }
  const to = query.filter.to ? new Date(query.filter.to) : null;
  // Sizes are measured per key as the cursor fetches it (after the page order is decided), and the
  // window bounds let PostgreSQL prune that lookup to the window's partitions when planning.
  return compilable(sql<PageKey>`
    with small as materialized (
      select count(*) < ${headRows} as window_fits_head from ${window} as x
    ), probe as materialized (
      select p.seq, p.occurred_at
      from vigil_search_match_keys(websearch_to_tsquery('simple', ${q}), ${from}::timestamptz,
        ${to}::timestamptz, ${until}::timestamptz, ${TEXT_PROBE_MATCHES + 1}::integer) as p
      where not (select window_fits_head from small)
    ), chosen as (
      (select e.seq, e.occurred_at, e.received_at from probe as p cross join lateral ${probedRow} as e
        where not (select window_fits_head from small) and (select count(*) from probe) <= ${TEXT_PROBE_MATCHES}
        order by ${pageOrder(query.sort, "e")} limit ${pageRows})
      union all
      (select f.seq, f.occurred_at, f.received_at from ${walk} as f
        where (select window_fits_head from small) or (select count(*) from probe) > ${TEXT_PROBE_MATCHES})
    )
    select k.seq, k.occurred_at,
      (select ${JSON_BYTES} from events as j
        where j.tenant_id = ${scope.tenantId} and j.occurred_at = k.occurred_at and j.seq = k.seq
          and j.occurred_at >= ${from}::timestamptz
          and (${to}::timestamptz is null or j.occurred_at < ${to}::timestamptz)) as json_bytes
    from (select c.seq, c.occurred_at, c.received_at from chosen as c
      order by ${pageOrder(query.sort, "c")} limit ${pageRows}) as k
    order by ${pageOrder(query.sort, "k")}`);
}

/**
 * The full rows of chosen keys (with the erasure marker, spec §13); the occurred_at range lets
 * PostgreSQL skip other partitions.
 */
export function eventsBySeqQuery(scope: TenantScope, seqs: number[], from: Date, to: Date) {
  return baseEventsQuery()
    .select([...EVENT_COLUMNS, "erased"])
    .where("tenant_id", "=", scope.tenantId)
    .where("occurred_at", ">=", from)
    .where("occurred_at", "<=", to)
    .where("seq", "=", sql<number>`any(${seqs}::bigint[])`);
}

/** Keys fetched per round trip while a page is decided (small rows: a seq, a time, a size). */
const KEY_FETCH_ROWS = 128;

/**
 * Keys from a server-side cursor over `keys` until the page is decided: up to `limit`, ending
 * after the key whose JSON reaches `maxBytes` (at least one), and `more` when one key follows.
 */
async function decidePage(
  tx: TransactionSql,
  keys: Compilable<PageKey>,
  limit: number,
  maxBytes: number,
): Promise<{ page: PageKey[]; more: boolean }> {
  const compiled = keys.compile();
  await tx.unsafe(
    `declare vigil_search_keys no scroll cursor for ${compiled.sql}`,
    compiled.parameters as postgres.ParameterOrJSON<never>[],
  );
  const page: PageKey[] = [];
  let bytes = 0;
  let more = false;
  pages: for (;;) {
    const batch = (await tx.unsafe(
      `fetch forward ${KEY_FETCH_ROWS} from vigil_search_keys`,
    )) as unknown as PageKey[];
    for (const key of batch) {
      if (page.length >= limit || (page.length > 0 && bytes >= maxBytes)) {
        more = true;
        break pages;
      }
      page.push(key);
      bytes += Number(key.json_bytes);
    }
    if (batch.length < KEY_FETCH_ROWS) break;
  }
  await tx.unsafe("close vigil_search_keys");
  return { page, more };
}

/**
 * One page, in two steps. First a server-side cursor over the page's keys and sizes decides
 * which rows the page holds: up to `limit`, ending after the row whose states and metadata reach
 * `maxBytes` (at least one row), and one key more says whether the page is the last. Then only
 * those rows are loaded, by key. So `limit=1000` of events near 256 KiB loads about `maxBytes`,
 * however the sizes are mixed, and rows past the page are never read. (A full-text page whose
 * head did not decide it takes a second key statement; see textRestKeysQuery.)
 */
async function readSearchPage(
  tx: TransactionSql,
  scope: TenantScope,
  query: EventSearchQuery,
): Promise<EventPageRows> {
  const maxBytes = query.maxBytes ?? SEARCH_PAGE_MAX_BYTES;
  let { page, more } = await decidePage(tx, searchKeysQuery(scope, query), query.limit, maxBytes);
  // A full-text head that did not decide the page: the probe (or the walk) decides it instead.
  if (query.filter.q && !more)
    ({ page, more } = await decidePage(
      tx,
      textRestKeysQuery(scope, query, query.filter.q),
      query.limit,
      maxBytes,
    ));
  if (page.length === 0) return { events: [], more: false };
  const times = page.map((key) => key.occurred_at.getTime());
  const rows = (await run(
    tx,
    eventsBySeqQuery(
      scope,
      page.map((key) => key.seq),
      new Date(Math.min(...times)),
      new Date(Math.max(...times)),
    ),
  )) as unknown as EventRow[];
  const bySeq = new Map(rows.map((row) => [Number(row.seq), row]));
  // Page order; a row removed between the two steps (cleanup) is simply not there.
  const events = page.flatMap((key) => {
    const row = bySeq.get(Number(key.seq));
    return row ? [toStoredEvent(row)] : [];
  });
  return { events, more };
}

/** The default backend: PostgreSQL itself, under the tenant's RLS scope. */
export function postgresSearchBackend(db: Database): EventSearchBackend {
  return {
    name: "postgres",
    findEvents: (scope, query): Promise<EventPageRows> =>
      db.withTenant(scope.tenantId, (tx) => readSearchPage(tx, scope, query)),
  };
}

/**
 * The window a cursor pinned, re-checked as if the client had sent it: it must be the `from` the
 * client gives (when given) and within the window cap, so a cursor can never widen a query.
 */
function cursorWindowFrom(after: CursorPosition, filter: EventFilter, now: Date): string {
  const resolved = resolveTimeWindow(filter, now).from;
  if (!after.windowFrom) return resolved;
  if (filter.from && after.windowFrom !== resolved)
    throw invalidCursor("cursor was issued for a different window");
  try {
    resolveTimeWindow({ from: after.windowFrom, ...(filter.to ? { to: filter.to } : {}) }, now);
  } catch (error) {
    if (error instanceof VigilError)
      throw invalidCursor("cursor's time window is too long now; search again");
    throw error;
  }
  return after.windowFrom;
}

/**
 * Validated parameters → the backend's page request. A cursor is checked against its signature,
 * the tenant and the filter fingerprint first, and its pinned window start (re-checked against
 * the window cap) replaces the default one.
 */
export function resolveSearchQuery(
  scope: TenantScope,
  params: SearchParams,
  key: CursorKey | null,
  now: Date = new Date(),
): EventSearchQuery {
  const { cursor, limit, sort, ...filter } = params;
  let after: CursorPosition | null = null;
  let from: string;
  if (cursor) {
    if (!key) throw new Error("a cursor key is needed to read a cursor");
    after = decodeCursor(key, cursor, scope.tenantId, fingerprintOf(params));
    // The sort key must be of the sort column's kind: a seq for seq sorts, a time otherwise.
    if ((SORT_COLUMN[sort] === "seq") !== (typeof after.key === "number"))
      throw invalidCursor("cursor is not valid");
    from = cursorWindowFrom(after, filter, now);
  } else {
    from = resolveTimeWindow(filter, now).from;
  }
  return { filter: { ...filter, from }, sort, limit, maxBytes: SEARCH_PAGE_MAX_BYTES, after };
}

export interface SearchOptions {
  /** Which store answers (SEARCH_BACKEND); PostgreSQL by default. */
  backend?: EventSearchBackend;
  /** The cursor-signing key; read from the database (cursor-key.ts) when absent. */
  cursorKey?: CursorKey;
  now?: Date;
}

export async function searchEvents(
  db: Database,
  scope: TenantScope,
  params: SearchParams,
  options: SearchOptions = {},
): Promise<SearchPage> {
  const backend = options.backend ?? postgresSearchBackend(db);
  const key = options.cursorKey ?? (params.cursor ? await cursorKey(db) : null);
  const query = resolveSearchQuery(scope, params, key, options.now);
  const { events: page, more } = await backend.findEvents(scope, query);
  const last = page.at(-1);
  let next_cursor: string | null = null;
  if (more && last) {
    const column = SORT_COLUMN[params.sort];
    next_cursor = encodeCursor(key ?? (await cursorKey(db)), scope.tenantId, fingerprintOf(params), {
      key: column === "seq" ? last.seq : last[column],
      seq: last.seq,
      windowFrom: query.filter.from,
    });
  }
  return { data: page, next_cursor };
}
