// Summaries the report uses: every figure is the median over repeated runs with its spread
// (min–max), and latency samples are reduced to percentiles.

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
