// services/streamer entry point: configuration, dependencies, the LISTEN hub, the HTTP/WebSocket
// server, and a graceful restart that tells every client to reconnect with `since`.
import { SigningKeyRing } from "@vigil/shared/auth/signing-keys";
import { createTokenVerifier } from "@vigil/shared/auth/token-verifier";
import { loadConfigOrExit } from "@vigil/shared/config/config";
import { Database } from "@vigil/shared/db/database";
import { createLogger } from "@vigil/shared/logging/logger";
import { createMetrics } from "@vigil/shared/metrics/metrics";
import { StreamHub } from "@vigil/shared/stream/stream-hub";
import { acceptingStreamTokens } from "@vigil/shared/viewer/viewer-tokens";
import { createStreamServer } from "./stream-server.ts";

const config = loadConfigOrExit();
const logger = createLogger("streamer", config);
const metrics = createMetrics("streamer");
const db = new Database({
  url: config.DATABASE_URL,
  poolSize: config.DATABASE_POOL_SIZE,
  applicationName: "vigil-streamer",
  statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
});
const hub = new StreamHub(db, logger, metrics, {
  maxBufferedBytes: config.STREAM_MAX_BUFFERED_BYTES,
  maxConnections: config.STREAM_MAX_CONNECTIONS,
  maxConnectionsPerTenant: config.STREAM_MAX_CONNECTIONS_PER_TENANT,
  credentialRecheckMs: config.STREAM_AUTH_RECHECK_SECONDS * 1000,
});
// Verifies Vigil's own JWTs against the shared key table (and an external IdP when configured),
// and the console's short-lived stream-only tokens, which no other service accepts.
const keys = new SigningKeyRing(db.sql, {
  accessTokenTtlSeconds: config.VIGIL_ACCESS_TOKEN_TTL_SECONDS,
  secret: config.VIGIL_SIGNING_KEY_SECRET,
});
const tokens = acceptingStreamTokens(createTokenVerifier({ config, db, keys }), keys, config);

await hub.start();
const stream = createStreamServer({ config, db, hub, tokens, logger, metrics });
stream.server.listen(config.STREAMER_PORT, config.HOST, () =>
  logger.info({ port: config.STREAMER_PORT }, "streamer listening"),
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info(
    { signal, connections: hub.connectionCount },
    "streamer shutting down: clients are told to reconnect",
  );
  const forced = setTimeout(() => process.exit(1), 10_000);
  forced.unref();
  await stream.shutdown(3_000);
  await db.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
