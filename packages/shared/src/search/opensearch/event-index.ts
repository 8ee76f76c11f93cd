// The OpenSearch side of the event store: index naming, the index template, and the document an
// event becomes. PostgreSQL stays the source of truth; this index can be dropped and rebuilt.
//
// Design: one index per UTC month of `occurred_at` (`<prefix>-YYYY.MM`), shared by all tenants and
// routed by tenant_id. Monthly indices keep the shard count bounded no matter how many tenants
// exist (an index per tenant-month would explode it), let retention drop whole indices, and keep
// a document's index fixed forever (occurred_at never changes), so re-indexing overwrites in place.
// Routing by tenant puts a tenant's documents on one shard per index, so a tenant's search touches
// one shard per month instead of all of them; `_routing.required` refuses a document without it.
import type { Client } from "@opensearch-project/opensearch";
import type { StoredEvent } from "../../events/event-schema.ts";
import { EVENT_COLUMNS } from "../../query/event-rows.ts";

/** Bumped when the mapping changes; existing monthly indices keep their old mapping until reindexed. */
export const EVENT_MAPPING_VERSION = 1;

/** Shards per monthly index: routing sends each tenant to one of them. */
const SHARDS_PER_INDEX = 3;

export interface EventIndexTarget {
  client: Client;
  /** OPENSEARCH_INDEX_PREFIX; indices are `<prefix>-YYYY.MM`. */
  indexPrefix: string;
}

/** What one event looks like in OpenSearch: the stored event plus the full-text field. */
export type EventDocument = StoredEvent & { search_text: string };

export function eventIndexName(indexPrefix: string, occurredAt: string): string {
  const iso = new Date(occurredAt).toISOString();
  return `${indexPrefix}-${iso.slice(0, 4)}.${iso.slice(5, 7)}`;
}

/** The pattern a search runs over: every monthly index, present or future. */
export function eventIndexPattern(indexPrefix: string): string {
  return `${indexPrefix}-*`;
}

/** `_id` of an event: ids are unique per tenant only, so the tenant is part of the document id. */
export function eventDocumentId(event: Pick<StoredEvent, "tenant_id" | "id">): string {
  return `${event.tenant_id}:${event.id}`;
}

const keywordWithText = { type: "keyword", fields: { text: { type: "text" } } } as const;
// Stored in _source, never parsed: arbitrary client JSON cannot explode the mapping or fail a
// document (empty keys, type clashes); its values are searchable through search_text.
const opaqueJson = { type: "object", enabled: false } as const;

export const EVENT_MAPPINGS = {
  dynamic: "strict",
  _routing: { required: true },
  _meta: { vigil_mapping_version: EVENT_MAPPING_VERSION },
  properties: {
    id: { type: "keyword" },
    tenant_id: { type: "keyword" },
    seq: { type: "long" },
    occurred_at: { type: "date" },
    received_at: { type: "date" },
    action_type: { type: "keyword" },
    action: keywordWithText,
    resource_type: keywordWithText,
    resource_id: keywordWithText,
    user_id: { type: "keyword" },
    session_id: { type: "keyword" },
    ip_address: { type: "keyword" },
    user_agent: { type: "keyword", ignore_above: 1024 },
    severity: { type: "keyword" },
    outcome: { type: "keyword" },
    before_state: opaqueJson,
    after_state: opaqueJson,
    metadata: opaqueJson,
    redacted: { type: "keyword" },
    hash: { type: "keyword", index: false, doc_values: false },
    search_text: { type: "text" },
  },
} as const;

export function eventIndexTemplate(indexPrefix: string) {
  return {
    index_patterns: [eventIndexPattern(indexPrefix)],
    priority: 100,
    template: {
      settings: { number_of_shards: SHARDS_PER_INDEX, auto_expand_replicas: "0-1", refresh_interval: "1s" },
      mappings: EVENT_MAPPINGS,
    },
    _meta: { vigil_mapping_version: EVENT_MAPPING_VERSION },
  };
}

/**
 * Installs the index template and creates the current month's index. Idempotent: the template is
 * overwritten with the same body, an existing index is left alone. Creating the index up front
 * keeps indexing working on clusters that disable automatic index creation.
 */
export async function ensureEventIndex(target: EventIndexTarget, now: Date = new Date()): Promise<void> {
  await target.client.indices.putIndexTemplate({
    name: target.indexPrefix,
    body: eventIndexTemplate(target.indexPrefix),
  });
  try {
    await target.client.indices.create({ index: eventIndexName(target.indexPrefix, now.toISOString()) });
  } catch (error) {
    if (errorType(error) !== "resource_already_exists_exception") throw error;
  }
}

/** The `error.type` of an OpenSearch error response, if the error carries one. */
export function errorType(error: unknown): string | undefined {
  const body = (error as { meta?: { body?: { error?: { type?: string } } } } | null)?.meta?.body;
  return body?.error?.type;
}

/** The document for one event. Fields are copied by name so nothing else can reach the index. */
export function toEventDocument(event: StoredEvent): EventDocument {
  const document = Object.fromEntries(
    EVENT_COLUMNS.map((column) => [column, event[column]]),
  ) as unknown as StoredEvent;
  return { ...document, search_text: searchText(event) };
}

/**
 * The text `q` searches, the same sources as PostgreSQL's search_vector: action, resource, user,
 * and every string, number and boolean value (not key) inside metadata and the two states.
 */
export function searchText(event: StoredEvent): string {
  const parts = [event.action, event.resource_type, event.resource_id];
  if (event.user_id) parts.push(event.user_id);
  for (const value of [event.metadata, event.before_state, event.after_state]) collectScalars(value, parts);
  return parts.join("\n");
}

function collectScalars(value: unknown, out: string[]): void {
  if (value === null || value === undefined) return;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    out.push(String(value));
    return;
  }
  if (typeof value === "object") {
    for (const child of Array.isArray(value) ? value : Object.values(value)) collectScalars(child, out);
  }
}
