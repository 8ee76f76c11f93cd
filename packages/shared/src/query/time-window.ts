// Time windows for reads over the events table. Every search and export is bounded in time, so a
// query without `from` never walks a tenant's whole history by accident: the default is the last
// 30 days, and no window may span more than 366 days (a year of the default 365-day retention).
import { VigilError } from "../errors/vigil-error.ts";

const DAY_MS = 86_400_000;

export const DEFAULT_WINDOW_DAYS = 30;
export const MAX_WINDOW_DAYS = 366;

export interface TimeWindow {
  /** Inclusive start (ISO). */
  from: string;
  /** Exclusive end (ISO), or undefined for "up to the newest event". */
  to?: string;
}

/**
 * Resolves `from`/`to` as given by a client into a bounded window: a missing `from` becomes
 * `DEFAULT_WINDOW_DAYS` before `to` (or now); an open `to` stays open (new events keep appearing)
 * but the window is measured up to now.
 */
export function resolveTimeWindow(given: { from?: string; to?: string }, now: Date = new Date()): TimeWindow {
  const end = given.to ? new Date(given.to) : now;
  const from = given.from ? new Date(given.from) : new Date(end.getTime() - DEFAULT_WINDOW_DAYS * DAY_MS);
  if (from.getTime() > end.getTime() && !given.to) {
    // `from` in the future with an open end: an empty window, not an error.
    return { from: from.toISOString() };
  }
  if (end.getTime() - from.getTime() > MAX_WINDOW_DAYS * DAY_MS) {
    const message = `the time window may span at most ${MAX_WINDOW_DAYS} days; narrow \`from\`/\`to\``;
    throw new VigilError("INVALID_PARAMETER", message, [
      { path: "from", message: `must be at most ${MAX_WINDOW_DAYS} days before \`to\` (or now)` },
    ]);
  }
  return { from: from.toISOString(), ...(given.to ? { to: end.toISOString() } : {}) };
}
