// Query-side benchmark: seeds N events (default 1,000,000) across 20 tenants deterministically,
// then measures p50/p95 of the newest page, a 3-filter query, full text, 30-day stats and resource
// history — through the real HTTP api and as the same SQL run directly (the shared query modules
// on a pool, no HTTP) — and export rows/s with the api's peak RSS.
//
//   pnpm tsx bench/query-bench.ts [events]      standalone (own PostgreSQL, SQS emulator, api)
//   benchQueries / benchExport                  sections of `pnpm bench` (bench/run.ts)
//   runQueryBench(stack, options)               the raw numbers, for anything else
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Database } from "@vigil/shared/db/database";
import { eventStats } from "@vigil/shared/query/event-stats";
import { exportEvents, planExport } from "@vigil/shared/query/export-events";
import { resourceHistory } from "@vigil/shared/query/resource-history";
import { searchEvents } from "@vigil/shared/query/search-events";
import { searchParamsSchema } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { type BenchStack, startBenchStack } from "./bench-stack.ts";
import type { SectionResult } from "./ingest-bench.ts";
import { figure, percentile } from "./measure.ts";

const DAY_MS = 86_400_000;
/** Seeded events span this many days back from now, so a 30-day window holds about half of them. */
const SPAN_DAYS = 60;

export interface QueryBenchOptions {
  events: number;
  tenants: number;
  /** Timed repetitions per query. */
  samples: number;
}

export interface LatencyMs {
  p50: number;
  p95: number;
}

export interface QueryBenchResult {
  events: number;
  tenants: number;
  seedSeconds: number;
  http: Record<QueryName, LatencyMs>;
  direct: Record<QueryName, LatencyMs>;
  export: {
    rows: number;
    httpRowsPerSecond: number;
    directRowsPerSecond: number;
    apiPeakRssMb: number;
    apiRssBeforeMb: number;
  };
}

type QueryName = "newest_page" | "three_filters" | "full_text" | "stats_30d" | "history";

interface SeededTenant {
  id: string;
  key: string;
}

/**
 * Deterministic rows straight into PostgreSQL (events, event_ids, rollups and the sequence head),
 * one INSERT … SELECT generate_series per tenant: the fields are functions of (tenant, g). Hashes
 * are placeholders; integrity is not what this measures.
 */
async function seed(
  stack: BenchStack,
  options: QueryBenchOptions,
  log: (line: string) => void,
): Promise<SeededTenant[]> {
  const admin = stack.admin;
  const tenants: SeededTenant[] = [];
  const perTenant = Math.floor(options.events / options.tenants);
  const stepMs = Math.max(1, Math.floor((SPAN_DAYS * DAY_MS) / perTenant));
  const now = new Date();
  for (let index = 0; index < options.tenants; index++) {
    const { tenant, key } = await stack.pipeline.createTenantWithKey(["read"], {
      name: `query-bench-${index}-${now.getTime()}`,
    });
    tenants.push({ id: tenant.id, key });
    await admin`
      insert into events (tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type, resource_id,
        user_id, session_id, ip_address, user_agent, severity, outcome, before_state, after_state, metadata, redacted, hash, chain_hash)
      select ${tenant.id}::uuid, g, md5(${tenant.id} || g)::uuid, ${now}::timestamptz - ((${perTenant} - g)::float8 * ${stepMs}) * interval '1 ms',
        ${now}::timestamptz - ((${perTenant} - g)::float8 * ${stepMs}) * interval '1 ms',
        (array['CREATE','UPDATE','DELETE','VIEW'])[1 + g % 4], (array['invoice','user','project','document'])[1 + g % 4] || '.' || lower((array['CREATE','UPDATE','DELETE','VIEW'])[1 + g % 4]),
        (array['invoice','user','project','document'])[1 + g % 4], 'res-' || (g % 997), 'user-' || (g % 53), 'sess-' || (g % 211),
        '10.0.' || (g % 250) || '.' || (g % 7), 'Mozilla/5.0 (X11; Linux x86_64) VigilBench/1.0',
        (array['INFO','INFO','INFO','WARNING','ERROR','CRITICAL'])[1 + g % 6], case when g % 17 = 0 then 'failure' else 'success' end,
        jsonb_build_object('status', 'draft', 'amount', g % 1000, 'tags', jsonb_build_array('a', 'b')),
        jsonb_build_object('status', 'approved', 'amount', g % 1000 + 1, 'approver', jsonb_build_object('id', 'user-' || (g % 7), 'level', 2)),
        jsonb_build_object('request', jsonb_build_object('path', '/invoices/approve', 'method', 'POST'), 'region', 'eu-west-1', 'index', g),
        '{}', md5(g::text) || md5(g::text), md5(g::text) || md5(g::text)
      from generate_series(1, ${perTenant}) as g`;
    await admin`
      insert into event_ids (tenant_id, id, seq, occurred_at, payload_hash)
      select tenant_id, id, seq, occurred_at, hash from events where tenant_id = ${tenant.id}`;
    await admin`
      insert into event_rollups_hourly (tenant_id, bucket, action_type, severity, outcome, resource_type, event_count)
      select tenant_id, date_trunc('hour', occurred_at, 'UTC'), action_type, severity, outcome, resource_type, count(*)
      from events where tenant_id = ${tenant.id} group by 1, 2, 3, 4, 5, 6`;
    await admin`update tenant_sequences set last_seq = ${perTenant} where tenant_id = ${tenant.id}`;
    log(`seeded tenant ${index + 1}/${options.tenants} (${perTenant} events)`);
  }
  // What autovacuum does on its own after a bulk load (here it would still be running during the
  // measurements): statistics, and the visibility map that lets index-only scans skip the heap.
  await admin`vacuum analyze events, event_ids, event_rollups_hourly`;
  return tenants;
}

/** The five queries, as HTTP paths and as direct calls of the same shared modules. */
function queries(tenant: SeededTenant, sample: number) {
  const now = Date.now();
  const thirtyDays = new Date(now - 30 * DAY_MS).toISOString();
  const params = (input: Record<string, unknown>) => searchParamsSchema.parse(input);
  const user = `user-${sample % 53}`;
  const resource = `res-${(sample * 37) % 997}`;
  return {
    newest_page: {
      path: "/api/v1/logs?limit=100",
      direct: (db: Database) => searchEvents(db, tenantScope(tenant.id), params({ limit: 100 })),
    },
    three_filters: {
      path: `/api/v1/logs?user_id=${user}&action_type=UPDATE&severity=ERROR&limit=100`,
      direct: (db: Database) =>
        searchEvents(
          db,
          tenantScope(tenant.id),
          params({ user_id: user, action_type: ["UPDATE"], severity: ["ERROR"], limit: 100 }),
        ),
    },
    full_text: {
      path: `/api/v1/logs?q=${resource}&limit=100`,
      direct: (db: Database) => searchEvents(db, tenantScope(tenant.id), params({ q: resource, limit: 100 })),
    },
    stats_30d: {
      path: `/api/v1/logs/stats?from=${thirtyDays}&bucket=day`,
      direct: (db: Database) => eventStats(db, tenantScope(tenant.id), { from: thirtyDays, bucket: "day" }),
    },
    history: {
      path: `/api/v1/resources/user/${resource}/history?limit=100`,
      direct: (db: Database) =>
        resourceHistory(
          db,
          tenantScope(tenant.id),
          { resource_type: "user", resource_id: resource },
          { limit: 100 },
        ),
    },
  } satisfies Record<QueryName, { path: string; direct: (db: Database) => Promise<unknown> }>;
}

function rssMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

const latency = (samples: number[]): LatencyMs => ({
  p50: Number(percentile(samples, 50).toFixed(2)),
  p95: Number(percentile(samples, 95).toFixed(2)),
});

export async function runQueryBench(
  stack: BenchStack,
  options: QueryBenchOptions,
  log: (line: string) => void = () => {},
): Promise<QueryBenchResult> {
  const seedStarted = performance.now();
  const tenants = await seed(stack, options, log);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const api = stack.services.api ?? (await stack.start("api"));
  const db = new Database({
    url: stack.pipeline.database.appUrl,
    poolSize: 4,
    applicationName: "vigil-query-bench",
  });
  try {
    const names: QueryName[] = ["newest_page", "three_filters", "full_text", "stats_30d", "history"];
    const httpSamples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<
      QueryName,
      number[]
    >;
    const directSamples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<
      QueryName,
      number[]
    >;
    for (let sample = 0; sample < options.samples; sample++) {
      const tenant = tenants[sample % tenants.length]!;
      const set = queries(tenant, sample);
      for (const name of names) {
        const overHttp = async () => {
          const started = performance.now();
          const response = await fetch(`${api.url}${set[name].path}`, {
            headers: { "X-API-Key": tenant.key },
          });
          await response.arrayBuffer();
          if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status}`);
          httpSamples[name].push(performance.now() - started);
        };
        const direct = async () => {
          const started = performance.now();
          await set[name].direct(db);
          directSamples[name].push(performance.now() - started);
        };
        // Whichever runs first reads the sample's pages into shared buffers and the other finds
        // them there, so the order alternates: both paths see the same mix of cold and warm reads,
        // and the difference between them is the service's own cost.
        if (sample % 2 === 0) {
          await overHttp();
          await direct();
        } else {
          await direct();
          await overHttp();
        }
      }
    }
    log("queries measured; exporting");

    // Export: one tenant's whole history (SPAN_DAYS), CSV over HTTP and NDJSON-free direct drain.
    const tenant = tenants[0]!;
    const from = new Date(Date.now() - SPAN_DAYS * DAY_MS - DAY_MS).toISOString();
    const before = rssMb(api.pid);
    let peak = before.rss;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(api.pid).rss)), 50);
    let started = performance.now();
    const response = await fetch(`${api.url}/api/v1/logs/export?format=csv&from=${from}`, {
      headers: { "X-API-Key": tenant.key },
    });
    const reader = response.body!.getReader();
    let newlines = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const byte of value) if (byte === 10) newlines++;
    }
    const httpSeconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const rows = Math.floor(options.events / options.tenants);
    started = performance.now();
    const progress = { rows: 0, completed: false };
    for await (const _chunk of exportEvents(
      db,
      tenantScope(tenant.id),
      planExport({ format: "csv", from }),
      progress,
    )) {
      // drained
    }
    const directSeconds = (performance.now() - started) / 1000;
    log(`export: ${progress.rows} rows direct, ~${newlines - 1} CSV lines over HTTP`);
    return {
      events: rows * options.tenants,
      tenants: options.tenants,
      seedSeconds: Number(seedSeconds.toFixed(1)),
      http: Object.fromEntries(names.map((name) => [name, latency(httpSamples[name])])) as Record<
        QueryName,
        LatencyMs
      >,
      direct: Object.fromEntries(names.map((name) => [name, latency(directSamples[name])])) as Record<
        QueryName,
        LatencyMs
      >,
      export: {
        rows,
        httpRowsPerSecond: Math.round(rows / httpSeconds),
        directRowsPerSecond: Math.round(progress.rows / directSeconds),
        apiPeakRssMb: Math.round(peak),
        apiRssBeforeMb: Math.round(before.rss),
      },
    };
  } finally {
    await db.close();
  }
}

/** Results cached per stack, so `benchQueries` and `benchExport` seed once. */
const runs = new WeakMap<BenchStack, Promise<QueryBenchResult>>();
function resultFor(
  stack: BenchStack,
  options: { events: number; tenants: number; runs: number; quick: boolean },
  log: (line: string) => void,
) {
  let result = runs.get(stack);
  if (!result) {
    result = runQueryBench(
      stack,
      { events: options.events, tenants: options.tenants || 20, samples: options.quick ? 20 : 100 },
      log,
    );
    runs.set(stack, result);
  }
  return result;
}

/** `pnpm bench` section: query latencies (HTTP and direct). */
export async function benchQueries(
  stack: BenchStack,
  options: { events: number; tenants: number; runs: number; quick: boolean },
  log: (line: string) => void,
): Promise<SectionResult> {
  const result = await resultFor(stack, options, log);
  const figures: SectionResult["figures"] = {};
  for (const [name, value] of Object.entries(result.http)) {
    figures[`${name} p50 (HTTP)`] = figure([value.p50], "ms");
    figures[`${name} p95 (HTTP)`] = figure([value.p95], "ms");
    figures[`${name} p50 (direct SQL)`] = figure([result.direct[name as QueryName].p50], "ms");
    figures[`${name} p95 (direct SQL)`] = figure([result.direct[name as QueryName].p95], "ms");
  }
  return {
    figures,
    targets: [],
    notes: [
      `${result.events} events across ${result.tenants} tenants, seeded by SQL in ${result.seedSeconds} s`,
    ],
  };
}

/** `pnpm bench` section: export throughput and the api's peak RSS. */
export async function benchExport(
  stack: BenchStack,
  options: { events: number; tenants: number; runs: number; quick: boolean },
  log: (line: string) => void,
): Promise<SectionResult> {
  const result = await resultFor(stack, options, log);
  return {
    figures: {
      "export rows/s (HTTP, CSV)": figure([result.export.httpRowsPerSecond], "rows/s"),
      "export rows/s (direct)": figure([result.export.directRowsPerSecond], "rows/s"),
      "api peak RSS during export": figure([result.export.apiPeakRssMb], "MB"),
    },
    targets: [],
    notes: [`one tenant's ${result.export.rows} rows; api RSS before ${result.export.apiRssBeforeMb} MB`],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const events = Number(process.argv[2] ?? 1_000_000);
  const log = (line: string) => process.stderr.write(`[query-bench] ${line}\n`);
  const stack = await startBenchStack(log);
  try {
    const result = await runQueryBench(stack, { events, tenants: 20, samples: 100 }, log);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await stack.stop();
  }
  process.exit(0);
}
