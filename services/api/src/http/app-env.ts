// What every handler can reach: the process-wide dependencies and per-request variables.
import type { ApiKeyLookup } from "@vigil/shared/auth/api-key-cache";
import type { TokenVerifier } from "@vigil/shared/auth/authenticate";
import type { Principal } from "@vigil/shared/auth/principal";
import type { SigningKeyRing } from "@vigil/shared/auth/signing-keys";
import type { VigilConfig } from "@vigil/shared/config/config";
import type { Database } from "@vigil/shared/db/database";
import type { KeyMatcher } from "@vigil/shared/events/redaction";
import type { Logger } from "@vigil/shared/logging/logger";
import type { Metrics } from "@vigil/shared/metrics/metrics";
import type { EventSearchBackend } from "@vigil/shared/query/event-search-backend";
import type { EventQueue } from "@vigil/shared/queue/event-queue";
import type { SearchIndexRemover } from "@vigil/shared/search/opensearch/remove-events";

export interface ApiDependencies {
  config: VigilConfig;
  db: Database;
  queue: EventQueue;
  logger: Logger;
  metrics: Metrics;
  tokens: TokenVerifier;
  /** Cached API-key lookups (invalidated by NOTIFY); absent = every key is looked up in `db`. */
  apiKeys?: ApiKeyLookup;
  /** Vigil's own token signing keys (issuing, JWKS). */
  keys: SigningKeyRing;
  isSensitiveKey: KeyMatcher;
  /** What answers GET /api/v1/logs (SEARCH_BACKEND, chosen once at start); absent = PostgreSQL. */
  searchBackend?: EventSearchBackend;
  /** The OpenSearch index, when OPENSEARCH_URL is set: cleanup removes deleted events from it. */
  searchIndex?: SearchIndexRemover;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    principal: Principal;
    /** Tenant the request acted on, for the wide log line. */
    tenantId?: string;
  };
}
