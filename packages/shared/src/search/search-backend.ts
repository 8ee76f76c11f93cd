// SEARCH_BACKEND → the EventSearchBackend that answers GET /api/v1/logs. PostgreSQL is the default
// and the source of truth; OpenSearch is an index the worker keeps up to date when configured.
import type { VigilConfig } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { EventSearchBackend } from "../query/event-search-backend.ts";
import { postgresSearchBackend } from "../query/search-events.ts";
import { OpenSearchEventSearch } from "./opensearch/event-search.ts";
import { openSearchTarget } from "./opensearch/opensearch-client.ts";

export function selectSearchBackend(
  config: Pick<VigilConfig, "SEARCH_BACKEND" | "OPENSEARCH_URL" | "OPENSEARCH_INDEX_PREFIX">,
  db: Database,
): EventSearchBackend {
  if (config.SEARCH_BACKEND === "opensearch" && config.OPENSEARCH_URL) {
    return new OpenSearchEventSearch(openSearchTarget(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX_PREFIX));
  }
  return postgresSearchBackend(db);
}
