// services/worker entry point: drains the event queue into PostgreSQL, serves health and metrics,
// and shuts down gracefully (stop receiving, finish the batch in hand, exit).
import { createServer } from "node:http";
import { archiveStorageFromConfig } from "@vigil/shared/archive/archive-storage";
import { loadConfigOrExit } from "@vigil/shared/config/config";
import { Database } from "@vigil/shared/db/database";
import { sensitiveKeyMatcher } from "@vigil/shared/events/redaction";
import { QueueDrainer } from "@vigil/shared/ingest/drain-queue";
import { LogStreamDeliverer } from "@vigil/shared/log-streams/deliver-log-streams";
import { createLogger } from "@vigil/shared/logging/logger";
import { createMetrics } from "@vigil/shared/metrics/metrics";
import { EventQueue } from "@vigil/shared/queue/event-queue";
import { startRetentionSweeper } from "@vigil/shared/retention/retention-sweep";
import {
  SearchIndexRepairer,
  searchRepairGauges,
  startSearchIndexRepair,
} from "@vigil/shared/search/opensearch/index-repair";
import { openSearchTarget } from "@vigil/shared/search/opensearch/opensearch-client";
import { OpenSearchEventRemover } from "@vigil/shared/search/opensearch/remove-events";
import { SearchIndexFeed } from "@vigil/shared/search/opensearch/search-index-feed";
import { startCheckpointerFromConfig } from "@vigil/shared/tlog/checkpointer";

const config = loadConfigOrExit();
const logger = createLogger("worker", config);
const metrics = createMetrics("worker");
// Two connections per poller: one for the batch transaction, one for partition upkeep.
const db = new Database({
  url: config.DATABASE_URL,
  // +1 with a search index: the repair loop holds one for its lock (index-repair.ts).
  poolSize: Math.max(config.WORKER_POLLERS * 2, 2) + (config.OPENSEARCH_URL ? 1 : 0),
  applicationName: "vigil-worker",
  statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
  idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
});
const queue = new EventQueue({
  queueUrl: config.SQS_QUEUE_URL,
  dlqUrl: config.SQS_DLQ_URL,
  region: config.AWS_REGION,
  endpoint: config.SQS_ENDPOINT,
});

// Optional search index: fed after each commit, never on the commit path (see search-index-feed.ts).
const searchFeed = config.OPENSEARCH_URL
  ? new SearchIndexFeed(
      db,
      openSearchTarget(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX_PREFIX),
      logger.child({ subsystem: "search-index" }),
      metrics,
    )
  : null;
void searchFeed
  ?.ensureReady()
  .catch((error) =>
    logger.warn(
      { err: { name: error?.name, message: error?.message } },
      "search index not ready yet; retrying with the next batch",
    ),
  );

// Index repair: one worker at a time fills gaps below the head and reconciles counts (index-repair.ts).
const searchRepair = config.OPENSEARCH_URL
  ? startSearchIndexRepair(
      new SearchIndexRepairer(
        db,
        openSearchTarget(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX_PREFIX),
        logger.child({ subsystem: "search-repair" }),
        { graceMs: config.SEARCH_REPAIR_GRACE_SECONDS * 1000 },
      ),
      config.SEARCH_REPAIR_INTERVAL_SECONDS,
      searchRepairGauges(metrics.registry),
    )
  : null;

const drainer = new QueueDrainer(db, queue, logger, metrics, {
  pollers: config.WORKER_POLLERS,
  visibilityTimeoutSeconds: config.WORKER_VISIBILITY_TIMEOUT_SECONDS,
  waitTimeSeconds: config.WORKER_WAIT_TIME_SECONDS,
  afterCommit: searchFeed?.afterCommit,
  killAfterCommitEvery: config.VIGIL_FAULT_KILL_AFTER_COMMIT_EVERY,
});
drainer.start();

// Retention: each tenant's events older than its retention_days, recorded in its own log.
const retention = startRetentionSweeper(
  {
    db,
    recorder: { queue, isSensitiveKey: sensitiveKeyMatcher(config.VIGIL_REDACT_KEYS) },
    logger: logger.child({ subsystem: "retention" }),
    // Archive-enabled tenants' expired events go to S3 before they are deleted (spec §12).
    archive: {
      storage: archiveStorageFromConfig(config),
      maxEventsPerObject: config.ARCHIVE_OBJECT_MAX_EVENTS,
      logger: logger.child({ subsystem: "archive" }),
      fault: config.VIGIL_FAULT_ARCHIVE_KILL,
    },
    // Expired events leave the search index too.
    ...(config.OPENSEARCH_URL
      ? {
          searchIndex: new OpenSearchEventRemover(
            openSearchTarget(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX_PREFIX),
          ),
        }
      : {}),
  },
  config.RETENTION_SWEEP_INTERVAL_SECONDS,
);

// Log streams: each tenant's events to its own destinations, at least once and in seq order.
const logStreams = new LogStreamDeliverer(
  db,
  {
    sealingSecret: config.VIGIL_SIGNING_KEY_SECRET,
    allowPrivateTargets: config.LOG_STREAM_ALLOW_PRIVATE_TARGETS ?? config.NODE_ENV !== "production",
    batchSize: config.LOG_STREAM_BATCH_SIZE,
    pollIntervalMs: config.LOG_STREAM_POLL_INTERVAL_MS,
    deadAfterSeconds: config.LOG_STREAM_DEAD_AFTER_SECONDS,
    requestTimeoutMs: config.LOG_STREAM_REQUEST_TIMEOUT_MS,
    maxConcurrentStreams: config.LOG_STREAM_MAX_CONCURRENT,
    backoffBaseMs: config.LOG_STREAM_BACKOFF_BASE_MS,
    backoffMaxMs: config.LOG_STREAM_BACKOFF_MAX_MS,
    awsRegion: config.AWS_REGION,
    s3Endpoint: config.LOG_STREAM_S3_ENDPOINT,
  },
  logger.child({ subsystem: "log-streams" }),
  metrics,
);
logStreams.start();

// Checkpoints: one worker at a time (advisory lock) signs each tenant whose tree grew.
const checkpoints = startCheckpointerFromConfig(config, db, logger.child({ subsystem: "checkpointer" }));
checkpoints.catch((error) => {
  logger.fatal({ err: { name: error?.name, message: error?.message } }, "checkpoint signing key unusable");
  process.exit(78);
});

const health = createServer(async (req, res) => {
  if (req.url === "/healthz")
    return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
  if (req.url === "/readyz") {
    const [database, sqs] = await Promise.allSettled([db.ping(), queue.depth()]);
    if (sqs.status === "fulfilled") metrics.queueDepth.set({ queue: "events" }, sqs.value.visible);
    const ready = database.status === "fulfilled" && sqs.status === "fulfilled";
    return void res
      .writeHead(ready ? 200 : 503, { "Content-Type": "application/json" })
      .end(JSON.stringify({ status: ready ? "ready" : "unavailable" }));
  }
  if (req.url === "/metrics") {
    const depth = await queue.depth().catch(() => null);
    if (depth) metrics.queueDepth.set({ queue: "events" }, depth.visible);
    return void res
      .writeHead(200, { "Content-Type": metrics.registry.contentType })
      .end(await metrics.registry.metrics());
  }
  res.writeHead(404).end();
});
health.listen(config.WORKER_METRICS_PORT, config.HOST, () =>
  logger.info({ port: config.WORKER_METRICS_PORT, pollers: config.WORKER_POLLERS }, "worker started"),
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "worker shutting down: finishing the batch in hand");
  const forced = setTimeout(() => process.exit(1), 30_000);
  forced.unref();
  await drainer.stop();
  await retention.stop();
  await logStreams.stop();
  await (await checkpoints.catch(() => null))?.stop();
  await searchRepair?.stop();
  await searchFeed?.drain();
  health.close();
  await db.close();
  queue.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
