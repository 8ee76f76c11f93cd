// Query-side benchmark: seeds N events (default 1,000,000) across 20 tenants deterministically,
// then measures p50/p95 of the newest page, a 3-filter query, full text, 30-day stats and resource
// history — through the real HTTP api and as the same SQL run directly (the shared query modules
// on a pool, no HTTP). Export has its own section (export-bench.ts).
//
//   pnpm tsx bench/query-bench.ts [events]      standalone (own PostgreSQL, SQS emulator, api)
//   benchQueries                                section of `pnpm bench` (bench/run.ts)
//   runQueryBench(stack, options)               the raw numbers, for anything else
import { fileURLToPath } from "node:url";
import { Database } from "@vigil/shared/db/database";
import { eventStats } from "@vigil/shared/query/event-stats";
import { resourceHistory } from "@vigil/shared/query/resource-history";
import { searchEvents } from "@vigil/shared/query/search-events";
import { searchParamsSchema } from "@vigil/shared/query/search-params";
import { tenantScope } from "@vigil/shared/query/tenant-scope";
import { type BenchStack, startBenchStack } from "./bench-stack.ts";
import { figure, percentile } from "./measure.ts";
import type { SectionResult } from "./report.ts";
import { DAY_MS, seedTenantEvents } from "./seed-events.ts";

/** Seeded events span this many days back from now, so a 30-day window holds about half of them. */
const SPAN_DAYS = 60;
/**
 * History page size. The seed gives each of its 3,988 resources (4 types × 997 ids) ~12.5 events
 * per 1,000,000, so a 10-entry page is full at 1 M and at 10 M and the two sizes answer the same
 * amount. (With 100 the 1 M page held 13 entries and the 10 M page 101: most of that "growth" was
 * 8× the JSON.)
 */
export const HISTORY_PAGE = 10;
/**
 * The three-filter query: a user's UPDATEs at WARNING. The seed makes action_type g % 4 and
 * severity g % 6, so UPDATE (1) and ERROR (4) never meet (it measured an empty answer until the
 * entries column showed it); UPDATE and WARNING (3) meet at g ≡ 9 (mod 12), with one user ~39 times
 * in 30 days per 1,000,000 events. A 25-row page is full at 1 M and at 10 M.
 */
export const THREE_FILTERS = { action_type: "UPDATE", severity: "WARNING", limit: 25 } as const;

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
  /**
   * Mean entries per HTTP response (`data`; stats: series points): a query's growth with the table
   * means something only where its answers are the same size.
   */
  rows: Record<QueryName, number>;
}

type QueryName = "newest_page" | "three_filters" | "full_text" | "stats_30d" | "history";

interface SeededTenant {
  id: string;
  key: string;
}

/** `options.tenants` tenants with `events / tenants` seeded events each, spread over SPAN_DAYS. */
async function seed(
  stack: BenchStack,
  options: QueryBenchOptions,
  log: (line: string) => void,
): Promise<SeededTenant[]> {
  const tenants: SeededTenant[] = [];
  const perTenant = Math.floor(options.events / options.tenants);
  const now = new Date();
  for (let index = 0; index < options.tenants; index++) {
    const { tenant, key } = await stack.pipeline.createTenantWithKey(["read"], {
      name: `query-bench-${index}-${now.getTime()}`,
    });
    tenants.push({ id: tenant.id, key });
    await seedTenantEvents(stack.admin, tenant.id, perTenant, { now, spanDays: SPAN_DAYS });
    log(`seeded tenant ${index + 1}/${options.tenants} (${perTenant} events)`);
  }
  // What autovacuum does on its own after a bulk load (here it would still be running during the
  // measurements): statistics, and the visibility map that lets index-only scans skip the heap.
  await stack.admin`vacuum analyze events, event_ids, event_rollups_hourly, event_rollups_daily, event_user_rollups_hourly, event_user_rollups_daily`;
  return tenants;
}

/**
 * The five queries, as HTTP paths and as direct calls of the same shared modules. The direct calls
 * run as the service role through db.withTenant (same statements, parameters, tenant setting and
 * RLS policies as the api), so what the HTTP figure adds is the service's own cost: HTTP,
 * authentication, validation and JSON.
 */
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
      path: `/api/v1/logs?user_id=${user}&action_type=${THREE_FILTERS.action_type}&severity=${THREE_FILTERS.severity}&limit=${THREE_FILTERS.limit}`,
      direct: (db: Database) =>
        searchEvents(
          db,
          tenantScope(tenant.id),
          params({
            user_id: user,
            action_type: [THREE_FILTERS.action_type],
            severity: [THREE_FILTERS.severity],
            limit: THREE_FILTERS.limit,
          }),
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
      path: `/api/v1/resources/user/${resource}/history?limit=${HISTORY_PAGE}`,
      direct: (db: Database) =>
        resourceHistory(
          db,
          tenantScope(tenant.id),
          { resource_type: "user", resource_id: resource },
          { limit: HISTORY_PAGE },
        ),
    },
  } satisfies Record<QueryName, { path: string; direct: (db: Database) => Promise<unknown> }>;
}

const mean = (values: number[]) =>
  Number((values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)).toFixed(1));

/** Entries of one answer: a page's or history's `data`, the stats' time series. */
function answerEntries(body: ArrayBuffer): number {
  const answer = JSON.parse(Buffer.from(body).toString("utf8")) as {
    data?: unknown[];
    timeseries?: unknown[];
  };
  return (answer.data ?? answer.timeseries ?? []).length;
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
    const perQuery = () =>
      Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<QueryName, number[]>;
    const httpSamples = perQuery();
    const directSamples = perQuery();
    const rowCounts = perQuery();
    for (let sample = 0; sample < options.samples; sample++) {
      const tenant = tenants[sample % tenants.length]!;
      const set = queries(tenant, sample);
      for (const name of names) {
        const overHttp = async () => {
          const started = performance.now();
          const response = await fetch(`${api.url}${set[name].path}`, {
            headers: { "X-API-Key": tenant.key },
          });
          const body = await response.arrayBuffer();
          if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status}`);
          httpSamples[name].push(performance.now() - started);
          rowCounts[name].push(answerEntries(body));
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
    return {
      events: Math.floor(options.events / options.tenants) * options.tenants,
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
      rows: Object.fromEntries(names.map((name) => [name, mean(rowCounts[name])])) as Record<
        QueryName,
        number
      >,
    };
  } finally {
    await db.close();
  }
}

/** `pnpm bench` section: query latencies (HTTP and direct). */
export async function benchQueries(
  stack: BenchStack,
  options: { events: number; tenants: number; runs: number; quick: boolean },
  log: (line: string) => void,
): Promise<SectionResult> {
  const result = await runQueryBench(
    stack,
    { events: options.events, tenants: options.tenants, samples: options.quick ? 20 : 100 },
    log,
  );
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
