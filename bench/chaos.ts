// `pnpm chaos`: the embedded stack with replicas (2 api, 3 workers, 2 streamers by default) under the
// launcher's supervisor, while events are ingested through every api replica: workers and streamers
// are kill -9'd at random moments, PostgreSQL is restarted once, and stream subscribers reconnect with
// `since`. At the end, per tenant: every accepted event is stored exactly once, `seq` is gapless, the
// integrity verifier passes, and every subscriber saw the whole sequence with no gap or duplicate.
// A summary table is printed and written to bench/results/chaos-<date>.{md,json}.
//
//   pnpm chaos                                # 200,000 events, 30 kills, 20 subscribers
//   pnpm chaos --events=5000 --kills=3        # the short variant the test suite runs
//   knobs: --tenants=8 --subscribers=20 --api=2 --workers=3 --streamers=2 --batch=500 --clients=6
//          --pg-restarts=1 --seed=1 --out=bench/results
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type EmbeddedStack, startEmbeddedStack } from "@vigil/devstack/stack";
import type { ServiceInstance } from "@vigil/devstack/supervisor";
import { createApiKey } from "@vigil/shared/auth/api-keys";
import { silenceAwsSdkNodeVersionWarning } from "@vigil/shared/config/config";
import { Database } from "@vigil/shared/db/database";
import { verifyTenantLog } from "@vigil/shared/integrity/verify-tenant-log";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { createTenant } from "@vigil/shared/tenants/tenants";
import { sampleEvent } from "@vigil/testkit/events";
import { freePort } from "@vigil/testkit/ports";
import { openStream, type StreamClient } from "../services/streamer/test/stream-client.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface ChaosOptions {
  events: number;
  kills: number;
  tenants: number;
  subscribers: number;
  api: number;
  workers: number;
  streamers: number;
  batch: number;
  clients: number;
  pgRestarts: number;
  seed: number;
  /** Folder for the summary (null: do not write one). */
  out: string | null;
  log: (line: string) => void;
}

export interface TenantResult {
  tenant: string;
  accepted: number;
  stored: number;
  distinctIds: number;
  missing: number;
  firstSeq: number | null;
  lastSeq: number | null;
  gapless: boolean;
  verified: boolean;
  subscribersComplete: number;
  subscribers: number;
}

export interface ChaosResult {
  ok: boolean;
  failures: string[];
  events: number;
  accepted: number;
  kills: number;
  killsByKind: Record<string, number>;
  restarts: number;
  pgRestarts: number;
  duplicatesSuppressed: number;
  retriedRequests: number;
  deadLettersReplayed: number;
  subscriberReconnects: number;
  maxLagMs: number;
  ingestSeconds: number;
  settleSeconds: number;
  totalSeconds: number;
  tenants: TenantResult[];
  summary: string;
}

/** Small deterministic PRNG (mulberry32), so a seed replays the same kill schedule and targets. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Tenant {
  id: string;
  key: string;
  accepted: Set<string>;
}

/** A subscriber that reconnects (to any live streamer) with `since` = the last seq it saw. */
class ResumingSubscriber {
  lastSeq = 0;
  received = 0;
  problems: string[] = [];
  reconnects = 0;
  maxLagMs = 0;
  private client: StreamClient | undefined;
  private stopped = false;

  constructor(
    readonly tenant: Tenant,
    private readonly streamers: () => ServiceInstance[],
    private readonly pick: () => number,
  ) {}

  async run(): Promise<void> {
    while (!this.stopped) {
      const live = this.streamers().filter((instance) => instance.state === "running");
      if (live.length === 0) {
        await sleep(100);
        continue;
      }
      const streamer = live[Math.floor(this.pick() * live.length)]!;
      try {
        this.client = await openStream(`http://127.0.0.1:${streamer.port}`, {
          token: this.tenant.key,
          query: { since: this.lastSeq },
          keep: "seq",
          onEvent: (event, receivedAt) => {
            if (event.seq !== this.lastSeq + 1)
              this.problems.push(`expected seq ${this.lastSeq + 1}, got ${event.seq}`);
            this.lastSeq = Math.max(this.lastSeq, event.seq);
            this.received++;
            this.maxLagMs = Math.max(this.maxLagMs, receivedAt - Date.parse(event.received_at));
          },
        });
        await this.client.closed;
      } catch {
        // Refused or reset while its streamer was being killed or PostgreSQL restarted: try again.
      }
      this.client = undefined;
      if (!this.stopped) {
        this.reconnects++;
        await sleep(50 + this.pick() * 200);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.client?.close();
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const { log } = options;
  const rand = random(options.seed);
  const started = Date.now();
  const stateDir = mkdtempSync(path.join(tmpdir(), "vigil-chaos-"));
  chmodSync(stateDir, 0o755); // PostgreSQL runs as the OS user `postgres` when this runs as root
  let duplicatesSuppressed = 0;
  let stack: EmbeddedStack | undefined;
  const failures: string[] = [];
  const subscribers: ResumingSubscriber[] = [];
  try {
    const ports = async (count: number) => Promise.all(Array.from({ length: count }, () => freePort()));
    stack = await startEmbeddedStack({
      stateDir,
      pgPort: await freePort(),
      sqsPort: await freePort(),
      replicas: { api: options.api, worker: options.workers, streamer: options.streamers },
      basePorts: { api: 0, worker: 0, streamer: 0 },
      ports: {
        api: await ports(options.api),
        worker: await ports(options.workers),
        streamer: await ports(options.streamers),
      },
      admin: { VIGIL_ADMIN_EMAIL: "admin@localhost", VIGIL_ADMIN_PASSWORD: "chaos-admin-password" },
      inheritedEnv: {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        NODE_ENV: "development",
        LOG_LEVEL: "info",
        HOST: "127.0.0.1",
      },
      // The chaos client is one tenant key hammering bulk requests; the default limits are per
      // credential for real clients, not for a load generator.
      serviceEnv: {
        RATE_LIMIT_PER_KEY_RPS: "100000",
        RATE_LIMIT_PER_KEY_BURST: "100000",
        RATE_LIMIT_PER_TENANT_RPS: "100000",
        RATE_LIMIT_PER_TENANT_BURST: "100000",
        WORKER_WAIT_TIME_SECONDS: "1",
      },
      pgSettings: { fsync: "off", full_page_writes: "off", synchronous_commit: "off" },
      visibilityTimeoutSeconds: 10,
      say: (line) => log(`[stack] ${line}`),
      onOutput: (instance, line) => {
        if (instance.kind === "worker" && line.includes('"batch stored"')) {
          const match = /"duplicates":(\d+)/.exec(line);
          if (match) duplicatesSuppressed += Number(match[1]);
        } else if (line.includes('"level":"error"') || line.includes('"level":"fatal"')) {
          log(`[${instance.id}] ${line.slice(0, 400)}`);
        }
      },
      // Kills at random moments can land twice on one replica before it is up; that is the test,
      // not a crash loop.
      supervisor: { stableAfterMs: 1_000, crashLoopLimit: 20, initialBackoffMs: 100, maxBackoffMs: 2_000 },
    });
    const running = stack;
    await running.supervisor.waitHealthy(120_000);
    log(`[chaos] stack up: ${running.supervisor.instances.map((i) => `${i.id}:${i.port}`).join(" ")}`);

    const db = new Database({ url: running.adminUrl, poolSize: 4, applicationName: "vigil-chaos" });
    const tenants: Tenant[] = [];
    for (let i = 0; i < options.tenants; i++) {
      const tenant = await createTenant(db.sql, { name: `chaos-${i}-${randomUUID().slice(0, 8)}` });
      const { key } = await createApiKey(db.sql, {
        tenantId: tenant.id,
        name: "chaos",
        scopes: ["ingest", "read"],
      });
      tenants.push({ id: tenant.id, key, accepted: new Set() });
    }

    for (let i = 0; i < options.subscribers; i++) {
      subscribers.push(
        new ResumingSubscriber(tenants[i % tenants.length]!, () => running.supervisor.of("streamer"), rand),
      );
    }
    const subscriberRuns = subscribers.map((subscriber) => subscriber.run());

    // Producers: bulk requests with client ids to a random api replica; a failed request is retried
    // with the same ids (idempotent), so "accepted" is exactly what got a 2xx.
    let nextEvent = 0;
    let retriedRequests = 0;
    let acceptedTotal = 0;
    const producer = async () => {
      for (;;) {
        const start = nextEvent;
        if (start >= options.events) return;
        const count = Math.min(options.batch, options.events - start);
        nextEvent += count;
        const tenant = tenants[Math.floor(rand() * tenants.length)]!;
        const batch = Array.from({ length: count }, (_, i) => ({
          ...sampleEvent(start + i),
          id: randomUUID(),
        }));
        const body = JSON.stringify(batch);
        for (let attempt = 1; ; attempt++) {
          const apis = running.supervisor.of("api").filter((instance) => instance.state === "running");
          const api = apis[Math.floor(rand() * apis.length)];
          let status = 0;
          if (api) {
            try {
              const response = await fetch(`http://127.0.0.1:${api.port}/api/v1/logs/bulk`, {
                method: "POST",
                headers: { "Content-Type": "application/json", "X-API-Key": tenant.key },
                body,
                signal: AbortSignal.timeout(30_000),
              });
              status = response.status;
              await response.arrayBuffer();
            } catch {}
          }
          if (status >= 200 && status < 300) {
            for (const event of batch) tenant.accepted.add(event.id);
            acceptedTotal += count;
            break;
          }
          retriedRequests++;
          if (attempt > 200) throw new Error(`bulk request refused ${attempt} times (last status ${status})`);
          await sleep(Math.min(50 * attempt, 1_000));
        }
      }
    };

    // The killer: random workers and streamers, at random moments, spread over the ingest.
    const killTargets = () =>
      running.supervisor.instances.filter(
        (instance) =>
          (instance.kind === "worker" || instance.kind === "streamer") &&
          instance.state === "running" &&
          instance.pid,
      );
    const killsByKind: Record<string, number> = { worker: 0, streamer: 0 };
    let kills = 0;
    let pgRestarts = 0;
    let ingestDone = false;
    const expectedIngestMs = Math.max(options.events / 2.5, 3_000); // ~2,500 events/s on two cores
    const killer = async () => {
      const meanGapMs = expectedIngestMs / Math.max(options.kills, 1);
      while (kills < options.kills) {
        await sleep(meanGapMs * (0.3 + rand() * 1.4));
        const targets = killTargets();
        if (targets.length === 0) continue;
        const target = targets[Math.floor(rand() * targets.length)]!;
        try {
          process.kill(target.pid!, "SIGKILL");
          kills++;
          killsByKind[target.kind] = (killsByKind[target.kind] ?? 0) + 1;
          log(
            `[chaos] kill -9 ${target.id} (pid ${target.pid}) — ${kills}/${options.kills}, ${acceptedTotal} events accepted`,
          );
        } catch {}
      }
    };
    const pgRestarter = async () => {
      for (let i = 1; i <= options.pgRestarts; i++) {
        const threshold = (options.events * i) / (options.pgRestarts + 1);
        while (acceptedTotal < threshold && !ingestDone) await sleep(100);
        log(`[chaos] restarting PostgreSQL (${acceptedTotal} events accepted)`);
        const began = Date.now();
        await running.pg.restart();
        pgRestarts++;
        log(`[chaos] PostgreSQL back after ${Date.now() - began} ms`);
      }
    };

    const ingestStarted = Date.now();
    const chaos = Promise.all([killer(), pgRestarter()]);
    await Promise.all(Array.from({ length: options.clients }, () => producer()));
    ingestDone = true;
    const ingestSeconds = (Date.now() - ingestStarted) / 1000;
    log(`[chaos] ${acceptedTotal} events accepted in ${ingestSeconds.toFixed(1)} s; ${kills} kills so far`);
    await chaos;

    // Settle: every accepted event stored; dead letters (a message received 5 times, each time by a
    // worker that was then killed) are replayed as an operator would (`pnpm vigil dlq replay`).
    const settleStarted = Date.now();
    let deadLettersReplayed = 0;
    const storedCount = async () =>
      Number(
        (
          await db.sql<
            { n: string }[]
          >`select count(*)::bigint as n from events where tenant_id in ${db.sql(tenants.map((t) => t.id))}`
        )[0]!.n,
      );
    for (;;) {
      const stored = await storedCount().catch(() => -1);
      if (stored >= acceptedTotal) break;
      const dlq = await running.queue.depth(running.dlqUrl).catch(() => null);
      if (dlq && dlq.visible > 0) {
        deadLettersReplayed += await running.queue.replayDeadLetters();
        log(`[chaos] replayed ${deadLettersReplayed} dead-lettered message(s)`);
      }
      if (Date.now() - settleStarted > 300_000) {
        failures.push(`only ${stored} of ${acceptedTotal} accepted events stored after 300 s`);
        break;
      }
      await sleep(250);
    }
    // Subscribers catch up to each tenant's last seq.
    const lastSeqs = new Map<string, number>();
    for (const tenant of tenants) {
      const [row] = await db.sql<
        { n: string }[]
      >`select coalesce(max(seq), 0)::bigint as n from events where tenant_id = ${tenant.id}`;
      lastSeqs.set(tenant.id, Number(row!.n));
    }
    const catchUpDeadline = Date.now() + 120_000;
    while (subscribers.some((s) => s.lastSeq < lastSeqs.get(s.tenant.id)!) && Date.now() < catchUpDeadline)
      await sleep(100);
    const settleSeconds = (Date.now() - settleStarted) / 1000;
    for (const subscriber of subscribers) subscriber.stop();
    await Promise.all(subscriberRuns);

    // The verdict, per tenant.
    const results: TenantResult[] = [];
    for (const tenant of tenants) {
      const [summary] = await db.sql<
        { n: string; ids: string; min: string | null; max: string | null; seqs: string }[]
      >`
        select count(*)::bigint as n, count(distinct id)::bigint as ids, min(seq)::bigint as min, max(seq)::bigint as max,
               count(distinct seq)::bigint as seqs
        from events where tenant_id = ${tenant.id}`;
      const storedIds = new Set(
        (await db.sql<{ id: string }[]>`select id from events where tenant_id = ${tenant.id}`).map(
          (row) => row.id,
        ),
      );
      let missing = 0;
      for (const id of tenant.accepted) if (!storedIds.has(id)) missing++;
      const stored = Number(summary!.n);
      const last = summary!.max === null ? null : Number(summary!.max);
      const gapless =
        stored === 0 || (Number(summary!.min) === 1 && last === stored && Number(summary!.seqs) === stored);
      const report = await verifyTenantLog(db, tenantScope(tenant.id));
      const mine = subscribers.filter((s) => s.tenant === tenant);
      const complete = mine.filter(
        (s) => s.problems.length === 0 && s.lastSeq === (last ?? 0) && s.received === (last ?? 0),
      );
      const result: TenantResult = {
        tenant: tenant.id,
        accepted: tenant.accepted.size,
        stored,
        distinctIds: Number(summary!.ids),
        missing,
        firstSeq: summary!.min === null ? null : Number(summary!.min),
        lastSeq: last,
        gapless,
        verified: report.ok,
        subscribersComplete: complete.length,
        subscribers: mine.length,
      };
      results.push(result);
      const name = `tenant ${tenant.id}`;
      if (stored !== tenant.accepted.size || missing > 0 || result.distinctIds !== stored)
        failures.push(
          `${name}: accepted ${tenant.accepted.size}, stored ${stored} (${result.distinctIds} distinct ids, ${missing} accepted ids missing)`,
        );
      if (!gapless)
        failures.push(`${name}: seq not gapless (${result.firstSeq}..${last} for ${stored} rows)`);
      if (!report.ok)
        failures.push(
          `${name}: verifier: ${report.problems
            .slice(0, 3)
            .map((p) => `${p.problem} at ${p.seq}`)
            .join("; ")}`,
        );
      for (const s of mine.filter((s) => !complete.includes(s)))
        failures.push(
          `${name}: a subscriber saw ${s.received} events up to seq ${s.lastSeq} of ${last} (${s.problems.slice(0, 2).join("; ")})`,
        );
    }
    await db.close();

    const restarts = running.supervisor.instances.reduce((sum, instance) => sum + instance.restarts, 0);
    if (kills < options.kills) failures.push(`only ${kills} of ${options.kills} kills happened`);
    const stillDown = running.supervisor.instances.filter((instance) => instance.state === "failed");
    if (stillDown.length) failures.push(`gave up on ${stillDown.map((i) => i.id).join(", ")}`);
    const result: Omit<ChaosResult, "summary"> = {
      ok: failures.length === 0,
      failures,
      events: options.events,
      accepted: acceptedTotal,
      kills,
      killsByKind,
      restarts,
      pgRestarts,
      duplicatesSuppressed,
      retriedRequests,
      deadLettersReplayed,
      subscriberReconnects: subscribers.reduce((sum, s) => sum + s.reconnects, 0),
      maxLagMs: Math.max(0, ...subscribers.map((s) => s.maxLagMs)),
      ingestSeconds,
      settleSeconds,
      totalSeconds: (Date.now() - started) / 1000,
      tenants: results,
    };
    const summary = summaryTable(result, options);
    return { ...result, summary };
  } finally {
    for (const subscriber of subscribers) subscriber.stop();
    await stack?.stopNow();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function summaryTable(result: Omit<ChaosResult, "summary">, options: ChaosOptions): string {
  const n = (value: number) => value.toLocaleString("en-US");
  const rows: Array<[string, string]> = [
    [
      "processes",
      `${options.api} api, ${options.workers} workers, ${options.streamers} streamers (supervised), 1 PostgreSQL, 1 fauxqs`,
    ],
    [
      "events accepted / stored",
      `${n(result.accepted)} / ${n(result.tenants.reduce((s, t) => s + t.stored, 0))} across ${result.tenants.length} tenants`,
    ],
    [
      "kill -9",
      `${result.kills} (${Object.entries(result.killsByKind)
        .map(([kind, count]) => `${count} ${kind}s`)
        .join(", ")})`,
    ],
    ["restarts by the supervisor", String(result.restarts)],
    ["PostgreSQL restarts", String(result.pgRestarts)],
    ["duplicates suppressed (redeliveries stored once)", n(result.duplicatesSuppressed)],
    ["bulk requests retried (503 / reset while PostgreSQL restarted)", n(result.retriedRequests)],
    ["dead-lettered messages replayed", n(result.deadLettersReplayed)],
    ["stream subscribers / reconnects", `${options.subscribers} / ${n(result.subscriberReconnects)}`],
    ["max lag, accepted → delivered to a subscriber", `${(result.maxLagMs / 1000).toFixed(1)} s`],
    [
      "ingest / settle / total",
      `${result.ingestSeconds.toFixed(1)} s / ${result.settleSeconds.toFixed(1)} s / ${result.totalSeconds.toFixed(1)} s`,
    ],
    [
      "per tenant: stored = accepted once, seq gapless, verifier, subscribers complete",
      result.tenants.every(
        (t) =>
          t.stored === t.accepted &&
          t.missing === 0 &&
          t.gapless &&
          t.verified &&
          t.subscribersComplete === t.subscribers,
      )
        ? `PASS (${result.tenants.length}/${result.tenants.length} tenants)`
        : "FAIL",
    ],
    ["verdict", result.ok ? "PASS" : `FAIL: ${result.failures.slice(0, 5).join(" | ")}`],
  ];
  return ["| chaos | result |", "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  silenceAwsSdkNodeVersionWarning();
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "200000" },
      kills: { type: "string", default: "30" },
      tenants: { type: "string", default: "8" },
      subscribers: { type: "string", default: "20" },
      api: { type: "string", default: "2" },
      workers: { type: "string", default: "3" },
      streamers: { type: "string", default: "2" },
      batch: { type: "string", default: "500" },
      clients: { type: "string", default: "6" },
      "pg-restarts": { type: "string", default: "1" },
      seed: { type: "string", default: String(Date.now() % 100_000) },
      out: { type: "string", default: path.join(REPO_ROOT, "bench/results") },
    },
    args: process.argv.slice(2).filter((arg) => arg !== "--"),
  });
  const options: ChaosOptions = {
    events: Number(values.events),
    kills: Number(values.kills),
    tenants: Number(values.tenants),
    subscribers: Number(values.subscribers),
    api: Number(values.api),
    workers: Number(values.workers),
    streamers: Number(values.streamers),
    batch: Number(values.batch),
    clients: Number(values.clients),
    pgRestarts: Number(values["pg-restarts"]),
    seed: Number(values.seed),
    out: values.out,
    log: (line) => process.stdout.write(`${line}\n`),
  };
  const result = await runChaos(options);
  process.stdout.write(`\n${result.summary}\n`);
  if (options.out) {
    mkdirSync(options.out, { recursive: true });
    const name = `chaos-${new Date().toISOString().slice(0, 10)}`;
    const { summary, ...data } = result;
    const recorded = { ...options, log: undefined, out: path.relative(REPO_ROOT, options.out) };
    writeFileSync(
      path.join(options.out, `${name}.json`),
      `${JSON.stringify({ options: recorded, loadAverage: loadavg(), ...data }, null, 2)}\n`,
    );
    writeFileSync(
      path.join(options.out, `${name}.md`),
      `# Chaos run, ${new Date().toISOString()}\n\n\`pnpm chaos ${process.argv.slice(2).join(" ")}\` (seed ${options.seed})\n\n${summary}\n`,
    );
    process.stdout.write(`written to ${path.relative(REPO_ROOT, path.join(options.out, name))}.{md,json}\n`);
  }
  process.exit(result.ok ? 0 : 1);
}
