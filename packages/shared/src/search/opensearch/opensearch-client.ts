// The OpenSearch client Vigil uses. Credentials, if any, travel in OPENSEARCH_URL
// (https://user:password@host:9200) and are never logged.
import { Client } from "@opensearch-project/opensearch";
import type { EventIndexTarget } from "./event-index.ts";

export function createOpenSearchClient(url: string): Client {
  // Retries are ours (per bulk item, with backoff); the client's would resend whole bulk bodies.
  return new Client({ node: url, maxRetries: 0, requestTimeout: 10_000 });
}

export function openSearchTarget(url: string, indexPrefix: string): EventIndexTarget {
  return { client: createOpenSearchClient(url), indexPrefix };
}
