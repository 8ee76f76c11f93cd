// The read indexes of migration 20261207T1012 are declared on the partitioned parent, so every
// partition has them, including one created after the migration (the next months' partitions).
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;

beforeAll(async () => {
  pipeline = await createTestPipeline();
}, 60_000);
afterAll(async () => pipeline?.close());

/** Each events partition → the key columns of its indexes, as "col, col, …". */
async function partitionIndexes(): Promise<Map<string, string[]>> {
  const rows = await pipeline.database.admin<{ partition: string; columns: string }[]>`
    select c.relname as partition,
      (select string_agg(a.attname, ', ' order by k.ord) from unnest(x.indkey) with ordinality k(attnum, ord)
        join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum) as columns
    from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_index x on x.indrelid = c.oid
    where i.inhparent = 'events'::regclass`;
  const byPartition = new Map<string, string[]>();
  for (const row of rows)
    byPartition.set(row.partition, [...(byPartition.get(row.partition) ?? []), row.columns]);
  return byPartition;
}

test("every events partition, old and new, has the user-kind and resource-seq indexes", async () => {
  await pipeline.database
    .admin`select vigil_ensure_event_partitions(now() + interval '5 months', now() + interval '6 months')`;
  const partitions = await partitionIndexes();
  expect(partitions.size).toBeGreaterThan(12);
  for (const [partition, indexes] of partitions) {
    expect(indexes, partition).toContain("tenant_id, user_id, action_type, severity, occurred_at");
    expect(indexes, partition).toContain("tenant_id, resource_type, resource_id, seq");
  }
  const [partial] = await pipeline.database.admin<{ predicate: string }[]>`
    select pg_get_expr(x.indpred, x.indrelid) as predicate from pg_index x
    where x.indexrelid = 'events_tenant_user_kind'::regclass`;
  expect(partial?.predicate).toBe("(user_id IS NOT NULL)");
});
