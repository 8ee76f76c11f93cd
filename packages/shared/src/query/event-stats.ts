// Stats for a time window, answered from the daily and hourly rollups the worker maintains in the
// same transaction as the events, so the cost grows with the number of days, not of events. Windows
// need not be aligned: whole days come from the daily rollups (bucket=day), whole hours from the
// hourly ones, the partial hours at the two edges from the events table, each as the shorter part
// of its hour (its own events, or the hour's rollup row minus the rest: see edgeReads), so the
// numbers are exact and a window ending now reads at most half an hour of events.
// Top users reads per-user rollups the same way, one level finer (whole days, then whole hours,
// then raw edge hours), over at most the last TOP_USERS_MAX_DAYS of the window: its cost grows
// with the users of the window, not its events.
// The two queries are independent, so they run at the same time on two pooled connections.
import { type RawBuilder, sql } from "kysely";
import { z } from "zod";
import { type Database, queryBuilder, run } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { ACTION_TYPES, OUTCOMES, SEVERITIES } from "../events/event-schema.ts";
import { queryTime } from "./search-params.ts";
import type { TenantScope } from "./tenant-scope.ts";
import { resolveTimeWindow } from "./time-window.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const STATS_BUCKETS = ["hour", "day"] as const;
export type StatsBucket = (typeof STATS_BUCKETS)[number];

/** Hourly series are capped so one response stays small; longer windows use bucket=day. */
export const MAX_HOUR_BUCKET_DAYS = 31;
export const TOP_USERS_MAX_DAYS = 31;
export const TOP_LIMIT = 10;

export const statsParamsSchema = z
  .strictObject({
    from: queryTime.optional(),
    to: queryTime.optional(),
    bucket: z.enum(STATS_BUCKETS, `must be one of ${STATS_BUCKETS.join(", ")}`).default("day"),
  })
  .refine((value) => !value.from || !value.to || Date.parse(value.from) <= Date.parse(value.to), {
    message: "must not be after `to`",
    path: ["from"],
  });

export type StatsParams = z.infer<typeof statsParamsSchema>;

export interface EventStats {
  from: string;
  to: string;
  bucket: StatsBucket;
  total: number;
  by_action_type: Record<string, number>;
  by_severity: Record<string, number>;
  by_outcome: Record<string, number>;
  top_resource_types: Array<{ resource_type: string; count: number }>;
  top_users: Array<{ user_id: string; count: number }>;
  /** Start of the window top_users was counted over (later than `from` for windows over 31 days). */
  top_users_from: string;
  timeseries: Array<{ bucket: string; count: number }>;
}

export interface StatsWindow {
  from: Date;
  to: Date;
  /** Whole hours inside [from, to): counted from the rollups. */
  hoursFrom: Date;
  hoursTo: Date;
  bucket: StatsBucket;
  /** The window ends at (or after) the time it was asked: the rest of its last hour is the future. */
  endsNow: boolean;
}

export function resolveStatsWindow(params: StatsParams, now: Date = new Date()): StatsWindow {
  const window = resolveTimeWindow(params, now);
  const from = new Date(window.from);
  const to = window.to ? new Date(window.to) : now;
  if (params.bucket === "hour" && to.getTime() - from.getTime() > MAX_HOUR_BUCKET_DAYS * DAY_MS) {
    throw new VigilError(
      "INVALID_PARAMETER",
      `bucket=hour covers at most ${MAX_HOUR_BUCKET_DAYS} days; use bucket=day or a shorter window`,
      [{ path: "bucket", message: `hour buckets allow a window of at most ${MAX_HOUR_BUCKET_DAYS} days` }],
    );
  }
  return { from, to, ...wholeHours(from, to), bucket: params.bucket, endsNow: to.getTime() >= now.getTime() };
}

/**
 * The whole UTC hours inside [from, to), read from a rollup; the rest of the window (its partial
 * edge hours) is read from the events table. A window with no whole hour inside is all edge.
 */
export function wholeHours(from: Date, to: Date): { hoursFrom: Date; hoursTo: Date } {
  const hoursFrom = new Date(Math.ceil(from.getTime() / HOUR_MS) * HOUR_MS);
  const hoursTo = new Date(Math.floor(to.getTime() / HOUR_MS) * HOUR_MS);
  if (hoursFrom.getTime() >= hoursTo.getTime()) return { hoursFrom: from, hoursTo: from };
  return { hoursFrom, hoursTo };
}

/**
 * How the partial hours at the window's two edges are read. Each edge, [start, end) inside a UTC
 * hour, is read one of two ways that give the same counts: its own events, or the hour's rollup
 * row minus the events of the rest of the hour. The rollups are exact (the worker, cleanup, archive
 * and erasure change them in the same statement as the events), so the cheaper read is taken: the
 * shorter part of the hour, or the rest when it lies in the future (a window ending now). A window
 * ending now thus reads ~no events at its end and at most half an hour of them at its start,
 * whatever the tenant's rate. Null when both edges read their own events (the plain statement).
 */
export interface EdgeReads {
  /** Ranges whose events count +1 (edges read directly). */
  direct: Array<[Date, Date]>;
  /** Ranges whose events count -1 (the rest of an edge's hour). */
  rest: Array<[Date, Date]>;
  /** Hours whose rollup row counts whole (edges read as rollup minus rest). */
  hours: Date[];
}

export function edgeReads(
  window: Pick<StatsWindow, "from" | "to" | "hoursFrom" | "hoursTo" | "endsNow">,
): EdgeReads | null {
  const { from, to, hoursFrom, hoursTo } = window;
  if (hoursFrom.getTime() >= hoursTo.getTime()) return null;
  const reads: EdgeReads = { direct: [], rest: [], hours: [] };
  if (from.getTime() < hoursFrom.getTime()) {
    const hour = new Date(hoursFrom.getTime() - HOUR_MS);
    if (from.getTime() - hour.getTime() < hoursFrom.getTime() - from.getTime()) {
      reads.hours.push(hour);
      reads.rest.push([hour, from]);
    } else reads.direct.push([from, hoursFrom]);
  }
  if (hoursTo.getTime() < to.getTime()) {
    const hourEnd = new Date(hoursTo.getTime() + HOUR_MS);
    if (window.endsNow || hourEnd.getTime() - to.getTime() < to.getTime() - hoursTo.getTime()) {
      reads.hours.push(hoursTo);
      reads.rest.push([to, hourEnd]);
    } else reads.direct.push([hoursTo, to]);
  }
  return reads.hours.length > 0 ? reads : null;
}

/**
 * The rows of the edge hours: the plain statement (both edges' own events), or the rollup rows of
 * the hours read as rollup minus rest, the rest's events counted -1, and any edge read directly +1.
 */
function edgeRows(
  reads: EdgeReads | null,
  parts: {
    plain: RawBuilder<unknown>;
    rollup: (hours: Date[]) => RawBuilder<unknown>;
    events: (ranges: Array<[Date, Date]>, n: 1 | -1) => RawBuilder<unknown>;
  },
): RawBuilder<unknown> {
  if (!reads) return parts.plain;
  const rows = [parts.rollup(reads.hours), parts.events(reads.rest, -1)];
  if (reads.direct.length > 0) rows.push(parts.events(reads.direct, 1));
  return sql.join(
    rows,
    sql`
      union all`,
  );
}

/** `column` within any of the ranges [start, end). */
function inRanges(column: RawBuilder<unknown>, ranges: Array<[Date, Date]>): RawBuilder<boolean> {
  return sql<boolean>`(${sql.join(
    ranges.map(([start, end]) => sql`(${column} >= ${start} and ${column} < ${end})`),
    sql` or `,
  )})`;
}

interface Compiled<Row> {
  compile: () => ReturnType<RawBuilder<Row>["compile"]>;
}

function compilable<Row>(raw: RawBuilder<Row>): Compiled<Row> {
  return { compile: () => raw.compile(queryBuilder) };
}

interface StatsRow {
  dimension: "action_type" | "severity" | "outcome" | "resource_type" | "bucket";
  value: string;
  count: number;
}

/**
 * The rows the stats are summed from, one per (time, action type, severity, outcome, resource type)
 * with a count. bucket=day: daily rollup rows for the whole UTC days, hourly rows for the whole hours
 * of the two edge days, raw rows for the two partial edge hours (~days + 46 hours of rollup rows,
 * whatever the window's hours). bucket=hour needs hourly resolution for its series (and covers at
 * most MAX_HOUR_BUCKET_DAYS): hourly rows for the whole hours, raw rows for the edges.
 */
function statsCounts(scope: TenantScope, window: StatsWindow): RawBuilder<unknown> {
  const edges = edgeRows(edgeReads(window), {
    plain: sql`
      select occurred_at as at, action_type, severity, outcome, resource_type, 1 as n
      from events
      where tenant_id = ${scope.tenantId}
        and ((occurred_at >= ${window.from} and occurred_at < ${window.hoursFrom})
          or (occurred_at >= ${window.hoursTo} and occurred_at < ${window.to}))`,
    rollup: (hours) => sql`
      select bucket as at, action_type, severity, outcome, resource_type, event_count as n
      from event_rollups_hourly
      where tenant_id = ${scope.tenantId} and bucket in (${sql.join(hours)})`,
    events: (ranges, n) => sql`
      select occurred_at as at, action_type, severity, outcome, resource_type, ${sql.lit(n)} as n
      from events
      where tenant_id = ${scope.tenantId} and ${inRanges(sql.ref("occurred_at"), ranges)}`,
  });
  if (window.bucket === "hour") {
    return sql`
      select bucket as at, action_type, severity, outcome, resource_type, event_count as n
      from event_rollups_hourly
      where tenant_id = ${scope.tenantId} and bucket >= ${window.hoursFrom} and bucket < ${window.hoursTo}
      union all${edges}`;
  }
  const { daysFrom, daysTo } = wholeDays(window.hoursFrom, window.hoursTo);
  return sql`
      select day as at, action_type, severity, outcome, resource_type, event_count as n
      from event_rollups_daily
      where tenant_id = ${scope.tenantId} and day >= ${daysFrom} and day < ${daysTo}
      union all
      select bucket as at, action_type, severity, outcome, resource_type, event_count as n
      from event_rollups_hourly
      where tenant_id = ${scope.tenantId}
        and ((bucket >= ${window.hoursFrom} and bucket < ${daysFrom}) or (bucket >= ${daysTo} and bucket < ${window.hoursTo}))
      union all${edges}`;
}

/**
 * One query: the rows of statsCounts folded to one row per (time bucket, action type, severity,
 * outcome, resource type) first, then summed per dimension with GROUPING SETS over those few
 * hundred rows, of which only the TOP_LIMIT resource types leave the database (one small result,
 * whatever the number of events or resource types). Buckets start at UTC midnights (or whole
 * hours): date_bin from a UTC-midnight origin gives the same starts as date_trunc(…, 'UTC'),
 * without a time-zone conversion per row. Combinations whose count reached zero (rollup rows
 * emptied by a cleanup, not yet pruned) only add zeroes.
 */
export function statsQuery(scope: TenantScope, window: StatsWindow): Compiled<StatsRow> {
  const stride = window.bucket === "hour" ? sql.lit("1 hour") : sql.lit("1 day");
  return compilable(sql<StatsRow>`
    with counts as (${statsCounts(scope, window)}
    ), per_bucket as (
      select date_bin(${stride}::interval, at, timestamptz '2000-01-01T00:00:00Z') as bucket,
        action_type, severity, outcome, resource_type, sum(n) as n
      from counts
      group by 1, 2, 3, 4, 5
    ), grouped as (
      select
        case
          when grouping(action_type) = 0 then 'action_type'
          when grouping(severity) = 0 then 'severity'
          when grouping(outcome) = 0 then 'outcome'
          when grouping(resource_type) = 0 then 'resource_type'
          else 'bucket'
        end as dimension,
        coalesce(action_type, severity, outcome, resource_type,
          to_char(bucket at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.000"Z"')) as value,
        sum(n)::bigint as count
      from per_bucket
      group by grouping sets ((action_type), (severity), (outcome), (resource_type), (bucket))
    ), ranked as (
      select dimension, value, count,
        row_number() over (partition by dimension order by count desc, value) as rank
      from grouped
    )
    -- Resource types are client-chosen and unbounded: only the top ones leave the database.
    select dimension, value, count from ranked
    where dimension <> 'resource_type' or rank <= ${sql.lit(TOP_LIMIT)}`);
}

interface TopUserRow {
  user_id: string;
  count: number;
}

/**
 * The whole UTC days inside the whole hours [hoursFrom, hoursTo), read from the daily user rollup;
 * the hours around them from the hourly one. No whole day inside: every hour is read hourly.
 */
export function wholeDays(hoursFrom: Date, hoursTo: Date): { daysFrom: Date; daysTo: Date } {
  const daysFrom = new Date(Math.ceil(hoursFrom.getTime() / DAY_MS) * DAY_MS);
  const daysTo = new Date(Math.floor(hoursTo.getTime() / DAY_MS) * DAY_MS);
  if (daysFrom.getTime() >= daysTo.getTime()) return { daysFrom: hoursFrom, daysTo: hoursFrom };
  return { daysFrom, daysTo };
}

/**
 * The TOP_LIMIT users with the most events in [from, to): per-user daily rollup rows for the whole
 * days, hourly rows for the whole hours around them, raw rows for the partial edge hours, summed
 * per user (at most ~(days + 46 hours) x users rows plus two hours of events, whatever the number
 * of events). Users whose count reached zero (rollup rows emptied by a cleanup, not yet pruned)
 * are left out, as a GROUP BY over the events would. Events without a user_id are in no source.
 */
export function topUsersQuery(
  scope: TenantScope,
  from: Date,
  to: Date,
  endsNow = false,
): Compiled<TopUserRow> {
  const { hoursFrom, hoursTo } = wholeHours(from, to);
  const { daysFrom, daysTo } = wholeDays(hoursFrom, hoursTo);
  const edges = edgeRows(edgeReads({ from, to, hoursFrom, hoursTo, endsNow }), {
    plain: sql`
      select user_id, 1 as n
      from events
      where tenant_id = ${scope.tenantId} and user_id is not null
        and ((occurred_at >= ${from} and occurred_at < ${hoursFrom})
          or (occurred_at >= ${hoursTo} and occurred_at < ${to}))`,
    rollup: (hours) => sql`
      select user_id, event_count as n
      from event_user_rollups_hourly
      where tenant_id = ${scope.tenantId} and bucket in (${sql.join(hours)})`,
    events: (ranges, n) => sql`
      select user_id, ${sql.lit(n)} as n
      from events
      where tenant_id = ${scope.tenantId} and user_id is not null and ${inRanges(sql.ref("occurred_at"), ranges)}`,
  });
  return compilable(sql<TopUserRow>`
    with counts as (
      select user_id, event_count as n
      from event_user_rollups_daily
      where tenant_id = ${scope.tenantId} and day >= ${daysFrom} and day < ${daysTo}
      union all
      select user_id, event_count as n
      from event_user_rollups_hourly
      where tenant_id = ${scope.tenantId}
        and ((bucket >= ${hoursFrom} and bucket < ${daysFrom}) or (bucket >= ${daysTo} and bucket < ${hoursTo}))
      union all${edges}
    )
    select user_id, sum(n)::bigint as count
    from counts
    group by user_id
    having sum(n) > 0
    order by count desc, user_id
    limit ${sql.lit(TOP_LIMIT)}`);
}

function bucketStarts(window: StatsWindow): string[] {
  const step = window.bucket === "hour" ? HOUR_MS : DAY_MS;
  const first = Math.floor(window.from.getTime() / step) * step;
  const starts: string[] = [];
  for (let at = first; at < window.to.getTime(); at += step) starts.push(new Date(at).toISOString());
  return starts;
}

function zeroes(keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(keys.map((key) => [key, 0]));
}

export async function eventStats(
  db: Database,
  scope: TenantScope,
  params: StatsParams,
  now: Date = new Date(),
): Promise<EventStats> {
  const window = resolveStatsWindow(params, now);
  const topUsersFrom = new Date(
    Math.max(window.from.getTime(), window.to.getTime() - TOP_USERS_MAX_DAYS * DAY_MS),
  );
  const [rows, users] = await Promise.all([
    db.withTenant(scope.tenantId, (tx) => run(tx, statsQuery(scope, window))),
    db.withTenant(scope.tenantId, (tx) =>
      run(tx, topUsersQuery(scope, topUsersFrom, window.to, window.endsNow)),
    ),
  ]);
  const stats: EventStats = {
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    bucket: window.bucket,
    total: 0,
    by_action_type: zeroes(ACTION_TYPES),
    by_severity: zeroes(SEVERITIES),
    by_outcome: zeroes(OUTCOMES),
    top_resource_types: [],
    top_users: users.map((user) => ({ user_id: user.user_id, count: Number(user.count) })),
    top_users_from: topUsersFrom.toISOString(),
    timeseries: [],
  };
  const series = new Map(bucketStarts(window).map((bucket) => [bucket, 0]));
  const resourceTypes: Array<{ resource_type: string; count: number }> = [];
  for (const row of rows as StatsRow[]) {
    const count = Number(row.count);
    if (row.dimension === "action_type") {
      stats.by_action_type[row.value] = count;
      stats.total += count;
    } else if (row.dimension === "severity") stats.by_severity[row.value] = count;
    else if (row.dimension === "outcome") stats.by_outcome[row.value] = count;
    else if (row.dimension === "resource_type") resourceTypes.push({ resource_type: row.value, count });
    else series.set(row.value, (series.get(row.value) ?? 0) + count);
  }
  resourceTypes.sort((a, b) => b.count - a.count || a.resource_type.localeCompare(b.resource_type));
  stats.top_resource_types = resourceTypes;
  stats.timeseries = [...series]
    .map(([bucket, count]) => ({ bucket, count }))
    .sort((a, b) => a.bucket.localeCompare(b.bucket));
  return stats;
}
