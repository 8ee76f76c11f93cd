// The only module that reads the environment. Every service parses its configuration here at
// start-up and exits with a message naming the bad variable, so a misconfigured process never runs.
import { config as loadDotenv } from "dotenv";
import { z } from "zod";
import { DEFAULT_REDACT_KEYS } from "../events/event-constants.ts";

const csv = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value) =>
      value
        .split(",")
        .map((item) => item.trim())
        .filter(Boolean),
    );

const booleanFlag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0"])
    .default(fallback ? "true" : "false")
    .transform((value) => value === "true" || value === "1");

/** An address a mail client accepts (HTML5's rule), so the default `admin@localhost` is valid too. */
const adminEmail = () => z.email({ pattern: z.regexes.html5Email }).default("admin@localhost");

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Also write the JSON log lines to this file (rotated by pino-roll); `{service}` becomes the service name. */
  LOG_FILE: z.string().min(1).optional(),
  LOG_FILE_MAX_SIZE: z
    .string()
    .regex(/^\d+[kmg]?$/i, "a size such as 500k, 10m or 1g")
    .default("10m"),
  LOG_FILE_FREQUENCY: z.enum(["daily", "hourly", "none"]).default("daily"),
  LOG_FILE_KEEP: z.coerce.number().int().min(1).max(1000).default(7),
  HOST: z.string().min(1).default("127.0.0.1"),
  API_PORT: port(8080),
  STREAMER_PORT: port(8081),
  WORKER_METRICS_PORT: port(8082),

  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  DATABASE_ADMIN_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** Longest a single statement may run (0 = no limit); set on the api's and worker's connections. */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  /** A transaction left idle this long is ended by PostgreSQL and its connection closed (0 = no limit). */
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(0).default(60_000),
  /** Exports running at once per api process; more are refused with 429 (each holds a connection). */
  EXPORT_MAX_CONCURRENT: z.coerce.number().int().min(1).default(4),
  /** Exports running at once per tenant per api process. */
  EXPORT_MAX_CONCURRENT_PER_TENANT: z.coerce.number().int().min(1).default(2),
  /** An export whose client reads nothing for this long is ended (COPY cancelled, connection released). */
  EXPORT_STALL_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),

  AWS_REGION: z.string().min(1).default("us-east-1"),
  SQS_ENDPOINT: z.url().optional(),
  SQS_QUEUE_URL: z.url(),
  SQS_DLQ_URL: z.url().optional(),
  QUEUE_PUBLISH_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(3),

  OPENSEARCH_URL: z.url().optional(),
  OPENSEARCH_INDEX_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default("vigil-events"),
  /** Which store answers GET /api/v1/logs; `opensearch` needs OPENSEARCH_URL. The worker indexes whenever OPENSEARCH_URL is set. */
  SEARCH_BACKEND: z.enum(["postgres", "opensearch"]).default("postgres"),
  /** With OPENSEARCH_URL: how often the worker re-indexes gaps and reconciles counts (index-repair.ts). */
  SEARCH_REPAIR_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(30),
  /** Gap events younger than this are left to the after-commit feed. */
  SEARCH_REPAIR_GRACE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(30),

  VIGIL_REDACT_KEYS: csv(DEFAULT_REDACT_KEYS.join(",")),
  VIGIL_ADMIN_EMAIL: adminEmail(),
  VIGIL_ADMIN_PASSWORD: z.string().min(12).optional(),
  VIGIL_JWT_ISSUER: z.string().min(1).default("vigil"),
  VIGIL_JWT_AUDIENCE: z.string().min(1).default("vigil-api"),
  VIGIL_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  VIGIL_REFRESH_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(30 * 86_400),
  VIGIL_EXTERNAL_JWKS_URL: z.url().optional(),
  VIGIL_EXTERNAL_JWT_HS256_SECRET: z.string().min(32).optional(),
  VIGIL_EXTERNAL_JWT_ISSUER: z.string().optional(),
  VIGIL_EXTERNAL_JWT_AUDIENCE: z.string().optional(),
  VIGIL_EXTERNAL_TENANT_CLAIM: z.string().default("tenant_id"),
  VIGIL_EXTERNAL_ROLE_CLAIM: z.string().default("role"),
  /** Algorithms accepted from VIGIL_EXTERNAL_JWKS_URL (pinned; the HS256 secret always means HS256). */
  VIGIL_EXTERNAL_JWT_ALGORITHMS: csv("RS256").pipe(
    z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"])).min(1),
  ),
  /** When set, signing keys' private halves are stored AES-256-GCM encrypted with a key derived from it. */
  VIGIL_SIGNING_KEY_SECRET: z.string().min(16).optional(),
  /** Failed logins allowed per account and per client IP within one window before 429. */
  VIGIL_LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
  VIGIL_LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(50),
  VIGIL_LOGIN_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  /** Failed authentications (any credential) per client IP per window, per process, before 429. */
  VIGIL_AUTH_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(100),
  VIGIL_AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** Older form of VIGIL_TRUSTED_PROXY_HOPS: `true` means one proxy (auth/client-address.ts). */
  VIGIL_TRUST_PROXY: booleanFlag(false),
  /** Proxies in front that append to X-Forwarded-For; the client is that many entries from the right. */
  VIGIL_TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).optional(),
  CORS_ORIGINS: csv(""),
  STREAM_ALLOWED_ORIGINS: csv(""),
  /** Where the console's live tail opens the stream; default: the console's host on STREAMER_PORT. */
  CONSOLE_STREAM_URL: z.url({ protocol: /^wss?$/ }).optional(),
  /** Lifetime of the live tail's stream-only tokens; the page renews the token before it lapses. */
  CONSOLE_STREAM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(2).max(3_600).default(60),
  /** The api's public base URL (for viewer-token `url`s); default: the origin of the request. */
  VIGIL_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),

  RATE_LIMIT_PER_KEY_RPS: z.coerce.number().positive().default(200),
  RATE_LIMIT_PER_KEY_BURST: z.coerce.number().int().positive().default(400),
  RATE_LIMIT_PER_TENANT_RPS: z.coerce.number().positive().default(500),
  RATE_LIMIT_PER_TENANT_BURST: z.coerce.number().int().positive().default(1000),

  INGEST_WAIT_TIMEOUT_MS: z.coerce.number().int().min(100).max(10_000).default(10_000),
  WORKER_POLLERS: z.coerce.number().int().min(1).max(64).default(4),
  WORKER_VISIBILITY_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(43_200).default(60),
  WORKER_WAIT_TIME_SECONDS: z.coerce.number().int().min(0).max(20).default(2),
  RETENTION_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(3600),
  STREAM_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  STREAM_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(10_000),
  STREAM_MAX_CONNECTIONS_PER_TENANT: z.coerce.number().int().min(1).default(1000),
  /** Backstop re-check of every open stream's credential; changes normally arrive by NOTIFY at once. */
  STREAM_AUTH_RECHECK_SECONDS: z.coerce.number().int().min(1).max(3600).default(10),
  /** Stream upgrade attempts per minute (token buckets, per streamer process). */
  STREAM_UPGRADES_PER_MINUTE_PER_IP: z.coerce.number().int().min(1).default(600),
  STREAM_UPGRADES_PER_MINUTE_PER_CREDENTIAL: z.coerce.number().int().min(1).default(600),
  STREAM_PING_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
  METRICS_ENABLED: booleanFlag(true),

  /** Provable history (spec §13): checkpoint origin is `<VIGIL_LOG_ORIGIN>/<tenant_id>`. */
  VIGIL_LOG_ORIGIN: z
    .string()
    .regex(
      /^[^\s+/][^\s+]*[^\s+/]$|^[^\s+/]$/,
      "must be a log origin like vigil.example.com/log (no spaces or +)",
    )
    .default("vigil.localhost"),
  /** Checkpoint signing keys (note signer keys `PRIVATE+KEY+name+id+key`), comma-separated; the first is current. */
  CHECKPOINT_SIGNING_KEY: z.string().optional(),
  /** A file holding checkpoint signing keys, one per line (read at start; never stored in the database). */
  CHECKPOINT_SIGNING_KEY_FILE: z.string().optional(),
  CHECKPOINT_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Each new checkpoint is also written to this bucket (Object Lock retention when the bucket has it). */
  CHECKPOINT_S3_BUCKET: z.string().min(3).optional(),
  CHECKPOINT_S3_ENDPOINT: z.url().optional(),
  CHECKPOINT_S3_RETENTION_DAYS: z.coerce.number().int().min(1).default(3650),
  /** Each new checkpoint is also appended to this local file. */
  CHECKPOINT_ANCHOR_FILE: z.string().optional(),
  /** Log streams (spec §12): how often each worker looks for streams behind their tenant's head. */
  LOG_STREAM_POLL_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  LOG_STREAM_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
  LOG_STREAM_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  LOG_STREAM_MAX_CONCURRENT: z.coerce.number().int().min(1).max(256).default(8),
  LOG_STREAM_BACKOFF_BASE_MS: z.coerce.number().int().min(1).default(500),
  LOG_STREAM_BACKOFF_MAX_MS: z.coerce.number().int().min(1).default(300_000),
  LOG_STREAM_DEAD_AFTER_SECONDS: z.coerce.number().int().min(1).default(86_400),
  /** Unset: private/loopback targets are allowed except when NODE_ENV=production. */
  LOG_STREAM_ALLOW_PRIVATE_TARGETS: z
    .enum(["true", "false", "1", "0"])
    .transform((value) => value === "true" || value === "1")
    .optional(),
  LOG_STREAM_S3_ENDPOINT: z.url().optional(),
  /** Archive before deletion (spec §12): the bucket of archive-enabled tenants that name none. */
  ARCHIVE_S3_BUCKET: z.string().min(3).optional(),
  ARCHIVE_S3_ENDPOINT: z.url().optional(),
  /** Server-side encryption of archive objects; `aws:kms` uses ARCHIVE_S3_KMS_KEY_ID (or the bucket's key). */
  ARCHIVE_S3_SSE: z.enum(["AES256", "aws:kms"]).default("AES256"),
  ARCHIVE_S3_KMS_KEY_ID: z.string().min(1).optional(),
  /** Object Lock retention of archive objects when the bucket has Object Lock (0: the bucket's default). */
  ARCHIVE_OBJECT_LOCK_DAYS: z.coerce.number().int().min(0).max(36_500).default(365),
  /** Most events in one archive object (objects also end at 32 MiB of NDJSON or a seq gap). */
  ARCHIVE_OBJECT_MAX_EVENTS: z.coerce.number().int().min(1).max(100_000).default(10_000),
  /**
   * Fault injection for the archive crash tests: `<point>:<n>` SIGKILLs the process at that point of
   * its nth archive run (after_objects: objects and manifest written, no row deleted; after_delete:
   * rows deleted inside the transaction, before its records are written). Never set in production.
   */
  VIGIL_FAULT_ARCHIVE_KILL: z
    .string()
    .regex(
      /^(after_objects|after_delete|after_commit):[1-9][0-9]*$/,
      "must be after_objects:<n>, after_delete:<n> or after_commit:<n>",
    )
    .optional(),
  /**
   * Fault injection for the crash tests: the worker SIGKILLs itself after every Nth committed batch,
   * before deleting its messages (the window idempotency must cover). 0 = off; never set in production.
   */
  VIGIL_FAULT_KILL_AFTER_COMMIT_EVERY: z.coerce.number().int().min(0).default(0),
});

export type VigilConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n  ${issues.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Files read (in order, never overriding real variables) when configuration comes from the environment. */
export const ENV_FILES = [".env", ".vigil/dev.env"];

/** Parses configuration from an explicit map (tests) or from the environment plus `.env` files. */
export function loadConfig(source?: Record<string, string | undefined>): VigilConfig {
  let env = source;
  if (!env) {
    loadDotenv({ quiet: true, path: ENV_FILES });
    env = process.env;
  }
  // Empty strings mean "unset", as they do in docker-compose files and shells.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ""),
  );
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
    );
  }
  // Tokens from an outside identity provider are accepted only with their issuer and audience pinned.
  if (parsed.data.VIGIL_EXTERNAL_JWKS_URL || parsed.data.VIGIL_EXTERNAL_JWT_HS256_SECRET) {
    const missing = (["VIGIL_EXTERNAL_JWT_ISSUER", "VIGIL_EXTERNAL_JWT_AUDIENCE"] as const).filter(
      (name) => !parsed.data[name],
    );
    if (missing.length)
      throw new ConfigError(missing.map((name) => `${name}: is required when external tokens are accepted`));
  }
  if (parsed.data.SEARCH_BACKEND === "opensearch" && !parsed.data.OPENSEARCH_URL) {
    throw new ConfigError(["SEARCH_BACKEND: `opensearch` requires OPENSEARCH_URL"]);
  }
  return parsed.data;
}

/**
 * `pnpm vigil monitor` runs anywhere, without the services' configuration: its read-scope API key
 * may come from VIGIL_API_KEY (environment or .env) instead of the command line.
 */
export function monitorCredentialFromEnvironment(): string | undefined {
  loadDotenv({ quiet: true, path: ENV_FILES });
  return process.env.VIGIL_API_KEY || undefined;
}

/**
 * `pnpm vigil archive verify` checks a bucket offline: it needs only the archive's S3 settings,
 * not the services' database and queue.
 */
export function archiveSettingsFromEnvironment() {
  loadDotenv({ quiet: true, path: ENV_FILES });
  const cleaned = Object.fromEntries(Object.entries(process.env).filter(([, value]) => value));
  const parsed = configSchema
    .pick({ AWS_REGION: true, ARCHIVE_S3_BUCKET: true, ARCHIVE_S3_ENDPOINT: true })
    .safeParse(cleaned);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  return parsed.data;
}

/** For service entry points: load or print the named problem and exit non-zero. */
export function loadConfigOrExit(): VigilConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/** Settings of the embedded run mode (`pnpm start`), which owns PostgreSQL and the SQS emulator. */
export const devStackSchema = z.object({
  VIGIL_DEV_PG_PORT: port(54329),
  VIGIL_DEV_SQS_PORT: port(4566),
  VIGIL_DEV_DATA_DIR: z.string().default(".vigil"),
  API_PORT: port(8080),
  STREAMER_PORT: port(8081),
  WORKER_METRICS_PORT: port(8082),
  VIGIL_ADMIN_EMAIL: adminEmail(),
  VIGIL_ADMIN_PASSWORD: z.string().min(12).optional(),
  LOG_LEVEL: z.string().default("info"),
  /** Passed to each service with `{service}` replaced by the replica's name (api-1, worker-2, …). */
  LOG_FILE: z.string().min(1).optional(),
});

export type DevStackConfig = z.infer<typeof devStackSchema>;

export function loadDevStackConfig(): DevStackConfig {
  loadDotenv({ quiet: true, path: ".env" });
  const parsed = devStackSchema.safeParse(
    Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== "")),
  );
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  return parsed.data;
}

/** The environment a child process inherits (PATH and friends), for launchers that spawn services. */
export function inheritedEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/**
 * The AWS SDK warns once per process that its 2027 releases need Node 22. The lockfile pins a
 * release that supports Node 20 (see README, known limits), so launchers that own their children's
 * output silence it rather than print it on every start.
 */
export function silenceAwsSdkNodeVersionWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
}
