// The events page: every filter of GET /api/v1/logs as a GET form, so the URL is the state
// (shareable; Back and reload work), quick time ranges, keyset paging and export links.
import { ACTION_TYPES, OUTCOMES, SEVERITIES, type StoredEvent } from "@vigil/shared/events/event-schema";
import { SORTS } from "@vigil/shared/query/search-params";
import type { ViewerPins } from "@vigil/shared/viewer/viewer-pins";
import type { Child } from "hono/jsx";

/** Where the page lives: the signed-in console, or the embeddable viewer (token carried in links). */
export interface EventsPlace {
  base: "/console/events" | "/console/viewer";
  /** Query parameters every link of the page keeps (the viewer's token). */
  keep: Record<string, string>;
  pins: ViewerPins;
  exports: boolean;
}

export const QUICK_RANGES: Array<{ label: string; minutes: number }> = [
  { label: "15 min", minutes: 15 },
  { label: "1 hour", minutes: 60 },
  { label: "24 hours", minutes: 1440 },
  { label: "7 days", minutes: 10_080 },
  { label: "30 days", minutes: 43_200 },
];

const TEXT_FILTERS = [
  ["q", "Full text"],
  ["user_id", "User"],
  ["session_id", "Session"],
  ["action", "Action"],
  ["resource_type", "Resource type"],
  ["resource_id", "Resource id"],
  ["from", "From (RFC 3339)"],
  ["to", "To (RFC 3339)"],
] as const;

export function hrefWith(
  base: string,
  params: URLSearchParams,
  changes: Record<string, string | null>,
): string {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) next.delete(key);
    else next.set(key, value);
  }
  const query = next.toString();
  return query ? `${base}?${query}` : base;
}

export function eventHref(place: EventsPlace, id: string): string {
  const base = place.base === "/console/viewer" ? `/console/viewer/events/${id}` : `/console/events/${id}`;
  return hrefWith(base, new URLSearchParams(place.keep), {});
}

export function resourceHref(place: EventsPlace, event: Pick<StoredEvent, "resource_type" | "resource_id">) {
  const params = new URLSearchParams({ resource_type: event.resource_type, resource_id: event.resource_id });
  if (place.base === "/console/viewer")
    return hrefWith(place.base, new URLSearchParams(place.keep), Object.fromEntries(params));
  return `/console/history?${params}`;
}

/** A text filter; a viewer's pinned value shows read-only and is not sent (the token carries it). */
export function FilterText(props: {
  name: string;
  label: string;
  params: URLSearchParams;
  pinned: string | undefined;
  pinnedTitle: string;
}) {
  const { name, pinned } = props;
  return (
    <label>
      <span>{props.label}</span>
      <input
        type="text"
        name={pinned === undefined ? name : undefined}
        value={pinned ?? props.params.get(name) ?? ""}
        readonly={pinned !== undefined}
        title={pinned !== undefined ? props.pinnedTitle : undefined}
      />
    </label>
  );
}

/** A repeatable filter as checkboxes, checked from the query (repeated or comma-separated). */
export function FilterChecks(props: {
  legend: string;
  name: string;
  options: readonly string[];
  params: URLSearchParams;
}) {
  const chosen = new Set(props.params.getAll(props.name).flatMap((value) => value.split(",")));
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      {props.options.map((option) => (
        <label class="check">
          <input type="checkbox" name={props.name} value={option} checked={chosen.has(option)} />
          {option}
        </label>
      ))}
    </fieldset>
  );
}

export function EventsForm(props: { place: EventsPlace; params: URLSearchParams; now: Date }) {
  const { place, params } = props;
  return (
    <form method="get" action={place.base} class="filters" aria-label="Filters">
      {Object.entries(place.keep).map(([key, value]) => (
        <input type="hidden" name={key} value={value} />
      ))}
      <div class="fields">
        {TEXT_FILTERS.map(([name, label]) => (
          <FilterText
            name={name}
            label={label}
            params={params}
            pinned={(place.pins as Record<string, string | undefined>)[name]}
            pinnedTitle="fixed by this viewer"
          />
        ))}
        <label>
          <span>Outcome</span>
          <select name="outcome">
            <option value="">any</option>
            {OUTCOMES.map((outcome) => (
              <option value={outcome} selected={params.get("outcome") === outcome}>
                {outcome}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Sort</span>
          <select name="sort">
            {SORTS.map((sort) => (
              <option value={sort} selected={(params.get("sort") ?? "-occurred_at") === sort}>
                {sort}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Rows</span>
          <select name="limit">
            {["5", "10", "25", "50", "100", "250"].map((limit) => (
              <option value={limit} selected={(params.get("limit") ?? "50") === limit}>
                {limit}
              </option>
            ))}
          </select>
        </label>
      </div>
      <FilterChecks legend="Severity" name="severity" options={SEVERITIES} params={params} />
      <FilterChecks legend="Action type" name="action_type" options={ACTION_TYPES} params={params} />
      <div class="actions">
        <button type="submit">Search</button>
        <a href={hrefWith(place.base, new URLSearchParams(place.keep), {})}>Reset</a>
        <span class="quick">
          Last:{" "}
          {QUICK_RANGES.map((range) => (
            <a
              href={hrefWith(place.base, params, {
                from: new Date(props.now.getTime() - range.minutes * 60_000).toISOString(),
                to: null,
                cursor: null,
              })}
            >
              {range.label}
            </a>
          ))}
        </span>
      </div>
    </form>
  );
}

export function EventsTable(props: { place: EventsPlace; events: StoredEvent[]; caption: string }) {
  return (
    <div class="table-wrap">
      <table class="events" data-testid="events-table">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Seq</th>
            <th scope="col">Action</th>
            <th scope="col">Resource</th>
            <th scope="col">User</th>
            <th scope="col">Outcome</th>
            <th scope="col">Severity</th>
            <th scope="col">IP</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((event) => (
            <tr data-id={event.id} data-seq={String(event.seq)}>
              <td>
                <a href={eventHref(props.place, event.id)}>
                  <time datetime={event.occurred_at}>
                    {event.occurred_at.replace("T", " ").replace("Z", "")}
                  </time>
                </a>
              </td>
              <td>{event.seq}</td>
              <td>{event.action}</td>
              <td>
                <a href={resourceHref(props.place, event)}>
                  {event.resource_type}/{event.resource_id}
                </a>
              </td>
              <td>{event.user_id ?? "—"}</td>
              <td class={`outcome-${event.outcome}`}>{event.outcome}</td>
              <td class={`sev-${event.severity.toLowerCase()}`}>{event.severity}</td>
              <td>{event.ip_address ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function EventsResults(props: {
  place: EventsPlace;
  params: URLSearchParams;
  events: StoredEvent[];
  nextCursor: string | null;
  notice?: Child;
}) {
  const { place, params } = props;
  const filterParams = new URLSearchParams(params);
  filterParams.delete("cursor");
  filterParams.delete("limit");
  filterParams.delete("sort");
  // The viewer's links carry its token; its export applies the token's pins on the server.
  const viewer = place.base === "/console/viewer";
  const exportBase = viewer ? "/console/viewer/export" : "/console/export";
  const exportParams = new URLSearchParams([...Object.entries(place.keep), ...filterParams]);
  return (
    <section aria-label="Results">
      {props.notice}
      <EventsTable
        place={place}
        events={props.events}
        caption={
          props.events.length === 0 ? "No events match." : `${props.events.length} events on this page`
        }
      />
      <nav class="pager" aria-label="Pages">
        {params.get("cursor") ? (
          <a href={hrefWith(place.base, params, { cursor: null })}>First page</a>
        ) : null}
        {props.nextCursor ? (
          <a rel="next" href={hrefWith(place.base, params, { cursor: props.nextCursor })}>
            Next page
          </a>
        ) : null}
        {place.exports ? (
          <span class="exports">
            Export:{" "}
            <a href={hrefWith(exportBase, exportParams, { format: "csv" })} download>
              CSV
            </a>{" "}
            <a href={hrefWith(exportBase, exportParams, { format: "ndjson" })} download>
              NDJSON
            </a>
          </span>
        ) : null}
        {viewer ? <a href={hrefWith("/console/viewer/tail", exportParams, { q: null })}>Live tail</a> : null}
      </nav>
    </section>
  );
}
