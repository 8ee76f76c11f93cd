// HTTP load from a separate process, so the generator never shares an event loop with the server
// it measures. `generateLoad(spec)` (parent side) spawns this file, which runs autocannon with
// keep-alive connections and prints one JSON result line. Every run is bounded by a request count
// or a duration, and by a hard time limit after which the parent kills the process.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sampleEvent } from "@vigil/testkit/events";
import { REPO_ROOT, TSX_LOADER } from "@vigil/testkit/services";
import autocannon from "autocannon";

export interface LoadSpec {
  url: string;
  /** X-API-Keys to send, one per request in turn (none for the HTTP floor). */
  keys?: string[];
  /** One ~650-byte event per request, or a bulk array of `bulkSize` events. */
  body: "single" | { bulkSize: number };
  connections: number;
  /** Stop after this many requests... */
  amount?: number;
  /** ...or after this many seconds. */
  durationSeconds?: number;
  /** Requests per second over all connections (paced load); unset = as fast as possible. */
  overallRate?: number;
  /** Hard limit: the process is killed after this long. */
  timeoutSeconds: number;
}

export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  startedAt: number;
  finishedAt: number;
}

export function requestBody(body: LoadSpec["body"]): string {
  if (body === "single") return JSON.stringify(sampleEvent(1));
  return JSON.stringify(Array.from({ length: body.bulkSize }, (_, index) => sampleEvent(index)));
}

/** Parent side: runs one bounded load in a child process and returns its result. */
export function generateLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", TSX_LOADER, fileURLToPath(import.meta.url), JSON.stringify(spec)],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), spec.timeoutSeconds * 1000);
    child.on("exit", (code, signal) => {
      clearTimeout(killer);
      const line = stdout.trim().split("\n").pop() ?? "";
      if (code === 0 && line.startsWith("{")) resolve(JSON.parse(line) as LoadResult);
      else reject(new Error(`load generator failed (${signal ?? code}): ${stderr.slice(-2000)}`));
    });
  });
}

async function main(spec: LoadSpec) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const keys = spec.keys ?? [];
  let sent = 0;
  const startedAt = Date.now();
  const result = await autocannon({
    url: spec.url,
    method: "POST",
    headers,
    body: requestBody(spec.body),
    ...(keys.length
      ? {
          requests: [
            {
              setupRequest: (request) => ({
                ...request,
                headers: { ...headers, "x-api-key": keys[sent++ % keys.length]! },
              }),
            },
          ],
        }
      : {}),
    connections: spec.connections,
    pipelining: 1,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.durationSeconds ?? 10 }),
    ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
    timeout: 30,
  });
  const finishedAt = Date.now();
  const seconds = (finishedAt - startedAt) / 1000;
  const ok = result["2xx"];
  const output: LoadResult = {
    requests: result.requests.total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds,
    requestsPerSecond: ok / seconds,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    startedAt,
    finishedAt,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(JSON.parse(process.argv[2] ?? "{}") as LoadSpec).then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`${error?.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
