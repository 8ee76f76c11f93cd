// Deterministic events straight into PostgreSQL for the read benchmarks (queries, export): one
// INSERT … SELECT generate_series per tenant, every field a function of (tenant, g), plus the
// event_ids, hourly, daily and per-user rollups and sequence head the worker would have written. Hashes are
// placeholders; integrity is not what these benchmarks measure. Rollup rows go in in bucket order,
// as the worker writes them while time passes: a hash aggregate's order would scatter one tenant's
// recent hours over the whole heap, a layout production never has.
import type postgres from "postgres";

export const DAY_MS = 86_400_000;

/**
 * Stores `count` events of one tenant, seq 1…count, spread evenly over the `spanDays` before `now`
 * (the newest at `now`). Returns the time window that holds every one of them.
 */
export async function seedTenantEvents(
  admin: postgres.Sql,
  tenantId: string,
  count: number,
  options: { now: Date; spanDays: number },
): Promise<{ from: Date; to: Date }> {
  const { now } = options;
  const stepMs = Math.max(1, Math.floor((options.spanDays * DAY_MS) / count));
  await admin`
    insert into events (tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type, resource_id,
      user_id, session_id, ip_address, user_agent, severity, outcome, before_state, after_state, metadata, redacted, hash, chain_hash)
    select ${tenantId}::uuid, g, md5(${tenantId} || g)::uuid, ${now}::timestamptz - ((${count} - g)::float8 * ${stepMs}) * interval '1 ms',
      ${now}::timestamptz - ((${count} - g)::float8 * ${stepMs}) * interval '1 ms',
      (array['CREATE','UPDATE','DELETE','VIEW'])[1 + g % 4], (array['invoice','user','project','document'])[1 + g % 4] || '.' || lower((array['CREATE','UPDATE','DELETE','VIEW'])[1 + g % 4]),
      (array['invoice','user','project','document'])[1 + g % 4], 'res-' || (g % 997), 'user-' || (g % 53), 'sess-' || (g % 211),
      '10.0.' || (g % 250) || '.' || (g % 7), 'Mozilla/5.0 (X11; Linux x86_64) VigilBench/1.0',
      (array['INFO','INFO','INFO','WARNING','ERROR','CRITICAL'])[1 + g % 6], case when g % 17 = 0 then 'failure' else 'success' end,
      jsonb_build_object('status', 'draft', 'amount', g % 1000, 'tags', jsonb_build_array('a', 'b')),
      jsonb_build_object('status', 'approved', 'amount', g % 1000 + 1, 'approver', jsonb_build_object('id', 'user-' || (g % 7), 'level', 2)),
      jsonb_build_object('request', jsonb_build_object('path', '/invoices/approve', 'method', 'POST'), 'region', 'eu-west-1', 'index', g),
      '{}', md5(g::text) || md5(g::text), md5(g::text) || md5(g::text)
    from generate_series(1, ${count}) as g`;
  await admin`
    insert into event_ids (tenant_id, id, seq, occurred_at, payload_hash)
    select tenant_id, id, seq, occurred_at, hash from events where tenant_id = ${tenantId}`;
  await admin`
    insert into event_rollups_hourly (tenant_id, bucket, action_type, severity, outcome, resource_type, event_count)
    select tenant_id, date_trunc('hour', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
    from events where tenant_id = ${tenantId} group by 1, 2, 3, 4, 5, 6 order by 2`;
  await admin`
    insert into event_rollups_daily (tenant_id, day, action_type, severity, outcome, resource_type, event_count)
    select tenant_id, date_trunc('day', bucket, 'UTC'), action_type, severity, outcome, resource_type, sum(event_count)
    from event_rollups_hourly where tenant_id = ${tenantId} group by 1, 2, 3, 4, 5, 6 order by 2`;
  await admin`
    insert into event_user_rollups_hourly (tenant_id, bucket, user_id, event_count)
    select tenant_id, date_trunc('hour', occurred_at, 'UTC'), user_id, count(*)
    from events where tenant_id = ${tenantId} and user_id is not null group by 1, 2, 3 order by 2`;
  await admin`
    insert into event_user_rollups_daily (tenant_id, day, user_id, event_count)
    select tenant_id, date_trunc('day', bucket, 'UTC'), user_id, sum(event_count)
    from event_user_rollups_hourly where tenant_id = ${tenantId} group by 1, 2, 3 order by 2`;
  // The read benchmarks analyze the tables they seed; these are analyzed here so plans see their rows.
  await admin`analyze event_rollups_daily, event_user_rollups_hourly, event_user_rollups_daily`;
  await admin`update tenant_sequences set last_seq = ${count} where tenant_id = ${tenantId}`;
  return { from: new Date(now.getTime() - (count - 1) * stepMs), to: now };
}
