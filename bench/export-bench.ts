// Export benchmark: one tenant holding N seeded events (default 1,000,000), exported whole over
// HTTP as CSV and as NDJSON (body read to the end, rows counted), next to the floor: PostgreSQL's
// own `COPY (select <the export's columns> … order by seq) TO STDOUT (format csv)` of the same rows,
// read to the end through postgres.js. For each: rows/s, CPU per 1,000 rows per process, and the
// api's RSS before and at its peak during the export (VmHWM, reset before each export).
//
//   benchExport   section of `pnpm bench` (bench/run.ts); seeds its own tenant, so
//                 `--only=export` runs alone
import { writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { EXPORT_COLUMNS } from "@vigil/shared/query/export-events";
import postgres from "postgres";
import type { BenchStack } from "./bench-stack.ts";
import {
  cpuMeter,
  cpuReport,
  type Figure,
  figure,
  formatFigure,
  formatNumber,
  memoryMb,
  type TargetCheck,
} from "./measure.ts";
import type { SectionResult } from "./report.ts";
import { seedTenantEvents } from "./seed-events.ts";

export interface ExportBenchOptions {
  /** Events of the exported tenant. */
  events: number;
  runs: number;
}

type ExportKind = "copy" | "csv" | "ndjson";

interface Measured {
  rows: number;
  bytes: number;
  seconds: number;
  rssBeforeMb: number;
  rssPeakMb: number;
}

/**
 * Watches a process's peak RSS over a stretch of work: the kernel's high-water mark, reset at the
 * start (clear_refs "5"), and 20 ms samples of VmRSS as a fallback where the reset is not allowed.
 */
function watchPeakRss(pid: number) {
  let resettable = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    resettable = false;
  }
  const before = memoryMb(pid).rss;
  let sampled = before;
  // A process gone mid-export is reported when the export ends, not thrown from the timer: a throw
  // there would end the bench before the stack logs why the process exited.
  let gone: unknown;
  const sampler = setInterval(() => {
    try {
      sampled = Math.max(sampled, memoryMb(pid).rss);
    } catch (error) {
      gone = error;
      clearInterval(sampler);
    }
  }, 20);
  return {
    before,
    stop: (): number => {
      clearInterval(sampler);
      if (gone) throw gone;
      const now = memoryMb(pid);
      return Math.max(sampled, now.rss, resettable ? now.hwm : 0);
    },
  };
}

/** Counts the rows of a byte stream: newlines, less one header line for CSV. */
function lineCounter() {
  let lines = 0;
  let bytes = 0;
  return {
    add(chunk: Buffer) {
      bytes += chunk.length;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
    },
    get lines() {
      return lines;
    },
    get bytes() {
      return bytes;
    },
  };
}

/** GET the export and read the body to the end (node:http: a cheap client on a shared CPU). */
function httpExport(url: string, key: string, deadlineMs: number): Promise<{ lines: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const counter = lineCounter();
    const request = http.get(url, { headers: { "X-API-Key": key }, timeout: deadlineMs }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`export: HTTP ${response.statusCode}`));
        return;
      }
      response.on("data", (chunk: Buffer) => counter.add(chunk));
      response.on("end", () => resolve({ lines: counter.lines, bytes: counter.bytes }));
      response.on("error", reject);
    });
    const timer = setTimeout(
      () => request.destroy(new Error(`export did not finish within ${deadlineMs} ms`)),
      deadlineMs,
    );
    request.on("error", reject);
    request.on("close", () => clearTimeout(timer));
  });
}

/**
 * COPY … TO STDOUT read to the end. postgres.js pauses the socket while the stream is full, so the
 * COPY — and anything queued behind it on that connection (a max:1 pool, the same transaction or
 * reserved connection) — waits until the stream is read: it must be consumed to the end before that
 * connection runs anything else, which is why it gets a connection of its own. Past the deadline
 * the connection is ended outright, so a stuck COPY fails the section instead of hanging the run.
 */
async function copyToStdout(sql: postgres.Sql, copySql: string, deadlineMs: number) {
  const counter = lineCounter();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`COPY did not finish within ${deadlineMs} ms`));
      void sql.end({ timeout: 0 });
    }, deadlineMs);
  });
  try {
    const drain = async () => {
      const stream = await sql.unsafe(copySql).readable();
      for await (const chunk of stream) counter.add(chunk as Buffer);
      // postgres.js resumes its socket only from the stream's read hook, which an ended stream no
      // longer calls: a socket paused by the last row would hold back the statement's completion
      // and so the next COPY on this connection (the export's CopyOut does the same).
      (stream as unknown as { _read: (size: number) => void })._read(0);
    };
    await Promise.race([drain(), deadline]);
    return { lines: counter.lines, bytes: counter.bytes };
  } finally {
    clearTimeout(timer);
  }
}

/** 1, 5 and 15 minute load averages: other work on the machine skews every figure. */
const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(" / ");

const sqlLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

export async function benchExport(
  stack: BenchStack,
  options: ExportBenchOptions,
  log: (line: string) => void,
): Promise<SectionResult> {
  const startLoad = loadAverage();
  const seedStarted = performance.now();
  const { tenant, key } = await stack.pipeline.createTenantWithKey(["read"], {
    name: `export-bench-${Date.now()}`,
  });
  const seeded = await seedTenantEvents(stack.admin, tenant.id, options.events, {
    now: new Date(),
    spanDays: 30,
  });
  await stack.admin`analyze events`;
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  log(`export: seeded ${options.events} events of one tenant in ${formatNumber(seedSeconds)} s`);

  // Exactly the seeded events (the export's default window is only the last 30 days); the end is
  // exclusive and before the export's own audit events, which land in this tenant's log.
  const from = seeded.from.toISOString();
  const to = new Date(seeded.to.getTime() + 1).toISOString();
  const api = stack.services.api ?? (await stack.start("api"));
  const idleRssMb = memoryMb(api.pid).rss;
  const query = (format: string) => `format=${format}&from=${from}&to=${to}`;
  const copySql = `copy (select ${EXPORT_COLUMNS.join(", ")} from events
    where tenant_id = ${sqlLiteral(tenant.id)} and occurred_at >= ${sqlLiteral(from)} and occurred_at < ${sqlLiteral(to)}
    order by seq) to stdout (format csv, header)`;
  // A guard against a stuck run, far above any plausible duration.
  const deadlineMs = 60_000 + options.events / 2;

  // Connected before the CPU meters start, and kept: a backend that exits takes its CPU time with it.
  const copyConnection = postgres(stack.adminUrl, { max: 1, onnotice: () => {} });
  await copyConnection`select 1`;
  const exporters: Record<ExportKind, () => Promise<{ lines: number; bytes: number }>> = {
    copy: () => copyToStdout(copyConnection, copySql, deadlineMs),
    csv: () => httpExport(`${api.url}/api/v1/logs/export?${query("csv")}`, key, deadlineMs),
    ndjson: () => httpExport(`${api.url}/api/v1/logs/export?${query("ndjson")}`, key, deadlineMs),
  };
  const headerLines: Record<ExportKind, number> = { copy: 1, csv: 1, ndjson: 0 };

  // Warm-up (JIT, connections): a short CSV export, not timed.
  await httpExport(
    `${api.url}/api/v1/logs/export?format=csv&from=${new Date(seeded.to.getTime() - 3_600_000).toISOString()}`,
    key,
    deadlineMs,
  );

  const results: Record<ExportKind, Measured[]> = { copy: [], csv: [], ndjson: [] };
  const notes: string[] = [];
  try {
    for (let run = 1; run <= options.runs; run++) {
      for (const kind of ["copy", "csv", "ndjson"] as const) {
        const meter = cpuMeter({
          api: { pid: api.pid },
          postgres: { pid: stack.pgPid, tree: true },
          bench: { pid: process.pid },
        });
        const peak = watchPeakRss(api.pid);
        const started = performance.now();
        const { lines, bytes } = await exporters[kind]();
        const seconds = (performance.now() - started) / 1000;
        const rssPeakMb = peak.stop();
        const rows = lines - headerLines[kind];
        if (rows !== options.events)
          throw new Error(`${kind} export returned ${rows} rows, expected ${options.events}`);
        results[kind].push({ rows, bytes, seconds, rssBeforeMb: peak.before, rssPeakMb });
        // Ratio to this run's COPY (measured just before, under the same load).
        const copyRun = results.copy[run - 1];
        const ratio =
          kind === "copy" || !copyRun
            ? ""
            : `, ${(rows / seconds / (copyRun.rows / copyRun.seconds)).toFixed(2)}× COPY`;
        const line = `run ${run}, ${kind} (${formatNumber(rows / seconds)} rows/s${ratio}, load ${loadAverage()}, ${formatNumber(bytes / 2 ** 20)} MiB in ${formatNumber(seconds)} s, api RSS ${formatNumber(peak.before)} → peak ${formatNumber(rssPeakMb)} MB): ${cpuReport(meter.since(), seconds, rows / 1000, "1,000 rows")}`;
        log(`export: ${line}`);
        notes.push(line);
      }
    }
  } finally {
    await copyConnection.end({ timeout: 0 });
  }

  const rowsPerSecond = (kind: ExportKind) =>
    figure(
      results[kind].map((result) => Math.round(result.rows / result.seconds)),
      "rows/s",
    );
  const peakRss = (kind: ExportKind) =>
    figure(
      results[kind].map((result) => Math.round(result.rssPeakMb)),
      "MB",
    );
  const figures: Record<string, Figure> = {
    "export rows/s (HTTP, CSV)": rowsPerSecond("csv"),
    "export rows/s (HTTP, NDJSON)": rowsPerSecond("ndjson"),
    "COPY TO STDOUT rows/s (CSV)": rowsPerSecond("copy"),
    "api RSS idle": figure([Math.round(idleRssMb)], "MB"),
    "api RSS before export": figure(
      results.csv.map((result) => Math.round(result.rssBeforeMb)),
      "MB",
    ),
    "api peak RSS during export (CSV)": peakRss("csv"),
    "api peak RSS during export (NDJSON)": peakRss("ndjson"),
  };
  const copy = figures["COPY TO STDOUT rows/s (CSV)"]!;
  const targets: TargetCheck[] = [];
  for (const format of ["CSV", "NDJSON"] as const) {
    const exported = figures[`export rows/s (HTTP, ${format})`]!;
    targets.push({
      section: "export",
      target: `${format} export of ${formatNumber(options.events)} rows ≥ 0.7 × COPY TO STDOUT rows/s`,
      measured: `${formatFigure(exported)} vs ${formatFigure(copy)} (${(exported.median / copy.median).toFixed(2)}×)`,
      pass: exported.median >= 0.7 * copy.median,
    });
  }
  const peakMb = Math.max(
    figures["api peak RSS during export (CSV)"]!.max,
    figures["api peak RSS during export (NDJSON)"]!.max,
  );
  targets.push({
    section: "export",
    target: "api peak RSS ≤ 200 MB during export",
    measured: `${formatNumber(peakMb)} MB (idle ${formatNumber(idleRssMb)} MB)`,
    pass: peakMb <= 200,
  });
  return {
    figures,
    targets,
    notes: [
      `one tenant's ${formatNumber(options.events)} events (seeded by SQL in ${formatNumber(seedSeconds)} s), exported whole with an explicit from/to; load average at the start ${startLoad}, at the end ${loadAverage()}`,
      ...notes,
    ],
  };
}
