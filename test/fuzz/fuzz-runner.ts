// Sends generated hostile requests at the real api and streamer and judges the run: any 5xx, a
// service that dies, a request that hangs, RSS past a bound, or a 2xx for an event that is not
// stored (exactly once) within a deadline is a failure. Free of vitest: `pnpm fuzz` and the short
// run in the test suite both call runFuzz.

import { readFileSync } from "node:fs";
import { request } from "node:http";
import { Random } from "./hostile-values.ts";
import { type FuzzCase, type FuzzCredentials, generateCase, type OpenApiRoute } from "./request-cases.ts";

export interface FuzzTarget {
  apiUrl: string;
  streamerUrl: string;
  credentials: FuzzCredentials;
  routes: OpenApiRoute[];
  /** Processes that must stay up, with the RSS each may reach. */
  processes: Array<{ name: string; pid: number; maxRssMb: number }>;
  /** How many of these ids tenant A holds, and how many rows those are (a duplicate makes rows > ids). */
  storedCount: (ids: string[]) => Promise<{ distinct: number; rows: number }>;
}

export interface FuzzOptions {
  cases: number;
  seed: number;
  concurrency?: number;
  requestTimeoutMs?: number;
  storeDeadlineMs?: number;
  log?: (line: string) => void;
}

export interface FuzzFailure {
  index: number;
  family: string;
  request: string;
  problem: string;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  byFamily: Record<string, Record<string, number>>;
  statusCounts: Record<string, number>;
  serverErrors: number;
  hangs: number;
  crashed: string[];
  peakRssMb: Record<string, number>;
  acceptedEvents: number;
  storedEvents: number;
  duplicateRows: number;
  failures: FuzzFailure[];
  durationMs: number;
}

interface Outcome {
  status: number | "hang" | "error";
  body: string;
}

function send(baseUrl: string, fuzzCase: FuzzCase, timeoutMs: number): Promise<Outcome> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...fuzzCase.headers };
    if (fuzzCase.upgrade)
      Object.assign(headers, {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      });
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request({
        host: url.hostname,
        port: url.port,
        method: fuzzCase.method,
        path: fuzzCase.path,
        headers,
        agent: false,
      });
    } catch (error) {
      // The client refused to send it (e.g. a character Node will not put in a path): not a server finding.
      return resolve({ status: "error", body: String(error) });
    }
    const timer = setTimeout(() => {
      req.destroy();
      finish({ status: "hang", body: "" });
    }, timeoutMs);
    req.on("upgrade", (response, socket) => {
      socket.destroy();
      finish({ status: response.statusCode ?? 101, body: "" });
    });
    req.on("response", (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        // Keep the head of the body for the report; read the rest (an export) and drop it.
        if (size < 64 * 1024) chunks.push(chunk);
      });
      response.on("end", () =>
        finish({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
      response.on("error", () => finish({ status: response.statusCode ?? 0, body: "" }));
    });
    req.on("error", (error) => finish({ status: "error", body: String(error) }));
    if (fuzzCase.body !== undefined) req.end(fuzzCase.body);
    else req.end();
  });
}

function rssMb(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The event ids a 2xx ingest answer accepted. */
function acceptedIds(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { id?: string; ids?: string[] };
    return parsed.ids ?? (parsed.id ? [parsed.id] : []);
  } catch {
    return [];
  }
}

function describeCase(fuzzCase: FuzzCase): string {
  const body =
    fuzzCase.body === undefined
      ? ""
      : ` body ${String(fuzzCase.body).slice(0, 160)}${String(fuzzCase.body).length > 160 ? "…" : ""}`;
  return `${fuzzCase.method} ${fuzzCase.path.slice(0, 200)}${body}`;
}

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const random = new Random(options.seed);
  const report: FuzzReport = {
    seed: options.seed,
    cases: options.cases,
    byFamily: {},
    statusCounts: {},
    serverErrors: 0,
    hangs: 0,
    crashed: [],
    peakRssMb: {},
    acceptedEvents: 0,
    storedEvents: 0,
    duplicateRows: 0,
    failures: [],
    durationMs: 0,
  };
  const accepted = new Set<string>();
  const fail = (failure: FuzzFailure) => {
    if (report.failures.length < 50) report.failures.push(failure);
  };
  const watch = () => {
    for (const process of target.processes) {
      if (!alive(process.pid)) {
        if (!report.crashed.includes(process.name)) report.crashed.push(process.name);
        continue;
      }
      const rss = rssMb(process.pid);
      if (rss !== undefined)
        report.peakRssMb[process.name] = Math.max(report.peakRssMb[process.name] ?? 0, Math.round(rss));
    }
  };
  const watcher = setInterval(watch, 250);

  // Cases are generated in order from the seed, so case N is the same in every run with that seed.
  const cases = Array.from({ length: options.cases }, () =>
    generateCase(random, target.credentials, target.routes),
  );
  let next = 0;
  const worker = async () => {
    while (next < cases.length && report.crashed.length === 0) {
      const index = next++;
      const fuzzCase = cases[index]!;
      const outcome = await send(
        fuzzCase.upgrade ? target.streamerUrl : target.apiUrl,
        fuzzCase,
        options.requestTimeoutMs ?? 20_000,
      );
      const status = String(outcome.status);
      const family = (report.byFamily[fuzzCase.family] ??= {});
      family[status] = (family[status] ?? 0) + 1;
      report.statusCounts[status] = (report.statusCounts[status] ?? 0) + 1;
      if (outcome.status === "hang") {
        report.hangs++;
        fail({
          index,
          family: fuzzCase.family,
          request: describeCase(fuzzCase),
          problem: "no answer in time",
        });
      } else if (typeof outcome.status === "number" && outcome.status >= 500) {
        report.serverErrors++;
        fail({
          index,
          family: fuzzCase.family,
          request: describeCase(fuzzCase),
          problem: `${outcome.status} ${outcome.body.slice(0, 300)}`,
        });
      } else if (
        typeof outcome.status === "number" &&
        fuzzCase.ingest &&
        outcome.status >= 200 &&
        outcome.status < 300
      ) {
        for (const id of acceptedIds(outcome.body)) accepted.add(id);
      }
      if ((index + 1) % 1000 === 0) log(`fuzz: ${index + 1}/${cases.length} cases`);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
    watch();
    // Every accepted event must be stored, exactly once, within the deadline.
    report.acceptedEvents = accepted.size;
    const ids = [...accepted];
    const deadline = Date.now() + (options.storeDeadlineMs ?? 60_000);
    for (;;) {
      const stored = await target.storedCount(ids);
      report.storedEvents = stored.distinct;
      report.duplicateRows = stored.rows - stored.distinct;
      if (stored.distinct === ids.length || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    watch();
  } finally {
    clearInterval(watcher);
  }
  if (report.storedEvents !== report.acceptedEvents)
    fail({
      index: -1,
      family: "ingest",
      request: "-",
      problem: `${report.acceptedEvents - report.storedEvents} accepted events not stored`,
    });
  if (report.duplicateRows > 0)
    fail({ index: -1, family: "ingest", request: "-", problem: `${report.duplicateRows} duplicate rows` });
  for (const name of report.crashed)
    fail({ index: -1, family: "process", request: "-", problem: `${name} exited during the run` });
  for (const process of target.processes)
    if ((report.peakRssMb[process.name] ?? 0) > process.maxRssMb)
      fail({
        index: -1,
        family: "process",
        request: "-",
        problem: `${process.name} RSS ${report.peakRssMb[process.name]} MB > ${process.maxRssMb} MB`,
      });
  report.durationMs = Date.now() - started;
  return report;
}

/** The report as a markdown summary: case mix by family and status, and any failures. */
export function fuzzReportMarkdown(report: FuzzReport): string {
  const statuses = Object.keys(report.statusCounts).sort();
  const lines = [
    `Seed ${report.seed}, ${report.cases} cases in ${(report.durationMs / 1000).toFixed(1)} s: ${report.serverErrors} 5xx, ${report.hangs} hangs, ${report.crashed.length} crashes; ${report.acceptedEvents} events accepted, ${report.storedEvents} stored, ${report.duplicateRows} duplicate rows; peak RSS ${Object.entries(
      report.peakRssMb,
    )
      .map(([name, mb]) => `${name} ${mb} MB`)
      .join(", ")}.`,
    "",
    `| family | cases | ${statuses.join(" | ")} |`,
    `| --- | --- | ${statuses.map(() => "---").join(" | ")} |`,
    ...Object.entries(report.byFamily)
      .sort()
      .map(
        ([family, counts]) =>
          `| ${family} | ${Object.values(counts).reduce((a, b) => a + b, 0)} | ${statuses.map((s) => counts[s] ?? 0).join(" | ")} |`,
      ),
  ];
  if (report.failures.length) {
    lines.push("", "Failures:");
    for (const failure of report.failures)
      lines.push(`- case ${failure.index} (${failure.family}): ${failure.problem} — ${failure.request}`);
  }
  return lines.join("\n");
}

export function fuzzPassed(report: FuzzReport): boolean {
  return report.failures.length === 0;
}
