// The services' connections carry statement_timeout and idle_in_transaction_session_timeout
// (DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS): a runaway statement is
// cancelled and a transaction left idle (a reader that stopped mid-transaction) is ended by
// PostgreSQL, which frees its connection. (A stalled export is a COPY, not idle: EXPORT_STALL_TIMEOUT_MS ends it.)
import { Database } from "@vigil/shared/db/database";
import { createTestPipeline, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, expect, test } from "vitest";

let pipeline: TestPipeline;
let db: Database;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  db = new Database({
    url: pipeline.database.appUrl,
    poolSize: 2,
    applicationName: "vigil-limits-test",
    statementTimeoutMs: 300,
    idleInTransactionTimeoutMs: 400,
  });
}, 60_000);
afterAll(async () => {
  await db?.close();
  await pipeline?.close();
});

test("every connection has the configured timeouts", async () => {
  const [row] = await db.sql<{ statement: string; idle: string }[]>`
    select current_setting('statement_timeout') as statement,
      current_setting('idle_in_transaction_session_timeout') as idle`;
  expect(row).toEqual({ statement: "300ms", idle: "400ms" });
});

test("a statement running past the timeout is cancelled (57014)", async () => {
  await expect(db.sql`select pg_sleep(2)`).rejects.toMatchObject({ code: "57014" });
});

test("a transaction left idle past the timeout is ended and its connection closed", async () => {
  const connection = await db.sql.reserve();
  try {
    await connection.unsafe("begin read only");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const error = await connection.unsafe("select 1").catch((caught) => caught);
    expect(error).toBeInstanceOf(Error);
  } finally {
    connection.release();
  }
  // The pool replaces the closed connection.
  const [row] = await db.sql<{ one: number }[]>`select 1 as one`;
  expect(row!.one).toBe(1);
});
