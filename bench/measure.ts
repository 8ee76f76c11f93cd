// Summaries the report uses: every figure is the median over repeated runs with its spread
// (min–max), and latency samples are reduced to percentiles; CPU meters say what bounds a figure.
import { readdirSync, readFileSync } from "node:fs";

export interface Figure {
  /** Median over the runs. */
  median: number;
  min: number;
  max: number;
  runs: number[];
  unit: string;
}

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function figure(runs: number[], unit: string): Figure {
  const finite = runs.filter((value) => Number.isFinite(value));
  return {
    median: percentile(finite, 50),
    min: finite.length ? Math.min(...finite) : Number.NaN,
    max: finite.length ? Math.max(...finite) : Number.NaN,
    runs,
    unit,
  };
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatFigure(value: Figure): string {
  if (value.runs.length <= 1) return `${formatNumber(value.median)} ${value.unit}`;
  return `${formatNumber(value.median)} ${value.unit} (${formatNumber(value.min)}–${formatNumber(value.max)})`;
}

/** A target as the report prints it: what is compared, the limit, the measured value, PASS/MISS. */
export interface TargetCheck {
  section: string;
  target: string;
  measured: string;
  pass: boolean;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or the deadline passes; returns whether it became true. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(intervalMs);
  }
  return check();
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux); 0 when it is gone.
 * `withReapedChildren` adds what its exited children used (cutime + cstime, counted once the parent
 * reaps them): without it a busy backend that ends mid-measurement takes its CPU with it and a
 * tree's total falls (a negative figure for PostgreSQL).
 */
function processCpuSeconds(pid: number, withReapedChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const reaped = withReapedChildren ? Number(fields[13]) + Number(fields[14]) : 0;
    return (Number(fields[11]) + Number(fields[12]) + reaped) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU seconds of a process and its direct children, live or exited (PostgreSQL's postmaster and its backends). */
export function processTreeCpuSeconds(rootPid: number): number {
  let total = processCpuSeconds(rootPid, true);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === rootPid) total += processCpuSeconds(Number(entry));
    } catch {}
  }
  return total;
}

/** Resident set of a process now and its high-water mark (MB), from /proc (Linux). */
export function memoryMb(pid: number): { rss: number; hwm: number } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    throw new Error(
      `process ${pid} is gone: its memory cannot be measured (did the service exit? see its log)`,
    );
  }
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/**
 * Snapshot of CPU seconds per named process (with its direct children when `tree`: PostgreSQL's
 * backends); `since()` gives what each used in between.
 */
export function cpuMeter(processes: Record<string, { pid: number | undefined; tree?: boolean }>) {
  const read = () =>
    Object.fromEntries(
      Object.entries(processes).map(([name, { pid, tree }]) => [
        name,
        pid === undefined ? 0 : tree ? processTreeCpuSeconds(pid) : processCpuSeconds(pid),
      ]),
    );
  const start = read();
  return {
    since: (): Record<string, number> => {
      const now = read();
      return Object.fromEntries(Object.keys(now).map((name) => [name, now[name]! - start[name]!]));
    },
  };
}

/** "api 1.2 cores, 3.4 ms/request; …" — which process was busy, and how much per unit of work. */
export function cpuReport(
  used: Record<string, number>,
  seconds: number,
  units: number,
  unit: string,
): string {
  return Object.entries(used)
    .map(
      ([name, cpu]) =>
        `${name} ${(cpu / seconds).toFixed(2)} cores (${formatNumber((cpu * 1000) / Math.max(units, 1))} CPU ms per ${unit})`,
    )
    .join("; ");
}
