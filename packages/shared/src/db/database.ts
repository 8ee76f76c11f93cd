// The one owner of the PostgreSQL connection pool. Queries run through postgres.js; Kysely is used
// as a typed query builder whose compiled SQL is executed here, so every query-module function can
// be tested on its SQL and parameters as well as on real rows.
//
// Tenant scope: `withTenant` opens a transaction and sets `vigil.tenant_id` with SET LOCAL
// semantics (set_config(..., true)). Row-level security policies read it, so a query that forgets
// its WHERE clause still sees only that tenant, and a pooled connection carries nothing over.
import {
  type Compilable,
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
} from "kysely";
import postgres from "postgres";
import type { DatabaseSchema } from "./schema.ts";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;
/** Anything that can run a query: the pool or an open transaction. */
export type Queryable = Sql | TransactionSql;

/** Builds SQL only; execution goes through postgres.js (see `run`). */
export const queryBuilder = new Kysely<DatabaseSchema>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** A raw `sql` template as a query `run`/`runCursor` take (compiled by the builder above). */
export function compilable<Row>(raw: RawBuilder<Row>): Compilable<Row> {
  return { compile: () => raw.compile(queryBuilder) };
}

export interface DatabaseOptions {
  url: string;
  poolSize?: number;
  applicationName?: string;
  /** `statement_timeout` of every connection in ms (0 or absent: PostgreSQL's default, none). */
  statementTimeoutMs?: number;
  /** `idle_in_transaction_session_timeout` in ms: a transaction left idle is ended and its connection closed. */
  idleInTransactionTimeoutMs?: number;
  /** Called on every notice/connection error; keeps logging out of this module. */
  onNotice?: (notice: unknown) => void;
}

export function createSql(options: DatabaseOptions): Sql {
  return postgres(options.url, {
    max: options.poolSize ?? 10,
    idle_timeout: 30,
    connect_timeout: 5,
    max_lifetime: 60 * 30,
    connection: {
      application_name: options.applicationName ?? "vigil",
      // Startup parameters: bound every statement and every idle transaction of the services.
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      ...(options.idleInTransactionTimeoutMs
        ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }
        : {}),
    },
    onnotice: options.onNotice ?? (() => {}),
    types: {
      // int8 (seq, counts) as number: exact up to 2^53, which per-tenant sequences never reach.
      bigint: {
        to: 20,
        from: [20],
        parse: (value: string) => Number(value),
        serialize: (value: number) => String(value),
      },
    },
  });
}

export class Database {
  readonly sql: Sql;

  constructor(options: DatabaseOptions) {
    this.sql = createSql(options);
  }

  /**
   * Runs `fn` in a transaction scoped to one tenant; RLS hides every other tenant's rows.
   *
   * The tenant setting is not awaited: it leaves in the same write as fn's first statement
   * (postgres.js pipelines on the transaction's connection), which saves a round trip. Should it
   * fail, the transaction is aborted, so fn's statements fail rather than run unscoped, and
   * postgres.js reports the setting's error, not the abort.
   */
  withTenant<T>(tenantId: string, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    return this.sql.begin((tx) => {
      setTenant(tx, tenantId).execute();
      return fn(tx);
    }) as Promise<T>;
  }

  /** A transaction with no tenant set: tenant-scoped tables answer with zero rows. */
  withoutTenant<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    return this.sql.begin(fn) as Promise<T>;
  }

  /**
   * Streams a query's rows in batches from a server-side cursor inside a read-only, tenant-scoped
   * transaction on a reserved connection. Stopping the iteration early (a client that went away)
   * closes the cursor, rolls back and returns the connection to the pool.
   */
  async *cursorWithTenant<Row>(
    tenantId: string,
    query: Compilable<Row>,
    batchSize: number,
  ): AsyncGenerator<Row[]> {
    const connection = await this.sql.reserve();
    let open = false;
    try {
      await connection.unsafe("begin read only");
      open = true;
      await setTenant(connection, tenantId);
      for await (const batch of runCursor(connection, query, batchSize)) yield batch;
      await connection.unsafe("commit");
      open = false;
    } finally {
      if (open) await connection.unsafe("rollback").catch(() => undefined);
      connection.release();
    }
  }

  async ping(): Promise<void> {
    await this.sql`select 1`;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

/** Scopes the open transaction to one tenant (SET LOCAL semantics); returns the pending statement. */
export function setTenant(tx: Queryable, tenantId: string): postgres.PendingQuery<postgres.Row[]> {
  return tx`select set_config('vigil.tenant_id', ${tenantId}, true)`;
}

/** Executes a Kysely-built query through postgres.js and returns its rows. */
export async function run<Row>(tx: Queryable, query: Compilable<Row>): Promise<Row[]> {
  const compiled = query.compile();
  return (await tx.unsafe(
    compiled.sql,
    compiled.parameters as postgres.ParameterOrJSON<never>[],
  )) as unknown as Row[];
}

/** Like `run`, but streams rows in batches from a server-side cursor (constant memory). */
export function runCursor<Row>(
  tx: Queryable,
  query: Compilable<Row>,
  batchSize: number,
): AsyncIterable<Row[]> {
  const compiled = query.compile();
  return tx
    .unsafe(compiled.sql, compiled.parameters as postgres.ParameterOrJSON<never>[])
    .cursor(batchSize) as unknown as AsyncIterable<Row[]>;
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** True for errors that mean "the database is not reachable right now" (retry later, 503). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (!code) return false;
  // 08xxx connection exceptions, 57P01-57P03 admin shutdown / crash / cannot connect now, 53300 too many connections.
  return UNAVAILABLE_CODES.has(code) || code.startsWith("08") || /^57P0[123]$/.test(code) || code === "53300";
}
