#!/usr/bin/env -S node --import tsx
// `pnpm vigil <command>`: operator commands. Configuration comes from the environment (or, in the
// embedded mode, from .vigil/dev.env written by `pnpm start`).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { API_KEY_SCOPES, type ApiKeyScope, createApiKey } from "@vigil/shared/auth/api-keys";
import { rotateSigningKey } from "@vigil/shared/auth/signing-keys";
import { ConfigError, loadConfig, monitorCredentialFromEnvironment } from "@vigil/shared/config/config";
import { configReferenceMarkdown } from "@vigil/shared/config/config-docs";
import { Database } from "@vigil/shared/db/database";
import { migrateToLatest } from "@vigil/shared/db/migrate";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { createLogger } from "@vigil/shared/logging/logger";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { EventQueue } from "@vigil/shared/queue/event-queue";
import { openSearchTarget } from "@vigil/shared/search/opensearch/opensearch-client";
import { reindexTenant } from "@vigil/shared/search/opensearch/reindex-tenant";
import { createTenant } from "@vigil/shared/tenants/tenants";
import { backfillTree } from "@vigil/shared/tlog/backfill-tree";
import { checkpointAnchorsFromConfig } from "@vigil/shared/tlog/checkpoint-anchors";
import { loadCheckpointSigner } from "@vigil/shared/tlog/checkpoint-signer";
import { Checkpointer } from "@vigil/shared/tlog/checkpointer";
import { monitorCheckpoints } from "@vigil/shared/tlog/monitor";
import { bootstrapPlatform } from "@vigil/shared/users/bootstrap-platform";
import { parseSignerKey, signerKey, verifierKeyOf } from "@vigil/verify";
import { ARCHIVE_USAGE, ArchiveUsageError, runArchiveCommand } from "./archive-command.ts";
import { CLIENT_USAGE, isClientCommand, runClientCli } from "./client-commands.ts";

const USAGE = `usage: pnpm vigil <command> [options]

  migrate                                   apply pending database migrations (DATABASE_ADMIN_URL)
  tenant create --name N [--retention-days D] create a tenant and an ingest+read API key
  key create --tenant ID [--scopes ingest,read] [--name N]   issue an API key (shown once)
  dlq replay [--limit N]                    move dead-lettered messages back to the event queue
  verify --tenant ID                        recompute hashes, the chain and the Merkle tree of a tenant's log
  checkpoint --tenant ID                    sign a checkpoint of the tenant's tree now (CHECKPOINT_SIGNING_KEY)
  tlog backfill [--tenant ID]               append history stored before the Merkle tree existed (seq order)
  monitor --tenant ID --state FILE [--url U] [--key VERIFIER_KEY]... [--api-key-file F]
                                            check the latest checkpoint's signature and its consistency with
                                            the last one seen; exits 2 on a fork or rollback (key: --api-key-file
                                            or VIGIL_API_KEY)
  admin bootstrap                           create the platform admin (VIGIL_ADMIN_EMAIL/PASSWORD) if none exists
  keys rotate                               add a new token signing key; old ones verify until their tokens expire
  checkpoint-key new --name N               print a new checkpoint signing key (line 1, for CHECKPOINT_SIGNING_KEY;
                                            keep it out of the database) and its verifier key (line 2, publish it)
  opensearch reindex --tenant ID [--from T] [--to T]   rebuild a tenant's search index from PostgreSQL
  config docs                               print the configuration reference (markdown)
${ARCHIVE_USAGE}
${CLIENT_USAGE}`;

const ONE_WORD_COMMANDS = new Set(["migrate", "verify", "checkpoint", "monitor"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function main(argv: string[]): Promise<number> {
  // Help needs no configuration: it is what someone without any reads first.
  if (argv.length === 0 || ["help", "--help", "-h"].includes(argv[0]!)) {
    (argv.length === 0 ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return argv.length === 0 ? 64 : 0;
  }
  if (isClientCommand(argv)) return runClientCli(argv);
  if (argv[0] === "archive") return runArchiveCommand(argv.slice(1));
  const [command, sub, ...rest] = argv;
  const { values } = parseArgs({
    // One-word commands (`migrate`, `verify`) take their options right after the command.
    args: ONE_WORD_COMMANDS.has(command ?? "") ? argv.slice(1) : rest,
    options: {
      name: { type: "string" },
      "retention-days": { type: "string" },
      tenant: { type: "string" },
      scopes: { type: "string" },
      limit: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      state: { type: "string" },
      url: { type: "string" },
      key: { type: "string", multiple: true },
      "api-key-file": { type: "string" },
    },
    allowPositionals: true,
  });
  if (command === "config" && sub === "docs") {
    console.log(configReferenceMarkdown());
    return 0;
  }
  if (command === "monitor") return monitor(values);
  if (command === "checkpoint-key" && sub === "new") {
    if (!values.name)
      throw new Error("checkpoint-key new needs --name (your VIGIL_LOG_ORIGIN, e.g. vigil.example.com)");
    const key = await signerKey({ name: values.name, privateKeySeed: new Uint8Array(randomBytes(32)) });
    console.log(key);
    console.log(await verifierKeyOf(await parseSignerKey(key)));
    return 0;
  }
  const config = loadConfig();

  if (command === "migrate") {
    const url = config.DATABASE_ADMIN_URL ?? config.DATABASE_URL;
    const result = await migrateToLatest(url);
    const applied =
      result.results?.filter((item) => item.status === "Success").map((item) => item.migrationName) ?? [];
    console.log(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
    return 0;
  }

  if (command === "dlq" && sub === "replay") {
    const queue = new EventQueue({
      queueUrl: config.SQS_QUEUE_URL,
      dlqUrl: config.SQS_DLQ_URL,
      region: config.AWS_REGION,
      endpoint: config.SQS_ENDPOINT,
    });
    const moved = await queue.replayDeadLetters(values.limit ? Number(values.limit) : undefined);
    queue.close();
    console.log(`replayed ${moved} message(s) from the dead-letter queue`);
    return 0;
  }

  const db = new Database({ url: config.DATABASE_URL, poolSize: 2, applicationName: "vigil-cli" });
  try {
    if (command === "tenant" && sub === "create") {
      if (!values.name) throw new UsageError("--name is required");
      const tenant = await createTenant(db.sql, {
        name: values.name,
        retention_days: values["retention-days"] ? Number(values["retention-days"]) : undefined,
      });
      const { key } = await createApiKey(db.sql, {
        tenantId: tenant.id,
        name: "default",
        scopes: ["ingest", "read"],
        createdBy: "cli",
      });
      console.log(
        JSON.stringify({ tenant, api_key: key, note: "the key is shown once; store it now" }, null, 2),
      );
      return 0;
    }
    if (command === "key" && sub === "create") {
      if (!values.tenant) throw new UsageError("--tenant is required");
      const scopes = (values.scopes ?? "ingest,read").split(",").map((scope) => scope.trim());
      const unknown = scopes.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
      if (unknown.length) throw new UsageError(`unknown scope(s): ${unknown.join(", ")}`);
      const { key, record } = await createApiKey(db.sql, {
        tenantId: values.tenant,
        name: values.name ?? "cli",
        scopes: scopes as ApiKeyScope[],
        createdBy: "cli",
      });
      console.log(
        JSON.stringify({ key: record, api_key: key, note: "the key is shown once; store it now" }, null, 2),
      );
      return 0;
    }
    if (command === "opensearch" && sub === "reindex") {
      if (!values.tenant) throw new UsageError("--tenant is required");
      if (!config.OPENSEARCH_URL) throw new UsageError("OPENSEARCH_URL is not set");
      for (const [name, value] of [
        ["--from", values.from],
        ["--to", values.to],
      ] as const) {
        if (value !== undefined && Number.isNaN(Date.parse(value)))
          throw new UsageError(`${name} must be an RFC 3339 date-time`);
      }
      const target = openSearchTarget(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX_PREFIX);
      const report = await reindexTenant(
        db,
        target,
        tenantScope(values.tenant),
        { from: values.from, to: values.to },
        {
          onPage: (progress) =>
            process.stderr.write(
              `reindexed ${progress.indexed}/${progress.read} (seq ${progress.last_seq})\n`,
            ),
        },
      );
      await target.client.close();
      console.log(JSON.stringify(report, null, 2));
      return report.failed === 0 ? 0 : 3;
    }
    if (command === "admin" && sub === "bootstrap") {
      const result = await bootstrapPlatform(db.sql, {
        adminEmail: config.VIGIL_ADMIN_EMAIL,
        adminPassword: config.VIGIL_ADMIN_PASSWORD,
        signingKeySecret: config.VIGIL_SIGNING_KEY_SECRET,
      });
      for (const line of result.lines) console.log(line);
      return 0;
    }
    if (command === "keys" && sub === "rotate") {
      const kid = await rotateSigningKey(db.sql, config.VIGIL_SIGNING_KEY_SECRET);
      console.log(
        JSON.stringify(
          {
            signing_key: kid,
            note: "new tokens are signed with this key within 30 s on every replica; older keys keep verifying until their tokens expire",
          },
          null,
          2,
        ),
      );
      return 0;
    }
    if (command === "checkpoint") {
      const tenant = values.tenant;
      if (!tenant || !UUID.test(tenant)) throw new UsageError("--tenant <tenant id (UUID)> is required");
      const signer = await loadCheckpointSigner(config);
      if (!signer)
        throw new UsageError("no CHECKPOINT_SIGNING_KEY or CHECKPOINT_SIGNING_KEY_FILE is configured");
      const checkpointer = new Checkpointer(db, {
        origin: config.VIGIL_LOG_ORIGIN,
        signer,
        anchors: checkpointAnchorsFromConfig(config),
        logger: createLogger("cli", config.LOG_LEVEL),
      });
      const { checkpoint, created } = await checkpointer.signTenant(tenantScope(tenant));
      process.stderr.write(
        created ? "signed a new checkpoint\n" : "the tree has not grown; latest checkpoint:\n",
      );
      process.stdout.write(checkpoint.note);
      return 0;
    }
    if (command === "tlog" && sub === "backfill") {
      const tenants = values.tenant
        ? [values.tenant]
        : (
            await db.sql<
              { tenant_id: string }[]
            >`select tenant_id from vigil_tlog_pending() where tree_size < last_seq`
          ).map((row) => row.tenant_id);
      for (const tenant of tenants) {
        await backfillTree(db, tenantScope(tenant), (progress) =>
          process.stderr.write(`tenant ${tenant}: tree ${progress.tree_size}/${progress.last_seq}\n`),
        );
      }
      console.log(`backfilled ${tenants.length} tenant(s)`);
      return 0;
    }
    if (command === "verify") {
      const tenant = values.tenant;
      if (!tenant || !UUID.test(tenant)) throw new UsageError("--tenant <tenant id (UUID)> is required");
      // The checkpoint must verify with the configured keys (never keys read from the database).
      const signer = await loadCheckpointSigner(config);
      const report = await verifyTenantLog(db, tenantScope(tenant), {
        checkpointKeys: signer?.keys.map((key) => key.verifier_key),
        origin: config.VIGIL_LOG_ORIGIN,
      });
      console.log(JSON.stringify(report, null, 2));
      return report.ok ? 0 : 3;
    }
    throw new UsageError(
      command ? `unknown command: ${[command, sub].filter(Boolean).join(" ")}` : "no command given",
    );
  } finally {
    await db.close();
  }
}

class UsageError extends Error {}

/** `pnpm vigil monitor`: needs only HTTP access to the api, no database or queue configuration. */
async function monitor(values: {
  tenant?: string;
  state?: string;
  url?: string;
  key?: string[];
  "api-key-file"?: string;
}): Promise<number> {
  if (!values.tenant || !UUID.test(values.tenant))
    throw new UsageError("--tenant <tenant id (UUID)> is required");
  if (!values.state)
    throw new UsageError("--state <file> is required (where the last checkpoint seen is kept)");
  const credential = values["api-key-file"]
    ? readFileSync(values["api-key-file"], "utf8").trim()
    : monitorCredentialFromEnvironment();
  if (!credential)
    throw new UsageError("give an API key with the read scope: --api-key-file F or VIGIL_API_KEY");
  const result = await monitorCheckpoints({
    baseUrl: values.url ?? "http://127.0.0.1:8080",
    tenantId: values.tenant.toLowerCase(),
    credential,
    stateFile: values.state,
    verifierKeys: values.key,
  });
  (result.ok ? process.stdout : process.stderr).write(`${result.ok ? "ok" : "ALERT"}: ${result.message}\n`);
  return result.ok ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof UsageError || error instanceof ArchiveUsageError)
      process.stderr.write(`${error.message}\n\n${USAGE}`);
    else if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`);
    else process.stderr.write(`vigil: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof UsageError || error instanceof ArchiveUsageError ? 64 : 1);
  },
);
