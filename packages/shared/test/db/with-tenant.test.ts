// Database.withTenant against the real PostgreSQL: the tenant setting is pipelined with the
// caller's first statement, so these check what that must not change — the scope holds for every
// statement, ends with the transaction, and an error rolls back and leaves the pool usable.
import { Database, queryBuilder, run } from "@vigil/shared/db/database";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const A = "0190a0a0-0000-7000-8000-0000000000a1";
const B = "0190a0a0-0000-7000-8000-0000000000b2";

let pipeline: TestPipeline;
/** One connection, so every call below reuses the connection the previous one used. */
let db: Database;

const tenantSetting = (sql: Parameters<Parameters<Database["withTenant"]>[1]>[0]) =>
  sql<{ tenant: string | null }[]>`select current_setting('vigil.tenant_id', true) as tenant`.then(
    (rows) => rows[0]!.tenant,
  );

const rollupTenants = queryBuilder.selectFrom("event_rollups_hourly").select("tenant_id");

beforeAll(async () => {
  pipeline = await createTestPipeline();
  db = new Database({ url: pipeline.database.appUrl, poolSize: 1 });
  for (const tenantId of [A, B]) {
    await pipeline.database.admin`
      insert into event_rollups_hourly values (${tenantId}, '2026-01-01T00:00:00Z', 'VIEW', 'INFO', 'success', 'doc', 1)`;
  }
}, 60_000);
afterAll(async () => {
  await db?.close();
  await pipeline?.close();
});

describe("withTenant", () => {
  test("every statement of the callback runs in the tenant's scope, and the scope ends with it", async () => {
    const seen = await db.withTenant(A, async (tx) => ({
      first: await run(tx, rollupTenants),
      setting: await tenantSetting(tx),
      second: await run(tx, rollupTenants),
    }));
    expect(seen.first.map((row) => row.tenant_id)).toEqual([A]);
    expect(seen.setting).toBe(A);
    expect(seen.second.map((row) => row.tenant_id)).toEqual([A]);

    // Same connection, next use: nothing carried over.
    const after = await db.withoutTenant(async (tx) => ({
      setting: await tenantSetting(tx),
      rows: await run(tx, rollupTenants),
    }));
    expect(after.setting ?? "").toBe("");
    expect(after.rows).toEqual([]);
    expect((await db.withTenant(B, (tx) => run(tx, rollupTenants))).map((row) => row.tenant_id)).toEqual([B]);
  });

  test("a statement the callback does not await still runs after the tenant is set", async () => {
    const rows = await db.withTenant(
      A,
      (tx) => tx<{ tenant_id: string }[]>`select tenant_id from event_rollups_hourly`,
    );
    expect(rows.map((row) => row.tenant_id)).toEqual([A]);
  });

  test("an error rolls the transaction back, is the error thrown, and frees the connection", async () => {
    const failing = db.withTenant(A, async (tx) => {
      await tx`insert into event_rollups_hourly values (${A}, '2026-01-01T01:00:00Z', 'VIEW', 'INFO', 'success', 'doc', 1)`;
      await tx`select 1 / 0`;
    });
    await expect(failing).rejects.toMatchObject({ code: "22012" });
    const written = await pipeline.database.admin<{ n: number }[]>`
      select count(*)::int as n from event_rollups_hourly where tenant_id = ${A}`;
    expect(written[0]!.n).toBe(1);

    // A write for another tenant is refused by the policy, and the single connection still serves.
    await expect(
      db.withTenant(
        A,
        (tx) =>
          tx`insert into event_rollups_hourly values (${B}, now(), 'VIEW', 'INFO', 'success', 'doc', 1)`,
      ),
    ).rejects.toThrow(/row-level security/);
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(db.withTenant(B, () => Promise.reject(new Error("callback failed")))).rejects.toThrow(
        "callback failed",
      );
    }
    expect(await db.withTenant(B, (tx) => tenantSetting(tx))).toBe(B);
  });

  test("every rollup table holds its rows to the scoped tenant, for reads and writes", async () => {
    const rollups = {
      event_rollups_daily: (tenant: string) =>
        `('${tenant}', '2026-01-01T00:00:00Z', 'VIEW', 'INFO', 'success', 'doc', 1)`,
      event_user_rollups_hourly: (tenant: string) => `('${tenant}', '2026-01-01T00:00:00Z', 'user-1', 1)`,
      event_user_rollups_daily: (tenant: string) => `('${tenant}', '2026-01-01T00:00:00Z', 'user-1', 1)`,
    } as const;
    for (const [table, row] of Object.entries(rollups)) {
      await pipeline.database.admin.unsafe(`insert into ${table} values ${row(A)}, ${row(B)}`);
      const seen = await db.withTenant(A, (tx) =>
        tx.unsafe<{ tenant_id: string }[]>(`select tenant_id from ${table}`),
      );
      expect(
        seen.map((seenRow) => seenRow.tenant_id),
        table,
      ).toEqual([A]);
      expect(await db.withoutTenant((tx) => tx.unsafe(`select tenant_id from ${table}`)), table).toEqual([]);
      await expect(
        db.withTenant(A, (tx) =>
          tx.unsafe(`insert into ${table} values ${row(B).replace("2026-01-01", "2026-01-02")}`),
        ),
        table,
      ).rejects.toThrow(/row-level security/);
    }
  });
});
