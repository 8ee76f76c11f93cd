// services/api entry point: configuration, dependencies, HTTP server, graceful shutdown.
import { serve } from "@hono/node-server";
import { ApiKeyCache } from "@vigil/shared/auth/api-key-cache";
import { ensureSigningKey, SigningKeyRing } from "@vigil/shared/auth/signing-keys";
import { flushThrottledLogins } from "@vigil/shared/auth/throttled-logins";
import { createTokenVerifier } from "@vigil/shared/auth/token-verifier";
import { loadConfigOrExit } from "@vigil/shared/config/config";
import { Database } from "@vigil/shared/db/database";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { createLogger } from "@vigil/shared/logging/logger";
import { createMetrics } from "@vigil/shared/metrics/metrics";
import { EventQueue } from "@vigil/shared/queue/event-queue";
import { openSearchTarget } from "@vigil/shared/search/opensearch/opensearch-client";
import { OpenSearchEventRemover } from "@vigil/shared/search/opensearch/remove-events";
import { selectSearchBackend } from "@vigil/shared/search/search-backend";
import { loadCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { ensurePlatformAdmin } from "@vigil/shared/users/manage-users";
import { createApp } from "./app.ts";

const config = loadConfigOrExit();
const logger = createLogger("api", config);
// Checkpoint signing keys (POST /api/v1/checkpoints, /checkpoints/key): a malformed one stops the
// start, as a bad variable does, rather than failing requests later.
await loadCheckpointSigner(config).catch((error) => {
  logger.fatal({ err: { name: error?.name, message: error?.message } }, "checkpoint signing key unusable");
  process.exit(78);
});
const db = new Database({
  url: config.DATABASE_URL,
  poolSize: config.DATABASE_POOL_SIZE,
  applicationName: "vigil-api",
  statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
});
const queue = new EventQueue({
  queueUrl: config.SQS_QUEUE_URL,
  dlqUrl: config.SQS_DLQ_URL,
  region: config.AWS_REGION,
  endpoint: config.SQS_ENDPOINT,
  lingerMs: config.QUEUE_PUBLISH_LINGER_MS,
});
// Signing keys live in the database so every replica signs and verifies with the same ones.
await ensureSigningKey(db.sql, config.VIGIL_SIGNING_KEY_SECRET);
// With VIGIL_ADMIN_PASSWORD configured the first api to start creates the platform admin; without
// it, `pnpm vigil admin bootstrap` (or `pnpm start`) generates a password and prints it once.
if (config.VIGIL_ADMIN_PASSWORD) {
  const admin = await ensurePlatformAdmin(db.sql, {
    email: config.VIGIL_ADMIN_EMAIL,
    password: config.VIGIL_ADMIN_PASSWORD,
  });
  if (admin.created)
    logger.info(
      { email: admin.email },
      "platform admin created from VIGIL_ADMIN_EMAIL / VIGIL_ADMIN_PASSWORD",
    );
}
const keys = new SigningKeyRing(db.sql, {
  accessTokenTtlSeconds: config.VIGIL_ACCESS_TOKEN_TTL_SECONDS,
  secret: config.VIGIL_SIGNING_KEY_SECRET,
});
// Keys are cached per replica; revocation and tenant changes reach every replica by NOTIFY.
const apiKeys = new ApiKeyCache(db.sql);
await apiKeys.start();
const deps = {
  config,
  db,
  queue,
  logger,
  metrics: createMetrics("api"),
  keys,
  tokens: createTokenVerifier({ config, db, keys, userChanges: apiKeys }),
  apiKeys,
  isSensitiveKey: sensitiveKeyMatcher(config.VIGIL_REDACT_KEYS),
  // SEARCH_BACKEND is chosen once, here; cleanup keeps the index (when there is one) in step.
  searchBackend: selectSearchBackend(config, db),
  ...(config.OPENSEARCH_URL
    ? {
        searchIndex: new OpenSearchEventRemover(
          openSearchTarget(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX_PREFIX),
        ),
      }
    : {}),
};
const app = createApp(deps);

const server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.API_PORT }, (info) => {
  logger.info({ url: `http://${config.HOST}:${info.port}` }, "api listening");
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "api shutting down: no new requests, finishing in-flight ones");
  const forced = setTimeout(() => process.exit(1), 15_000);
  forced.unref();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await flushThrottledLogins(deps);
  await apiKeys.stop();
  await db.close();
  queue.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
