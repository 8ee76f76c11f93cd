// The list filters of GET /api/v1/logs evaluated in memory, for events fanned out live. Must agree
// with `applyEventFilter` (query/search-events.ts), which evaluates the same filter in SQL for the
// backfill; the stream tests check both halves against each other on the same events.
import type { StoredEvent } from "../events/event-schema.ts";
import type { EventFilter } from "../query/search-params.ts";

/** The filters a stream accepts: everything but full-text `q`, which only PostgreSQL evaluates. */
export type StreamFilter = Omit<EventFilter, "q">;

export interface CompiledStreamFilter {
  readonly filter: StreamFilter;
  /**
   * Equal for equal filters (field order and list order aside), so a feed batch evaluates and
   * frames each distinct filter once, whatever the number of subscribers sharing it.
   */
  readonly key: string;
  /** No condition at all: every event matches. */
  readonly matchesEverything: boolean;
  matches(event: StoredEvent): boolean;
}

/** Canonical form of a filter: defined fields only, in name order, lists sorted and deduplicated. */
function filterKey(filter: StreamFilter): string {
  const entries = Object.entries(filter)
    .filter(([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0))
    .map(([name, value]) => [name, Array.isArray(value) ? [...new Set(value)].sort() : value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}

/** Parses the time bounds once, so matching an event costs a handful of comparisons. */
export function compileStreamFilter(filter: StreamFilter): CompiledStreamFilter {
  const from = filter.from ? Date.parse(filter.from) : null;
  const to = filter.to ? Date.parse(filter.to) : null;
  const actionTypes = filter.action_type?.length ? new Set<string>(filter.action_type) : null;
  const severities = filter.severity?.length ? new Set<string>(filter.severity) : null;
  const matches = (event: StoredEvent): boolean => {
    if (filter.user_id !== undefined && event.user_id !== filter.user_id) return false;
    if (filter.session_id !== undefined && event.session_id !== filter.session_id) return false;
    if (actionTypes && !actionTypes.has(event.action_type)) return false;
    if (filter.action !== undefined && event.action !== filter.action) return false;
    if (filter.resource_type !== undefined && event.resource_type !== filter.resource_type) return false;
    if (filter.resource_id !== undefined && event.resource_id !== filter.resource_id) return false;
    if (severities && !severities.has(event.severity)) return false;
    if (filter.outcome !== undefined && event.outcome !== filter.outcome) return false;
    if (from !== null || to !== null) {
      const occurred = Date.parse(event.occurred_at);
      if (from !== null && occurred < from) return false;
      if (to !== null && occurred >= to) return false;
    }
    return true;
  };
  const key = filterKey(filter);
  return { filter, key, matchesEverything: key === "[]", matches };
}
