// Taking removed events off the rollups (by hour and day, per user by hour and day), written once for every path that deletes events
// row by row (cleanup and retention batches, archive deletion), so the counts and the per-user
// counts always shrink together with the rows, in the statement that deletes them.
import { type RawBuilder, sql } from "kysely";
import type { TenantScope } from "../query/tenant-scope.ts";

/**
 * CTEs for a WITH list that already holds `gone`: the scope's deleted events, returning at least
 * tenant_id, occurred_at, action_type, severity, outcome, resource_type and user_id. Adds
 * `rolled`, `day_rolled`, `user_rolled` and `user_day_rolled` (one row per rollup row decremented).
 */
export function subtractGoneFromRollups(scope: TenantScope): RawBuilder<unknown> {
  return sql`
    per_bucket as (
      select date_trunc('hour', occurred_at, 'UTC') as bucket, action_type, severity, outcome, resource_type, count(*) as n
      from gone group by 1, 2, 3, 4, 5
    ), rolled as (
      update event_rollups_hourly r set event_count = r.event_count - p.n
      from per_bucket p
      where r.tenant_id = ${scope.tenantId} and r.bucket = p.bucket and r.action_type = p.action_type
        and r.severity = p.severity and r.outcome = p.outcome and r.resource_type = p.resource_type
      returning 1
    ), per_day as (
      select tenant_id, date_trunc('day', occurred_at, 'UTC') as day, action_type, severity, outcome, resource_type,
        count(*) as n
      from gone group by 1, 2, 3, 4, 5, 6
    ), day_rolled as (
      update event_rollups_daily r set event_count = r.event_count - p.n
      from per_day p
      where r.tenant_id = p.tenant_id and r.day = p.day and r.action_type = p.action_type
        and r.severity = p.severity and r.outcome = p.outcome and r.resource_type = p.resource_type
      returning 1
    ), per_user as (
      select tenant_id, date_trunc('hour', occurred_at, 'UTC') as bucket, user_id, count(*) as n
      from gone where user_id is not null group by 1, 2, 3
    ), user_rolled as (
      update event_user_rollups_hourly r set event_count = r.event_count - p.n
      from per_user p
      where r.tenant_id = p.tenant_id and r.bucket = p.bucket and r.user_id = p.user_id
      returning 1
    ), per_user_day as (
      select tenant_id, date_trunc('day', bucket, 'UTC') as day, user_id, sum(n) as n
      from per_user group by 1, 2, 3
    ), user_day_rolled as (
      update event_user_rollups_daily r set event_count = r.event_count - p.n
      from per_user_day p
      where r.tenant_id = p.tenant_id and r.day = p.day and r.user_id = p.user_id
      returning 1
    )`;
}
