// The scaling report's pure parts: the SVG charts (plot.ts) and the growth verdicts and plan
// timings of the markdown (scaling.ts), on a made-up report; nothing is started.
import { describe, expect, test } from "vitest";
import { lineChart, shortNumber } from "./plot.ts";
import { renderScalingMarkdown, type ScalingReport } from "./scaling.ts";

describe("lineChart", () => {
  test("draws one line per series with a legend, decade ticks on a log axis, and escapes text", () => {
    const svg = lineChart({
      title: "p95 <by> events & size",
      xLabel: "events",
      yLabel: "ms",
      logX: true,
      reference: { y: 200, label: "limit" },
      series: [
        {
          name: "a",
          points: [
            [1_000_000, 10],
            [10_000_000, 14],
          ],
        },
        {
          name: "b",
          points: [
            [1_000_000, 20],
            [10_000_000, Number.NaN],
          ],
        },
      ],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("p95 &lt;by&gt; events &amp; size");
    expect(svg.match(/<polyline /g)).toHaveLength(1); // "b" has one finite point: a dot, no line
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg).toContain(">1M</text>");
    expect(svg).toContain(">10M</text>");
    expect(svg).toContain('stroke-dasharray="5 4"');
    expect(svg).toContain(">limit</text>");
    expect(svg).not.toContain("NaN");
  });

  test("short numbers", () => {
    expect([1000, 10_000_000, 250, 1_500, 0.5].map(shortNumber)).toEqual(["1k", "10M", "250", "1.5k", "0.5"]);
  });
});

const latency = (p95: number) => ({ p50: p95 / 2, p95 });
const queryRun = (events: number, scale: number, executionMs: number) => ({
  events,
  tenants: 20,
  seedSeconds: 1,
  databaseMb: 10,
  seconds: 60,
  uptime: "up 1 day, load average: 0.10, 0.20, 0.30",
  http: {
    newest_page: latency(10),
    three_filters: latency(10 * scale),
    full_text: latency(10),
    stats_30d: latency(10),
    history: latency(10),
  },
  direct: {
    newest_page: latency(5),
    three_filters: latency(5 * scale),
    full_text: latency(5),
    stats_30d: latency(5),
    history: latency(5),
  },
  rows: { newest_page: 100, three_filters: 100, full_text: 25 * scale, stats_30d: 30, history: 10 },
  plans: { "three_filters (keys)": `Limit (actual time=0.1..0.2)\nExecution Time: ${executionMs} ms` },
});

describe("renderScalingMarkdown", () => {
  test("marks each query PASS within 1.5x growth and MISS beyond, with each statement's plan time", () => {
    const report: ScalingReport = {
      startedAt: "2026-12-07T10:00:00.000Z",
      finishedAt: "2026-12-07T11:00:00.000Z",
      command: "npx tsx bench/scaling.ts --events=10000000",
      options: {},
      machine: {
        cpus: 2,
        cpuModel: "test",
        memoryGb: 1,
        node: "v20",
        platform: "linux",
        loadAverageAtStart: [0.1, 0.2, 0.3],
      },
      queries: [queryRun(1_000_000, 1, 2), queryRun(10_000_000, 1.6, 20)],
      exports: [],
      ingest: [
        {
          tenants: 1000,
          events: 100_000,
          eventsPerSecond: 5000,
          cpu: "api 1 core",
          seconds: 20,
          uptime: "up",
        },
      ],
    };
    const markdown = renderScalingMarkdown(report, "scaling-test");
    const row = (name: string) => markdown.split("\n").find((line) => line.startsWith(`| ${name} |`));
    expect(row("newest_page")).toMatch(/1\.00× \| PASS \|$/);
    expect(row("three_filters")).toMatch(/1\.60× \| \*\*MISS\*\* \|$/);
    // Entries per answer beside each growth: equal sizes answer the same amount, or say they did not.
    expect(row("history")).toMatch(/^\| history \| 10 → 10 \| /);
    expect(row("full_text")).toMatch(/^\| full_text \| 25 → 40 \| /);
    expect(row("three_filters (keys)")).toBe("| three_filters (keys) | 2 ms | 20 ms | 10.00× |");
    expect(markdown).toContain("![query p95 by events](scaling-test-queries.svg)");
    expect(markdown).toContain("![ingest rate by tenants](scaling-test-ingest.svg)");
    expect(markdown).toContain("| 1,000 | 100,000 | 5,000 |");
    expect(markdown).not.toContain("## Export");
  });
});
