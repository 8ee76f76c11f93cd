// The export produced by PostgreSQL (`COPY (select …) TO STDOUT`) against the real database, on
// hostile content: byte for byte what the previous path (rows read as text, formatted in JS; kept
// as the oracle in export-oracle.ts) writes for the same rows and filters, for CSV and NDJSON; the
// tenant's rows only (the app role, RLS in force); filter values with quotes and backslashes reach
// PostgreSQL as values, never SQL. Then back-pressure, cancellation and statement_timeout.
import type { Readable } from "node:stream";
import { Database, run } from "@vigil/shared/db/database";
import type { NormalizedEvent } from "@vigil/shared/events/event-schema";
import { storeEvents } from "@vigil/shared/ingest/store-events";
import { exportRowsQuery } from "@vigil/shared/query/export-copy-sql";
import { copyTextDecoder } from "@vigil/shared/query/export-copy-stream";
import {
  type ExportParams,
  exportEvents,
  exportParamsSchema,
  planExport,
} from "@vigil/shared/query/export-events";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTestPipeline, eventually, queuedEvent, type TestPipeline } from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ExportRow, formatExportOracle } from "./export-oracle.ts";

/** Text that quoting, escaping, formula neutralising or COPY's own escapes could get wrong. */
export const HOSTILE = [
  "plain",
  "",
  "a,b",
  'say "hi"',
  '"quoted", with comma',
  "line one\nline two",
  "carriage\rreturn",
  "crlf\r\n",
  "pipe|separated",
  "=1+2",
  "+SUM(A1)",
  "-1+1",
  "@cmd",
  "\tx",
  "\rcalc",
  "'already",
  "ünïcödé ✓ 🚀 𝄞 e\u0301 \u202ertl\u202c",
  "trailing space ",
  "back\\slash",
  "\\",
  "\\N",
  "\\.",
  "C:\\path\\new\\table",
  'json \\" escape',
  "ctl \u0001\u0008\u000b\u000c\u001f\u007f end",
  "tab\tinside",
  "line\u2028sep\u2029para",
  "o'brien'; drop table events; --",
  "$1 $$ E'x' \\' ",
  '=HYPERLINK("http://x")',
  "@",
  "-",
  // The fast paths: one test per row over all free text, each cell after a \x01.
  "=a|b",
  "|",
  "\u0001=not a formula",
  "a\u0001,b",
  "\u0001",
  `${"long ".repeat(4000)}|"end"`,
  "x".repeat(10_000),
];

const NOW = Date.now();
const MINUTE = 60_000;

let pipeline: TestPipeline;
let db: Database;
let tenantA: string;
let tenantB: string;

function hostileEvent(tenantId: string, index: number): NormalizedEvent {
  const text = HOSTILE[index % HOSTILE.length]!;
  const other = HOSTILE[(index * 7 + 3) % HOSTILE.length]!;
  const at = new Date(NOW - 60 * MINUTE + index * 1000 + (index % 3)).toISOString();
  return queuedEvent(tenantId, {
    occurred_at: at,
    received_at: at,
    action_type: (["CREATE", "UPDATE", "DELETE", "VIEW"] as const)[index % 4],
    action: `doc.${index % 5}`,
    resource_type: index % 2 ? text || "doc" : "doc",
    resource_id: text || "r",
    user_id: index % 6 === 0 ? null : text,
    session_id: index % 4 === 0 ? null : other,
    ip_address: index % 3 === 0 ? null : index % 2 ? "10.0.0.1" : "2001:db8::1",
    user_agent: index % 5 === 0 ? null : other,
    severity: (["INFO", "WARNING", "ERROR", "CRITICAL"] as const)[index % 4],
    outcome: index % 7 ? "success" : "failure",
    before_state: index % 2 ? null : { note: text, n: index, [text || "k"]: other },
    after_state: {
      status: text,
      nested: { list: [text, 1, null, true, 1.5e300, -0.25, { [other || "k"]: [[]] }], empty: {} },
      unicode: "日本語 ✓",
    },
    metadata: index % 5 === 4 ? null : { index, deep: { a: { b: { c: { d: text } } } }, arr: [] },
    redacted: index % 2 ? [] : ["metadata.password", `metadata.${text}`],
  });
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  db = new Database({ url: pipeline.database.appUrl, poolSize: 4, applicationName: "vigil-export-test" });
  tenantA = (await pipeline.createTenantWithKey(["read"])).tenant.id;
  tenantB = (await pipeline.createTenantWithKey(["read"])).tenant.id;
  const events = Array.from({ length: 3 * HOSTILE.length + 5 }, (_, index) => hostileEvent(tenantA, index));
  await storeEvents(pipeline.database.db, events);
  await storeEvents(
    pipeline.database.db,
    Array.from({ length: 20 }, (_, index) => hostileEvent(tenantB, index)),
  );
  // One erased event: NDJSON carries its marker after the hash, CSV has no column for it.
  await pipeline.database.admin`
    update events set erased = ${pipeline.database.admin.json({ at: "2026-12-07T00:00:00.000Z", by: "user:x", fields: ["user_id"] })}, user_id = null
    where tenant_id = ${tenantA} and seq = 3`;
  // JSON cells the ingest schema never produces (scalars, arrays, empty containers) but the column
  // holds: each is quoted in CSV exactly when its text has a quote or a comma.
  const jsonValues = [
    "[1]",
    "123",
    '"str"',
    "[1, 2]",
    "[]",
    "{}",
    "true",
    '""',
    '"a,b"',
    "[[]]",
    '{"k": "v"}',
  ];
  await pipeline.database.admin`
    update events set before_state = (${jsonValues} :: text[])[seq - 9]::jsonb, metadata = '{}'
    where tenant_id = ${tenantA} and seq between 10 and ${9 + jsonValues.length}`;
}, 60_000);
afterAll(async () => {
  await db?.close();
  await pipeline?.close();
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

async function bothPaths(tenantId: string, query: Record<string, unknown>) {
  const params: ExportParams = exportParamsSchema.parse({
    from: new Date(NOW - DAY).toISOString(),
    ...query,
  });
  const plan = planExport(params, new Date(NOW));
  const scope = tenantScope(tenantId);
  const copyProgress = { rows: 0, completed: false };
  const viaCopy = await readAll(exportEvents(db, scope, plan, copyProgress));
  // The oracle: the same rows read as text by a plain SELECT, formatted in JS as before.
  const rows = (await db.withTenant(scope.tenantId, (tx) =>
    run(tx, exportRowsQuery(scope, plan.filter, plan.afterSeq)),
  )) as unknown as ExportRow[];
  const viaOracle = Buffer.from(formatExportOracle(plan.format, rows), "utf8");
  return { viaCopy, viaOracle, copyProgress, oracleRows: rows.length };
}

const DAY = 24 * 60 * MINUTE;

describe("COPY export = the previous JS export (the oracle), byte for byte", () => {
  const filters: Array<[string, Record<string, unknown>]> = [
    ["everything", {}],
    ["after_seq", { after_seq: 40 }],
    ["user_id with quotes and a statement", { user_id: "o'brien'; drop table events; --" }],
    ["resource_id with backslashes", { resource_id: "C:\\path\\new\\table" }],
    ["user_id with a dollar and E-string", { user_id: "$1 $$ E'x' \\' " }],
    ["severity list and outcome", { severity: ["ERROR", "CRITICAL"], outcome: "success" }],
    ["full text", { q: "brien" }],
    [
      "a window",
      {
        from: new Date(NOW - 60 * MINUTE + 20_000).toISOString(),
        to: new Date(NOW - 60 * MINUTE + 60_000).toISOString(),
      },
    ],
  ];
  for (const format of ["csv", "ndjson"] as const) {
    test.each(filters)(`${format}: %s`, async (_name, filter) => {
      const { viaCopy, viaOracle, copyProgress, oracleRows } = await bothPaths(tenantA, {
        format,
        ...filter,
      });
      expect(viaCopy.toString("utf8")).toBe(viaOracle.toString("utf8"));
      expect(viaCopy.equals(viaOracle)).toBe(true);
      expect(copyProgress).toEqual({ rows: oracleRows, completed: true });
      expect(oracleRows).toBeGreaterThan(0);
    });
  }

  test("the hostile rows are there, and only the tenant's", async () => {
    const { viaCopy, copyProgress } = await bothPaths(tenantA, { format: "ndjson" });
    const lines = viaCopy.toString("utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(3 * HOSTILE.length + 5);
    expect(copyProgress.rows).toBe(lines.length);
    const events = lines.map((line) => JSON.parse(line));
    expect(events.every((event) => event.tenant_id === tenantA)).toBe(true);
    expect(new Set(events.map((event) => event.resource_id))).toEqual(
      new Set(HOSTILE.map((text) => text || "r")),
    );
    expect(events.find((event) => event.seq === 3).erased).toMatchObject({ by: "user:x" });
    const injected = await bothPaths(tenantA, { format: "csv", user_id: "o'brien'; drop table events; --" });
    expect(injected.copyProgress.rows).toBeGreaterThan(0);
    const other = await bothPaths(tenantB, { format: "csv" });
    expect(other.copyProgress.rows).toBe(20);
    expect(other.viaCopy.toString("utf8")).not.toContain(tenantA);
  });
});

describe("COPY text decoding", () => {
  test("escapes split across chunks decode as one; a chunk without backslash passes as it is", () => {
    const raw = Buffer.from("a\\\\b\\nc\\td\\re\\bf\\fg\\vh\nplain\n");
    const expected = Buffer.from("a\\b\nc\td\re\bf\fg\vh\nplain\n");
    for (let split = 0; split <= raw.length; split++) {
      const decode = copyTextDecoder();
      const out = Buffer.concat([decode(raw.subarray(0, split)), decode(raw.subarray(split))]);
      expect(out.equals(expected), `split at ${split}`).toBe(true);
    }
    const decode = copyTextDecoder();
    const plain = Buffer.from("no escapes here\n");
    expect(decode(plain)).toBe(plain);
    expect(() => copyTextDecoder()(Buffer.from("\\x"))).toThrow(/unexpected escape/);
  });
});

describe("back-pressure and cancellation", () => {
  let bulky: string;
  beforeAll(async () => {
    bulky = (await pipeline.createTenantWithKey(["read"])).tenant.id;
    // ~20 MB: far more than the socket and stream buffers hold, so an unread export must wait.
    await pipeline.database.admin`
      insert into events (tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type, resource_id,
        severity, outcome, metadata, redacted, hash, chain_hash)
      select ${bulky}::uuid, g, md5(${bulky} || g)::uuid, ${new Date(NOW - DAY / 2)}::timestamptz + g * interval '1 ms',
        ${new Date(NOW - DAY / 2)}::timestamptz, 'VIEW', 'doc.view', 'doc', 'd-' || g, 'INFO', 'success',
        jsonb_build_object('pad', repeat(md5(g::text), 32)), '{}', md5(g::text) || md5(g::text), md5(g::text) || md5(g::text)
      from generate_series(1, 20000) as g`;
  }, 60_000);

  /** The export's COPY (marked vigil_export) as pg_stat_activity shows it, or null once it is gone. */
  async function exportBackend() {
    const [row] = await pipeline.database.admin<{ state: string; wait_event: string | null }[]>`
      select state, wait_event from pg_stat_activity
      where datname = current_database() and application_name = 'vigil-export-test' and query ilike '%vigil_export%'
        and state <> 'idle'`;
    return row ?? null;
  }

  test("an unread export holds PostgreSQL at its socket, memory flat; destroying it cancels the COPY and frees the connection", async () => {
    const plan = planExport(
      exportParamsSchema.parse({ format: "csv", from: new Date(NOW - DAY).toISOString() }),
      new Date(NOW),
    );
    const progress = { rows: 0, completed: false };
    const stream = exportEvents(db, tenantScope(bulky), plan, progress);
    const first = await new Promise<Buffer>((resolve) => stream.once("data", resolve));
    stream.pause();
    expect(first.toString("utf8")).toMatch(/^seq,id,tenant_id,/);
    // Nobody reads: PostgreSQL waits on the client socket, the rows read so far stay a small part.
    const waiting = await eventually(async () => {
      const backend = await exportBackend();
      return backend?.wait_event === "ClientWrite" ? backend : null;
    });
    expect(waiting.state).toBe("active");
    const heldRows = progress.rows;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(progress.rows).toBe(heldRows);
    expect(heldRows).toBeLessThan(5000);
    stream.destroy();
    await eventually(async () => (await exportBackend()) === null);
    expect(progress.completed).toBe(false);
    // The pool is whole: every connection answers.
    await Promise.all(Array.from({ length: 4 }, () => db.sql`select 1`));
  });

  test("a COPY that produces nothing for statement_timeout while the client waits is cancelled (57014)", async () => {
    const slow = new Database({
      url: pipeline.database.appUrl,
      poolSize: 1,
      applicationName: "vigil-export-test",
      statementTimeoutMs: 1000,
    });
    try {
      // A lock the COPY must wait for before it can produce a row.
      const locker = await pipeline.database.admin.reserve();
      await locker`begin`;
      await locker`lock table events in access exclusive mode`;
      try {
        const plan = planExport(
          exportParamsSchema.parse({ format: "ndjson", from: new Date(NOW - DAY).toISOString() }),
          new Date(NOW),
        );
        const started = Date.now();
        await expect(readAll(exportEvents(slow, tenantScope(bulky), plan))).rejects.toMatchObject({
          code: "57014",
        });
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        await locker`rollback`;
        locker.release();
      }
      // The connection is usable again, with its own statement_timeout back.
      const [row] = await slow.sql<
        { timeout: string }[]
      >`select current_setting('statement_timeout') as timeout`;
      expect(row!.timeout).toBe("1s");
      // A COPY that lasts longer than statement_timeout (its client pauses) is not cut off: the
      // timeout bounds only PostgreSQL's silence while the client waits.
      const plan = planExport(
        exportParamsSchema.parse({ format: "csv", from: new Date(NOW - DAY).toISOString() }),
        new Date(NOW),
      );
      const stream = exportEvents(slow, tenantScope(bulky), plan);
      const chunks: Buffer[] = [];
      let paused = false;
      for await (const chunk of stream) {
        chunks.push(chunk);
        if (!paused) {
          paused = true;
          await new Promise((resolve) => setTimeout(resolve, 1500));
        }
      }
      expect(Buffer.concat(chunks).toString("utf8").trimEnd().split("\n")).toHaveLength(20_001);
    } finally {
      await slow.close();
    }
  });

  test("an export abandoned as its COPY ends never cancels the next statement on its connection", async () => {
    // One connection, so whatever runs after the abandoned export runs where its CancelRequest went.
    const single = new Database({
      url: pipeline.database.appUrl,
      poolSize: 1,
      applicationName: "vigil-export-test",
    });
    try {
      const plan = planExport(
        exportParamsSchema.parse({ format: "ndjson", from: new Date(NOW - DAY).toISOString() }),
        new Date(NOW),
      );
      for (let round = 0; round < 25; round += 1) {
        // Tenant B's 20 rows fit one chunk: the COPY is over in PostgreSQL when the client leaves.
        const stream = exportEvents(single, tenantScope(tenantB), plan);
        await new Promise<void>((resolve) => stream.once("data", () => resolve()));
        stream.destroy();
        await new Promise((resolve) => stream.once("close", resolve));
        // The next request's statement: a late cancel would make it fail with 57014.
        const [row] = await single.sql<{ slept: string }[]>`select pg_sleep(0.02)::text as slept`;
        expect(row).toBeDefined();
      }
    } finally {
      await single.close();
    }
  });
});
