// The configuration reference, generated from the schema in config.ts: one description per
// variable (the type below makes a variable without a description a compile error), defaults read
// from the schema itself. `pnpm vigil config docs` prints it; a test keeps the README in sync.
import { configSchema, loadConfig } from "./config.ts";

type Variable = keyof typeof configSchema.shape;

const REQUIRED_FOR_DOCS = { DATABASE_URL: "postgres://required", SQS_QUEUE_URL: "http://required" } as const;

const CONFIG_DESCRIPTIONS: Record<Variable, string> = {
  NODE_ENV: "`development`, `test` or `production`",
  LOG_LEVEL: "pino log level (`silent` turns logging off)",
  LOG_FILE:
    "also write the same JSON lines to this file, rotated (pino-roll: `app.log` → `app.1.log`, …); `{service}` in the path becomes the service name (`pnpm start` uses the replica's, e.g. `api-2`)",
  LOG_FILE_MAX_SIZE: "rotate the log file when it reaches this size (`k`, `m`, `g`)",
  LOG_FILE_FREQUENCY: "also rotate it `daily`, `hourly` or `none` (size only)",
  LOG_FILE_KEEP: "rotated log files kept besides the current one",
  HOST: "address every service binds (`0.0.0.0` in containers)",
  API_PORT: "api HTTP port",
  STREAMER_PORT: "streamer HTTP/WebSocket port",
  WORKER_METRICS_PORT: "worker port for `/healthz`, `/readyz`, `/metrics`",
  DATABASE_URL: "PostgreSQL URL of the services' login role (a member of `vigil_app`, not the table owner)",
  DATABASE_ADMIN_URL: "owner URL, used only by `vigil migrate` and bootstrap",
  DATABASE_POOL_SIZE: "connections per api/streamer process (the worker sizes its pool from its pollers)",
  DATABASE_STATEMENT_TIMEOUT_MS: "`statement_timeout` of the api's and worker's connections (0 = none)",
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS:
    "`idle_in_transaction_session_timeout` of the api's and worker's connections (0 = none)",
  EXPORT_MAX_CONCURRENT: "exports at once per api process; more get 429 with `Retry-After`",
  EXPORT_MAX_CONCURRENT_PER_TENANT: "exports at once per tenant per api process; more get 429",
  EXPORT_STALL_TIMEOUT_MS:
    "an export whose client reads nothing for this long is ended and its connection released",
  AWS_REGION: "SQS region",
  SQS_ENDPOINT: "SQS endpoint override (LocalStack, fauxqs); unset on AWS",
  SQS_QUEUE_URL: "the event queue",
  SQS_DLQ_URL: "its dead-letter queue (for `vigil dlq replay`)",
  QUEUE_PUBLISH_LINGER_MS:
    "api: while a send to the queue is under way, how long new events wait to share the next SendMessageBatch (0 = none)",
  OPENSEARCH_URL: "enables the OpenSearch index (the worker feeds it after each commit)",
  OPENSEARCH_INDEX_PREFIX: "prefix of the monthly indices",
  SEARCH_BACKEND: "`postgres` or `opensearch`: which store answers `GET /api/v1/logs`",
  SEARCH_REPAIR_INTERVAL_SECONDS:
    "with `OPENSEARCH_URL`: how often one worker re-indexes gaps below the head and reconciles index counts with PostgreSQL",
  SEARCH_REPAIR_GRACE_SECONDS: "gaps in the index younger than this are left to the after-commit feed",
  VIGIL_REDACT_KEYS: "comma list of sensitive key names whose values are replaced by `[REDACTED]`",
  VIGIL_ADMIN_EMAIL: "platform admin created on first start",
  VIGIL_ADMIN_PASSWORD: "its password (≥ 12 chars); when unset a generated one is printed once",
  VIGIL_JWT_ISSUER: "`iss` of tokens Vigil issues and accepts",
  VIGIL_JWT_AUDIENCE: "`aud` of tokens Vigil issues and accepts",
  VIGIL_ACCESS_TOKEN_TTL_SECONDS: "access-token lifetime",
  VIGIL_REFRESH_TOKEN_TTL_SECONDS: "refresh-token lifetime (each use rotates it)",
  VIGIL_EXTERNAL_JWKS_URL: "accept tokens of an external identity provider, verified with this JWKS",
  VIGIL_EXTERNAL_JWT_HS256_SECRET: "or accept external HS256 tokens signed with this secret (≥ 32 chars)",
  VIGIL_EXTERNAL_JWT_ISSUER: "`iss` required of external tokens",
  VIGIL_EXTERNAL_JWT_AUDIENCE: "`aud` required of external tokens",
  VIGIL_EXTERNAL_TENANT_CLAIM: "claim holding the tenant id in external tokens",
  VIGIL_EXTERNAL_ROLE_CLAIM: "claim holding the role in external tokens",
  VIGIL_EXTERNAL_JWT_ALGORITHMS: "algorithms pinned for the external JWKS",
  VIGIL_SIGNING_KEY_SECRET:
    "when set, private signing keys and log-stream credentials are stored AES-256-GCM encrypted",
  VIGIL_LOGIN_MAX_FAILURES_PER_ACCOUNT: "failed logins per account per window before 429",
  VIGIL_LOGIN_MAX_FAILURES_PER_IP: "failed logins per client IP per window before 429",
  VIGIL_LOGIN_FAILURE_WINDOW_SECONDS:
    "login-throttle window; throttled attempts are audited as one `auth.login_throttled` summary per account or IP per window",
  VIGIL_AUTH_MAX_FAILURES_PER_IP:
    "failed authentications (bad API key, token or password) per client IP per window before 429, checked before the database (per process)",
  VIGIL_AUTH_FAILURE_WINDOW_SECONDS: "window of `VIGIL_AUTH_MAX_FAILURES_PER_IP`",
  VIGIL_TRUST_PROXY: "older form of `VIGIL_TRUSTED_PROXY_HOPS`: `true` means 1 (when that is unset)",
  VIGIL_TRUSTED_PROXY_HOPS:
    "proxies in front of api and streamer that append to `X-Forwarded-For`; the client IP is the entry that many places from the right (0 = the connection's peer; default 1 when `VIGIL_TRUST_PROXY=true`, else 0)",
  CORS_ORIGINS: "comma list of browser origins allowed by the api",
  STREAM_ALLOWED_ORIGINS: "comma list of origins allowed to open the stream (include the console's origin)",
  CONSOLE_STREAM_URL:
    "WebSocket URL of the stream for the console's live tail (default: the console's host on `STREAMER_PORT`)",
  CONSOLE_STREAM_TOKEN_TTL_SECONDS:
    "lifetime of the console live tail's stream-only tokens; the page renews its stream before a token lapses, and a signed-out session gets no new one",
  VIGIL_PUBLIC_URL: "public base URL of the api, used in viewer-token URLs (default: the request's origin)",
  RATE_LIMIT_PER_KEY_RPS: "token-bucket refill per credential (per api replica)",
  RATE_LIMIT_PER_KEY_BURST: "bucket size per credential",
  RATE_LIMIT_PER_TENANT_RPS: "token-bucket refill per tenant (per api replica)",
  RATE_LIMIT_PER_TENANT_BURST: "bucket size per tenant",
  INGEST_WAIT_TIMEOUT_MS: "longest `?wait=true` wait before answering 202",
  WORKER_POLLERS: "concurrent receive/store loops per worker process",
  WORKER_VISIBILITY_TIMEOUT_SECONDS: "visibility timeout per receive (extended while a batch is stored)",
  WORKER_WAIT_TIME_SECONDS: "SQS long-poll wait",
  RETENTION_SWEEP_INTERVAL_SECONDS: "how often the worker applies tenants' `retention_days`",
  STREAM_MAX_BUFFERED_BYTES: "per-connection send buffer; a slower consumer is closed with 4008",
  STREAM_MAX_CONNECTIONS: "WebSocket connections per streamer process",
  STREAM_MAX_CONNECTIONS_PER_TENANT: "WebSocket connections per tenant per streamer process",
  STREAM_AUTH_RECHECK_SECONDS:
    "backstop re-check of every open stream's credential (revocations normally close streams at once, by NOTIFY)",
  STREAM_UPGRADES_PER_MINUTE_PER_IP:
    "stream upgrade attempts per client IP per minute (per streamer process) before 429",
  STREAM_UPGRADES_PER_MINUTE_PER_CREDENTIAL:
    "stream upgrade attempts per credential per minute (per streamer process) before 429",
  STREAM_PING_INTERVAL_MS: "ping interval for dead-peer detection",
  METRICS_ENABLED: "serve Prometheus `/metrics`",
  VIGIL_LOG_ORIGIN: "checkpoint origin prefix: each tenant's log is `<VIGIL_LOG_ORIGIN>/<tenant_id>`",
  CHECKPOINT_SIGNING_KEY:
    "checkpoint signing keys (`PRIVATE+KEY+<name>+<id>+<key>`, comma-separated; the first is current, all sign during a rotation); never in the database",
  CHECKPOINT_SIGNING_KEY_FILE:
    "or a file holding them, one per line (`pnpm start` writes `.vigil/checkpoint-key`)",
  LOG_STREAM_POLL_INTERVAL_MS: "how often each worker claims log streams that are behind their tenant's head",
  LOG_STREAM_BATCH_SIZE: "events read per log-stream delivery (one request or object per batch)",
  LOG_STREAM_REQUEST_TIMEOUT_MS: "a log-stream destination that has not answered by then counts as failed",
  LOG_STREAM_MAX_CONCURRENT:
    "log streams delivered at once per worker (each on its own; a slow one holds only itself)",
  LOG_STREAM_BACKOFF_BASE_MS: "first retry delay of a failing log stream (full jitter, doubling per attempt)",
  LOG_STREAM_BACKOFF_MAX_MS: "longest retry delay of a failing log stream (a `Retry-After` may ask for more)",
  LOG_STREAM_DEAD_AFTER_SECONDS: "a log stream failing this long turns `dead` until its tenant re-enables it",
  LOG_STREAM_ALLOW_PRIVATE_TARGETS:
    "allow log-stream URLs on loopback, private and link-local addresses; unset = allowed unless `NODE_ENV=production`",
  LOG_STREAM_S3_ENDPOINT:
    "S3-compatible endpoint for `s3` log streams (the emulator in the embedded mode); AWS when unset",
  CHECKPOINT_INTERVAL_SECONDS: "how often the worker signs a checkpoint for each tenant whose tree grew",
  CHECKPOINT_S3_BUCKET:
    "anchor every new checkpoint in this bucket too (Object Lock retention when it has Object Lock)",
  CHECKPOINT_S3_ENDPOINT: "S3 endpoint override (fauxqs, LocalStack); unset on AWS",
  CHECKPOINT_S3_RETENTION_DAYS: "Object Lock retention of anchored checkpoints",
  CHECKPOINT_ANCHOR_FILE: "also append every new checkpoint to this local file",
  ARCHIVE_S3_BUCKET:
    "bucket for archive-enabled tenants that name none (`pnpm start`: a bucket on the emulator); unset: such tenants' expired events are kept, not deleted",
  ARCHIVE_S3_ENDPOINT: "S3 endpoint override for archives (fauxqs, LocalStack); unset on AWS",
  ARCHIVE_S3_SSE: "server-side encryption of archive objects (`AES256` or `aws:kms`)",
  ARCHIVE_S3_KMS_KEY_ID: "KMS key for `ARCHIVE_S3_SSE=aws:kms`; unset: the bucket's default key",
  ARCHIVE_OBJECT_LOCK_DAYS:
    "Object Lock retention (COMPLIANCE) of archive objects when the bucket has Object Lock; 0 = the bucket's default rule",
  ARCHIVE_OBJECT_MAX_EVENTS:
    "most events per archive object (an object also ends at 32 MiB of NDJSON or a seq gap)",
  VIGIL_FAULT_ARCHIVE_KILL:
    "fault injection for the archive crash tests (`after_objects:<n>`, `after_delete:<n>`, `after_commit:<n>`); never set in production",
  VIGIL_FAULT_KILL_AFTER_COMMIT_EVERY:
    "fault injection for the crash tests (worker SIGKILLs itself after every Nth commit); never set in production",
};

function describeDefault(variable: Variable, defaults: Record<string, unknown>): string {
  if (variable in REQUIRED_FOR_DOCS) return "**required**";
  const value = defaults[variable];
  if (value === undefined) return "—";
  if (Array.isArray(value)) return value.length ? `\`${value.join(",")}\`` : "—";
  return `\`${String(value)}\``;
}

/** The README's configuration table, built from the schema. */
export function configReferenceMarkdown(): string {
  const defaults = loadConfig({ ...REQUIRED_FOR_DOCS }) as unknown as Record<string, unknown>;
  const rows = (Object.keys(configSchema.shape) as Variable[]).map(
    (variable) =>
      `| \`${variable}\` | ${describeDefault(variable, defaults)} | ${CONFIG_DESCRIPTIONS[variable]} |`,
  );
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}
