// The bare pipeline: the least a queue-backed ingest can do, measured in the same run as Vigil so
// the ratio between them is what Vigil's guarantees cost. An HTTP bulk endpoint (Hono, like the api)
// puts the request's events on the same SQS emulator, and a worker (same pollers) inserts them into
// the same `events` table with all its indexes — with no authentication, validation, redaction,
// hashing, per-tenant seq, dedupe, rollups or NOTIFY. `startBarePipeline()` spawns this file twice
// (role api and role worker) as separate processes; stop them with `stop()`.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { serve } from "@hono/node-server";
import { freePort } from "@vigil/testkit/ports";
import { REPO_ROOT, TSX_LOADER } from "@vigil/testkit/services";
import { Hono } from "hono";
import postgres from "postgres";

export const BARE_TENANT = "00000000-0000-7000-8000-00000000ba0e";

interface BareConfig {
  role: "api" | "worker";
  port: number;
  sqsEndpoint: string;
  queueUrl: string;
  databaseUrl: string;
  pollers: number;
}

export interface BarePipeline {
  url: string;
  apiPid: number;
  workerPid: number;
  storedCount: () => Promise<number>;
  stop: () => Promise<void>;
}

function spawnRole(config: BareConfig): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", TSX_LOADER, fileURLToPath(import.meta.url), JSON.stringify(config)],
    {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    },
  );
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve(child));
    child.on("exit", (code) => reject(new Error(`bare ${config.role} exited (${code})`)));
  });
}

export async function startBarePipeline(options: {
  sqsEndpoint: string;
  queueUrl: string;
  databaseUrl: string;
  pollers: number;
}): Promise<BarePipeline> {
  const sql = postgres(options.databaseUrl, { max: 1, onnotice: () => {} });
  await sql`create sequence if not exists bench_bare_seq`;
  const port = await freePort();
  const api = await spawnRole({ role: "api", port, ...options });
  const worker = await spawnRole({ role: "worker", port: 0, ...options });
  const stop = async (child: ChildProcess) => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    apiPid: api.pid!,
    workerPid: worker.pid!,
    storedCount: async () => {
      const [row] = await sql<
        { n: number }[]
      >`select count(*)::int as n from events where tenant_id = ${BARE_TENANT}`;
      return row!.n;
    },
    stop: async () => {
      await Promise.all([stop(api), stop(worker)]);
      await sql.end();
    },
  };
}

/** SQS allows 1 MiB per SendMessageBatch call; ~200 events of ~650 bytes per message, 4 messages a call. */
const EVENTS_PER_MESSAGE = 200;

function runApi(config: BareConfig, sqs: SQSClient) {
  const app = new Hono();
  app.post("/bulk", async (c) => {
    const events = (await c.req.json()) as unknown[];
    const bodies: string[] = [];
    for (let start = 0; start < events.length; start += EVENTS_PER_MESSAGE)
      bodies.push(JSON.stringify(events.slice(start, start + EVENTS_PER_MESSAGE)));
    for (let start = 0; start < bodies.length; start += 4) {
      const answer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: config.queueUrl,
          Entries: bodies
            .slice(start, start + 4)
            .map((body, index) => ({ Id: String(index), MessageBody: body })),
        }),
      );
      if (answer.Failed?.length) return c.json({ error: "queue" }, 503);
    }
    return c.json({ accepted: events.length }, 202);
  });
  serve({ fetch: app.fetch, hostname: "127.0.0.1", port: config.port }, () =>
    process.stdout.write("ready\n"),
  );
}

function runWorker(config: BareConfig, sqs: SQSClient) {
  const sql = postgres(config.databaseUrl, { max: config.pollers, onnotice: () => {} });
  let stopping = false;
  const poll = async () => {
    while (!stopping) {
      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: config.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) continue;
      const events = messages.flatMap((message) => JSON.parse(message.Body!) as unknown[]);
      // Only what the table needs: defaults for absent fields, a global sequence for seq, no hashes.
      await sql`
        insert into events (tenant_id, id, seq, occurred_at, received_at, action_type, action, resource_type,
          resource_id, user_id, session_id, ip_address, user_agent, severity, outcome, before_state, after_state,
          metadata, redacted, hash, chain_hash)
        select ${BARE_TENANT}::uuid, gen_random_uuid(), nextval('bench_bare_seq'), coalesce(e.occurred_at, now()), now(),
          e.action_type, coalesce(e.action, e.resource_type || '.' || lower(e.action_type)), e.resource_type,
          e.resource_id, e.user_id, e.session_id, e.ip_address::inet, e.user_agent, coalesce(e.severity, 'INFO'),
          coalesce(e.outcome, 'success'), e.before_state, e.after_state, e.metadata, '{}', '', ''
        from jsonb_to_recordset(${sql.json(events as postgres.JSONValue)}) as e(occurred_at timestamptz, action_type text,
          action text, resource_type text, resource_id text, user_id text, session_id text, ip_address text,
          user_agent text, severity text, outcome text, before_state jsonb, after_state jsonb, metadata jsonb)`;
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: config.queueUrl,
          Entries: messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle!,
          })),
        }),
      );
    }
  };
  for (let i = 0; i < config.pollers; i++)
    void poll().catch((error) => {
      process.stderr.write(`bare worker: ${error?.stack ?? error}\n`);
      process.exit(1);
    });
  process.on("SIGTERM", () => {
    stopping = true;
    setTimeout(() => process.exit(0), 1500);
  });
  process.stdout.write("ready\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = JSON.parse(process.argv[2] ?? "{}") as BareConfig;
  const sqs = new SQSClient({
    endpoint: config.sqsEndpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  });
  if (config.role === "api") {
    runApi(config, sqs);
    process.on("SIGTERM", () => process.exit(0));
  } else runWorker(config, sqs);
}
