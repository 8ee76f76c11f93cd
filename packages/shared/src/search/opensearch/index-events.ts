// Writes stored events to OpenSearch with the bulk API.
//
// Idempotent: `index` actions with `_id = <tenant_id>:<id>` overwrite the same document, so indexing
// an event twice (SQS redelivery, a reindex) changes nothing. A bulk request answers HTTP 200 even
// when items failed, so every item's status is checked: 429/503-style items are retried with
// backoff, anything else is reported as failed. This function never throws for OpenSearch
// problems — it returns what failed, and the caller decides how to log and count it.
import { errors } from "@opensearch-project/opensearch";
import type { StoredEvent } from "../../events/event-schema.ts";
import { type EventIndexTarget, eventDocumentId, eventIndexName, toEventDocument } from "./event-index.ts";

/** Item or request statuses worth another attempt: throttling and transient unavailability. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

export interface IndexOptions {
  maxAttempts?: number;
  /** First backoff; doubles per attempt, with full jitter, capped at 5 s. */
  baseDelayMs?: number;
  /** Upper bound of one bulk request body; OpenSearch's default http.max_content_length is 100 MB. */
  maxBulkBytes?: number;
  maxBulkDocuments?: number;
}

export interface FailedDocument {
  tenant_id: string;
  id: string;
  seq: number;
  /** HTTP status of the item, or 0 when the request itself failed (connection, timeout). */
  status: number;
  reason: string;
}

export interface IndexOutcome {
  indexed: number;
  failed: FailedDocument[];
  /** Bulk requests sent again after a retryable failure. */
  retries: number;
}

interface BulkEntry {
  event: StoredEvent;
  lines: [string, string];
  bytes: number;
}

interface BulkItemResult {
  status: number;
  error?: { type?: string; reason?: string };
}

export async function indexStoredEvents(
  target: EventIndexTarget,
  events: StoredEvent[],
  options: IndexOptions = {},
): Promise<IndexOutcome> {
  const outcome: IndexOutcome = { indexed: 0, failed: [], retries: 0 };
  for (const chunk of chunksOf(
    events.map((event) => toBulkEntry(target.indexPrefix, event)),
    options,
  )) {
    await indexChunk(target, chunk, options, outcome);
  }
  return outcome;
}

/** The two NDJSON lines of one event: the action (index, _id, routing) and the document. */
export function bulkLines(indexPrefix: string, event: StoredEvent): [string, string] {
  const action = {
    index: {
      _index: eventIndexName(indexPrefix, event.occurred_at),
      _id: eventDocumentId(event),
      routing: event.tenant_id,
    },
  };
  return [JSON.stringify(action), JSON.stringify(toEventDocument(event))];
}

function toBulkEntry(indexPrefix: string, event: StoredEvent): BulkEntry {
  const lines = bulkLines(indexPrefix, event);
  return { event, lines, bytes: Buffer.byteLength(lines[0]) + Buffer.byteLength(lines[1]) + 2 };
}

function* chunksOf(entries: BulkEntry[], options: IndexOptions): Generator<BulkEntry[]> {
  const maxBytes = options.maxBulkBytes ?? 5 * 1024 * 1024;
  const maxDocuments = options.maxBulkDocuments ?? 1000;
  let chunk: BulkEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (chunk.length > 0 && (chunk.length >= maxDocuments || bytes + entry.bytes > maxBytes)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += entry.bytes;
  }
  if (chunk.length > 0) yield chunk;
}

async function indexChunk(
  target: EventIndexTarget,
  chunk: BulkEntry[],
  options: IndexOptions,
  outcome: IndexOutcome,
): Promise<void> {
  const maxAttempts = options.maxAttempts ?? 5;
  let pending = chunk;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const retry: Array<{ entry: BulkEntry; status: number; reason: string }> = [];
    const results = await sendBulk(target, pending);
    pending.forEach((entry, index) => {
      const result = results[index] ?? { status: 0, error: { reason: "missing item in bulk response" } };
      if (result.status >= 200 && result.status < 300) outcome.indexed++;
      else if (isRetryable(result.status))
        retry.push({ entry, status: result.status, reason: describe(result) });
      else outcome.failed.push(failure(entry, result.status, describe(result)));
    });
    if (retry.length === 0) return;
    if (attempt >= maxAttempts) {
      for (const item of retry)
        outcome.failed.push(
          failure(item.entry, item.status, `${item.reason} (gave up after ${attempt} attempts)`),
        );
      return;
    }
    outcome.retries++;
    pending = retry.map((item) => item.entry);
    await sleep(backoffMs(attempt, options.baseDelayMs ?? 200));
  }
}

/** One bulk request; a failure of the whole request becomes the same status for every item. */
async function sendBulk(target: EventIndexTarget, entries: BulkEntry[]): Promise<BulkItemResult[]> {
  const body = `${entries.map((entry) => `${entry.lines[0]}\n${entry.lines[1]}`).join("\n")}\n`;
  try {
    // The lines are serialized once, here; the transport sends a string bulk body as it is.
    const response = await target.client.bulk({ body: body as unknown as Record<string, unknown>[] });
    const items = (response.body as { items?: Array<Record<string, BulkItemResult>> }).items ?? [];
    return items.map((item) => item.index ?? Object.values(item)[0] ?? { status: 0 });
  } catch (error) {
    const status = requestStatus(error);
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return entries.map(() => ({ status, error: { reason } }));
  }
}

/** Connection errors and timeouts count as 503: the cluster was not reachable, try again. */
function requestStatus(error: unknown): number {
  if (error instanceof errors.ResponseError) return error.meta.statusCode ?? 0;
  if (
    error instanceof errors.ConnectionError ||
    error instanceof errors.TimeoutError ||
    error instanceof errors.NoLivingConnectionsError
  )
    return 503;
  return 0;
}

function isRetryable(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

function describe(result: BulkItemResult): string {
  const { type, reason } = result.error ?? {};
  return [type, reason].filter(Boolean).join(": ") || `status ${result.status}`;
}

function failure(entry: BulkEntry, status: number, reason: string): FailedDocument {
  return { tenant_id: entry.event.tenant_id, id: entry.event.id, seq: entry.event.seq, status, reason };
}

function backoffMs(attempt: number, baseDelayMs: number): number {
  const ceiling = Math.min(baseDelayMs * 2 ** (attempt - 1), 5000);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
