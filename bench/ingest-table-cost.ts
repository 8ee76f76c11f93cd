// What each part of the `events` table costs PostgreSQL per stored event: the same rows (as the
// worker stores them) inserted with multi-row INSERTs of 1,000, PostgreSQL's CPU per 1,000 rows,
// first with the full table, then after dropping the full-text GIN index, the generated tsvector
// column, and the other secondary indexes in turn; and the worker's own extra tables (event_ids,
// hourly rollups, hourly and daily rollups). A throwaway embedded stack, stopped at the end:
// `npx tsx bench/ingest-table-cost.ts [rows per step, default 20000]`.
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { startBenchStack } from "./bench-stack.ts";
import { processTreeCpuSeconds } from "./measure.ts";
import { buildStoredRows, type EventRow, insertRows } from "./stored-rows.ts";

const rowsPerStep = Number(process.argv[2] ?? 20_000);
const log = (line: string) => process.stdout.write(`${line}\n`);
const stack = await startBenchStack(() => {});
try {
  const sql = postgres(stack.adminUrl, { max: 1, onnotice: () => {} });
  const pgPid = stack.pgPid!;
  await sql`select vigil_ensure_event_partitions(now() - interval '1 day', now() + interval '1 day')`;
  let seq = 0;
  const tenant = randomUUID();
  const measure = async (label: string, write: (rows: EventRow[]) => Promise<void>) => {
    const rows = await buildStoredRows(tenant, seq + 1, rowsPerStep, seq);
    seq += rowsPerStep;
    const cpuBefore = processTreeCpuSeconds(pgPid);
    const started = performance.now();
    for (let start = 0; start < rows.length; start += 1000) await write(rows.slice(start, start + 1000));
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = ((processTreeCpuSeconds(pgPid) - cpuBefore) * 1000) / (rowsPerStep / 1000);
    log(
      `${label.padEnd(58)} ${cpuMs.toFixed(1).padStart(6)} PG CPU ms per 1,000 rows, ${Math.round(rowsPerStep / seconds)} rows/s`,
    );
    return cpuMs;
  };
  const events = (rows: EventRow[]) => insertRows(sql, rows);
  await measure("warm-up (full table)", events);
  const full = await measure("events, full table (as stored today)", events);
  await measure("+ event_ids row per event (worker's dedupe table)", async (rows) => {
    await insertRows(sql, rows);
    await sql`insert into event_ids (tenant_id, id, seq, occurred_at, payload_hash)
      select tenant_id, id, seq, occurred_at, ${"c".repeat(64)} from json_to_recordset(${JSON.stringify(rows)}::text::json)
      as x(tenant_id uuid, id uuid, seq bigint, occurred_at timestamptz)`;
  });
  await measure("+ hourly rollups upsert (grouped per batch)", async (rows) => {
    await insertRows(sql, rows);
    await sql`insert into event_rollups_hourly (tenant_id, bucket, action_type, severity, outcome, resource_type, event_count)
      select tenant_id, date_trunc('hour', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
      from json_to_recordset(${JSON.stringify(rows)}::text::json)
        as x(tenant_id uuid, occurred_at timestamptz, action_type text, severity text, outcome text, resource_type text)
      group by 1, 2, 3, 4, 5, 6
      on conflict (tenant_id, bucket, action_type, severity, outcome, resource_type)
      do update set event_count = event_rollups_hourly.event_count + excluded.event_count`;
  });
  await measure("+ hourly and daily rollups upserts (one statement)", async (rows) => {
    await insertRows(sql, rows);
    await sql`with batch as materialized (
        select * from json_to_recordset(${JSON.stringify(rows)}::text::json)
          as x(tenant_id uuid, occurred_at timestamptz, action_type text, severity text, outcome text, resource_type text)
      ), hours as (
        insert into event_rollups_hourly (tenant_id, bucket, action_type, severity, outcome, resource_type, event_count)
        select tenant_id, date_trunc('hour', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
        from batch group by 1, 2, 3, 4, 5, 6
        on conflict (tenant_id, bucket, action_type, severity, outcome, resource_type)
        do update set event_count = event_rollups_hourly.event_count + excluded.event_count)
      insert into event_rollups_daily (tenant_id, day, action_type, severity, outcome, resource_type, event_count)
      select tenant_id, date_trunc('day', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
      from batch group by 1, 2, 3, 4, 5, 6
      on conflict (tenant_id, day, action_type, severity, outcome, resource_type)
      do update set event_count = event_rollups_daily.event_count + excluded.event_count`;
  });
  await sql`drop index events_search`;
  const noGin = await measure("events without the GIN index on search_vector", events);
  await sql`alter table events drop column search_vector`;
  const noVector = await measure("… and without the generated search_vector column", events);
  for (const index of [
    "events_tenant_session",
    "events_tenant_action",
    "events_tenant_resource",
    "events_tenant_user",
    "events_tenant_received",
    "events_tenant_seq",
  ])
    await sql.unsafe(`drop index ${index}`);
  const bare = await measure("… and without the 6 secondary b-tree indexes (PK only)", events);
  log(
    `GIN index ${(full - noGin).toFixed(1)}, tsvector computation ${(noGin - noVector).toFixed(1)}, secondary b-trees ${(noVector - bare).toFixed(1)}, heap + PK + parse ${bare.toFixed(1)} PG CPU ms per 1,000 rows`,
  );
  await sql.end();
} finally {
  await stack.stop();
}
