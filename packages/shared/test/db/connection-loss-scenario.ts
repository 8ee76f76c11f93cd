// Run by connection-loss.test.ts in its own process, because what it guards against is a crash:
// postgres.js used to throw from a setImmediate callback (a write to the socket its close handler
// had already nulled) when a backend died mid-transaction, which no caller can catch.
//
// Usage: node --import <tsx> connection-loss-scenario.ts <appUrl> <adminUrl>
// Prints one JSON line with what each case observed; exits 0 unless the process itself failed.
import { Database, type Queryable } from "@vigil/shared/db/database";
import postgres from "postgres";

const [appUrl, adminUrl] = process.argv.slice(2);
if (!appUrl || !adminUrl) throw new Error("usage: connection-loss-scenario.ts <appUrl> <adminUrl>");

const TENANT = "0190a0a0-0000-7000-8000-0000000000c3";
// One connection: the query after each kill must get a working connection back, not a spare one.
const db = new Database({ url: appUrl, poolSize: 1 });
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });

interface Outcome {
  /** Error code the interrupted work rejected with; null if it resolved (it must not). */
  rejectedWith: string | null;
  /** Error code of a further statement on the same transaction/reserved connection, if tried. */
  laterStatement?: string | null;
  /** The pool answered a query afterwards. */
  poolRecovered: boolean;
}

/** Starts `pg_sleep(2)` on `sql`'s backend and terminates that backend while it sleeps. */
async function sleepAndGetKilled(sql: Queryable): Promise<void> {
  const { pid } = (await sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!;
  const sleeping = sql`select pg_sleep(2)`.execute();
  // It may reject while the kill below is still in flight: observed here so that is not an
  // unhandled rejection (which would end this process); `await sleeping` still rejects.
  sleeping.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await admin`select pg_terminate_backend(${pid})`;
  await sleeping;
}

const codeOf = (error: unknown) => String((error as { code?: string }).code ?? error);

async function poolRecovered(): Promise<boolean> {
  return (await db.sql<{ one: number }[]>`select 1 as one`)[0]!.one === 1;
}

async function transactionCase(
  begin: (fn: (tx: Queryable) => Promise<void>) => Promise<void>,
): Promise<Outcome> {
  const rejectedWith = await begin(sleepAndGetKilled).then(
    () => null,
    (error: unknown) => codeOf(error),
  );
  return { rejectedWith, poolRecovered: await poolRecovered() };
}

async function reservedCase(): Promise<Outcome> {
  const reserved = await db.sql.reserve();
  try {
    const rejectedWith = await sleepAndGetKilled(reserved).then(
      () => null,
      (error: unknown) => codeOf(error),
    );
    const laterStatement = await reserved`select 1`.then(
      () => null,
      (error: unknown) => codeOf(error),
    );
    return { rejectedWith, laterStatement, poolRecovered: false };
  } finally {
    reserved.release();
  }
}

const outcomes = {
  withTenant: await transactionCase((fn) => db.withTenant(TENANT, fn)),
  begin: await transactionCase((fn) => db.sql.begin(fn) as Promise<void>),
  reserved: await reservedCase(),
};
outcomes.reserved.poolRecovered = await poolRecovered();
// A crash would come from a setImmediate callback: give any such callback the chance to run.
await new Promise((resolve) => setTimeout(resolve, 300));
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
await db.close();
await admin.end();
