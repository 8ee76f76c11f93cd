// Rows exactly as the worker stores them (normalized by the api's prepareEvents, then seq, hash and
// chain hash as in store-events.ts), built ahead of time so the direct-SQL baselines measure only
// PostgreSQL: a multi-row INSERT and a COPY into the same `events` table with all its indexes.
import { computeChainHash, computeEventHash, GENESIS_CHAIN_HASH } from "@vigil/shared/events/event-hash";
import { HASHED_FIELDS, type StoredEvent } from "@vigil/shared/events/event-schema";
import { prepareEvents } from "@vigil/shared/events/prepare-events";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { sampleEvent } from "@vigil/testkit/events";
import type postgres from "postgres";

export type EventRow = StoredEvent & { chain_hash: string };

/** Every stored column: the hashed fields, the hash and the chain hash (one list, from the schema). */
export const EVENT_COLUMNS = [...HASHED_FIELDS, "hash", "chain_hash"] as const;

const isSensitiveKey = sensitiveKeyMatcher(["password", "secret", "token"]);

/** `count` stored rows of one tenant, seq `fromSeq`…, from sampleEvent(startIndex…). */
export async function buildStoredRows(
  tenantId: string,
  fromSeq: number,
  count: number,
  startIndex = 0,
  now = new Date(),
): Promise<EventRow[]> {
  const items = Array.from({ length: count }, (_, offset) => sampleEvent(startIndex + offset));
  const events = await prepareEvents(items, { tenantId, isSensitiveKey, now }, async () => null, {
    bulk: true,
  });
  let chainHash = GENESIS_CHAIN_HASH;
  return events.map((event, offset) => {
    const { payload_hash: _payloadHash, ...fields } = event;
    const stored = { ...fields, seq: fromSeq + offset };
    const hash = computeEventHash(stored);
    chainHash = computeChainHash(chainHash, hash);
    return { ...stored, hash, chain_hash: chainHash };
  });
}

/** One multi-row INSERT … VALUES of every row (postgres.js builds the VALUES list). */
export async function insertRows(sql: postgres.Sql, rows: EventRow[]): Promise<void> {
  const values = rows.map((row) => ({
    ...row,
    before_state: row.before_state === null ? null : sql.json(row.before_state as postgres.JSONValue),
    after_state: row.after_state === null ? null : sql.json(row.after_state as postgres.JSONValue),
    metadata: row.metadata === null ? null : sql.json(row.metadata as postgres.JSONValue),
  }));
  await sql`insert into events ${sql(values as never, ...EVENT_COLUMNS)}`;
}

function copyText(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  const text =
    typeof value === "object"
      ? Array.isArray(value)
        ? `{${value.map((item) => JSON.stringify(item)).join(",")}}`
        : JSON.stringify(value)
      : String(value);
  return text.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

/** COPY … FROM STDIN (text format) of every row, in one stream. */
export async function copyRows(sql: postgres.Sql, rows: EventRow[]): Promise<void> {
  const stream = await sql.unsafe(`copy events (${EVENT_COLUMNS.join(", ")}) from stdin`).writable();
  const chunk: string[] = [];
  const flush = () =>
    new Promise<void>((resolve, reject) =>
      stream.write(chunk.splice(0).join(""), (error) => (error ? reject(error) : resolve())),
    );
  for (const row of rows) {
    chunk.push(`${EVENT_COLUMNS.map((column) => copyText(row[column])).join("\t")}\n`);
    if (chunk.length >= 500) await flush();
  }
  if (chunk.length) await flush();
  await new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.end(resolve);
  });
}
