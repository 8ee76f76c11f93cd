// Removing a tenant's events from the OpenSearch index when cleanup or retention removes them
// from PostgreSQL, so a search answered by the index never shows events that no longer exist.
// One delete_by_query over every monthly index, routed to the tenant's shard, tenant filter first.
import { VigilError } from "../../errors/vigil-error.ts";
import { type EventIndexTarget, eventIndexPattern } from "./event-index.ts";

/** What cleanup and retention need of a search index. */
export interface SearchIndexRemover {
  /** Removes every indexed event of `tenantId` with occurred_at before `before`. */
  removeEventsBefore(tenantId: string, before: Date): Promise<void>;
}

export function removeEventsRequest(indexPrefix: string, tenantId: string, before: Date) {
  return {
    index: eventIndexPattern(indexPrefix),
    routing: tenantId,
    conflicts: "proceed" as const,
    refresh: true,
    body: {
      query: {
        bool: {
          filter: [
            { term: { tenant_id: tenantId } },
            { range: { occurred_at: { lt: before.toISOString() } } },
          ],
        },
      },
    },
  };
}

export class OpenSearchEventRemover implements SearchIndexRemover {
  constructor(private readonly target: EventIndexTarget) {}

  async removeEventsBefore(tenantId: string, before: Date): Promise<void> {
    try {
      const response = await this.target.client.deleteByQuery(
        removeEventsRequest(this.target.indexPrefix, tenantId, before),
      );
      const failures = (response.body as { failures?: unknown[] }).failures ?? [];
      if (failures.length > 0) throw new Error(`delete_by_query reported ${failures.length} failures`);
    } catch {
      // The rows are gone from PostgreSQL; the caller answers 503 and a retry removes them here too.
      throw new VigilError(
        "SEARCH_UNAVAILABLE",
        "the events were deleted but the search index could not be updated; retry the request",
        undefined,
        { "Retry-After": "5" },
      );
    }
  }
}
