// Console page render times: seeds N events (default 1,000,000) over 20 tenants like the query
// benchmark, signs in through the console's own form, then times full server-side renders (request
// to last byte) of the events page (newest, and three filters), an event's detail, stats over 30 days
// and a resource history, each next to the JSON API call that reads the same data. Each page's
// `Server-Timing` splits its server time into session check, data (the shared verbs' queries) and
// render; the load average before and after is printed, since other work on the machine shows up
// in every p95.
//
//   npx tsx bench/console-bench.ts [events] [samples]
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { requestJson } from "@vigil/testkit/http-client";
import { startBenchStack } from "./bench-stack.ts";
import { percentile } from "./measure.ts";
import { THREE_FILTERS } from "./query-bench.ts";
import { seedTenantEvents } from "./seed-events.ts";

const SPAN_DAYS = 60;
const TENANTS = 20;

async function main(events: number, samples: number) {
  const log = (line: string) => process.stderr.write(`[console-bench] ${line}\n`);
  const stack = await startBenchStack(log);
  try {
    const now = new Date();
    let first: { id: string; key: string } | undefined;
    const perTenant = Math.floor(events / TENANTS);
    for (let index = 0; index < TENANTS; index++) {
      const { tenant, key } = await stack.pipeline.createTenantWithKey(["read"], {
        name: `console-bench-${index}-${now.getTime()}`,
      });
      first ??= { id: tenant.id, key };
      await seedTenantEvents(stack.admin, tenant.id, perTenant, { now, spanDays: SPAN_DAYS });
      log(`seeded tenant ${index + 1}/${TENANTS} (${perTenant} events)`);
    }
    await stack.admin`vacuum analyze events, event_ids, event_rollups_hourly, event_rollups_daily, event_user_rollups_hourly, event_user_rollups_daily`;
    const api = stack.services.api ?? (await stack.start("api"));

    // A tenant admin signs in through the console form, as a browser would.
    const admin = await requestJson(`${api.url}/api/v1/auth/token`, {
      body: { grant_type: "password", username: "admin@localhost", password: "admin-password-for-tests" },
    });
    const email = `bench-${now.getTime()}@example.test`;
    const password = "console-bench-password";
    const created = await requestJson(`${api.url}/api/v1/tenants/${first!.id}/users`, {
      token: admin.body.access_token,
      body: { email, password, role: "tenant_admin" },
    });
    if (created.status !== 201) throw new Error(`user: HTTP ${created.status}`);
    const cookies = new Map<string, string>();
    const absorb = (response: Response) => {
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(";");
        const at = pair!.indexOf("=");
        cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
      }
    };
    const cookieHeader = () => [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    absorb(await fetch(`${api.url}/console/sign-in`));
    const signIn = await fetch(`${api.url}/console/sign-in`, {
      method: "POST",
      redirect: "manual",
      headers: {
        Cookie: cookieHeader(),
        Origin: api.url,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ csrf: cookies.get("vigil_csrf")!, username: email, password }),
    });
    if (signIn.status !== 303) throw new Error(`sign-in: HTTP ${signIn.status}`);
    absorb(signIn);

    const newest = await requestJson(`${api.url}/api/v1/logs?limit=50`, { key: first!.key });
    const eventId = newest.body.data[25].id as string;
    const thirtyDays = new Date(now.getTime() - 30 * 86_400_000).toISOString();
    const threeFilters = `user_id=user-5&severity=${THREE_FILTERS.severity}&action_type=${THREE_FILTERS.action_type}`;
    const pages: Record<string, { page: string; api: string }> = {
      events_newest: { page: "/console/events", api: "/api/v1/logs?limit=50" },
      // Filters the seed can satisfy (query-bench's THREE_FILTERS: UPDATE and ERROR never meet).
      events_three_filters: {
        page: `/console/events?${threeFilters}`,
        api: `/api/v1/logs?${threeFilters}&limit=50`,
      },
      event_detail: { page: `/console/events/${eventId}`, api: `/api/v1/logs/${eventId}` },
      stats_30d: { page: `/console/stats?from=${thirtyDays}`, api: `/api/v1/logs/stats?from=${thirtyDays}` },
      history: {
        page: "/console/history?resource_type=user&resource_id=res-37",
        api: "/api/v1/resources/user/res-37/history",
      },
    };
    const time = async (url: string, headers: Record<string, string>) => {
      const started = performance.now();
      const response = await fetch(url, { headers, redirect: "manual" });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}`);
      const phases = Object.fromEntries(
        (response.headers.get("server-timing") ?? "")
          .split(",")
          .map((entry) => /^\s*(\w+);dur=([\d.]+)/.exec(entry))
          .filter((match) => match !== null)
          .map((match) => [match[1]!, Number(match[2])]),
      ) as Record<string, number>;
      return { ms: performance.now() - started, phases };
    };
    const round = (value: number) => Number(value.toFixed(1));
    const load = () => loadavg().map(round);
    const loadBefore = load();
    log(`load average before: ${loadBefore.join(" ")}`);
    // A few unmeasured requests first: the first page of a process bundles nothing but warms the JIT.
    for (const { page } of Object.values(pages))
      for (let warm = 0; warm < 5; warm++) await time(`${api.url}${page}`, { Cookie: cookieHeader() });
    const results: Record<string, Record<string, number>> = {};
    for (const [name, { page, api: apiPath }] of Object.entries(pages)) {
      const pageSamples: number[] = [];
      const apiSamples: number[] = [];
      const phaseSamples: Record<string, number[]> = { session: [], data: [], render: [] };
      for (let sample = 0; sample < samples; sample++) {
        const rendered = await time(`${api.url}${page}`, { Cookie: cookieHeader() });
        pageSamples.push(rendered.ms);
        for (const [phase, ms] of Object.entries(rendered.phases)) phaseSamples[phase]?.push(ms);
        apiSamples.push((await time(`${api.url}${apiPath}`, { "X-API-Key": first!.key })).ms);
      }
      results[name] = {
        page_p50: round(percentile(pageSamples, 50)),
        page_p95: round(percentile(pageSamples, 95)),
        api_p50: round(percentile(apiSamples, 50)),
        api_p95: round(percentile(apiSamples, 95)),
        ...Object.fromEntries(
          Object.entries(phaseSamples).flatMap(([phase, values]) =>
            values.length === 0
              ? []
              : [
                  [`${phase}_p50`, round(percentile(values, 50))],
                  [`${phase}_p95`, round(percentile(values, 95))],
                ],
          ),
        ),
      };
      log(`${name}: ${JSON.stringify(results[name])}`);
    }
    const loadAfter = load();
    log(`load average after: ${loadAfter.join(" ")}`);
    process.stdout.write(
      `${JSON.stringify(
        {
          events: perTenant * TENANTS,
          tenants: TENANTS,
          samples,
          load_average: { before: loadBefore, after: loadAfter },
          results,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await stack.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? 100));
  process.exit(0);
}
