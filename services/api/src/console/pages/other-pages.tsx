// The smaller console pages: sign-in, live tail, stats, resource history, keys and users, tenants.
import type { ApiKeyRecord } from "@vigil/shared/auth/api-keys";
import { ACTION_TYPES, OUTCOMES, SEVERITIES } from "@vigil/shared/events/event-schema";
import type { EventStats } from "@vigil/shared/query/event-stats";
import type { ResourceHistory } from "@vigil/shared/query/resource-history";
import type { Tenant } from "@vigil/shared/tenants/tenants";
import { DiffView } from "./event-detail.tsx";
import { type EventsPlace, eventHref, FilterChecks, FilterText, hrefWith } from "./events.tsx";

const CONSOLE_PLACE: EventsPlace = { base: "/console/events", keep: {}, pins: {}, exports: true };

export function SignInForm(props: { csrf: string; next: string; error?: string }) {
  return (
    <form method="post" action="/console/sign-in" class="sign-in">
      <input type="hidden" name="csrf" value={props.csrf} />
      <input type="hidden" name="next" value={props.next} />
      {props.error ? (
        <p class="problem" role="alert">
          {props.error}
        </p>
      ) : null}
      <label>
        <span>Email</span>
        <input type="email" name="username" autocomplete="username" required />
      </label>
      <label>
        <span>Password</span>
        <input type="password" name="password" autocomplete="current-password" required />
      </label>
      <button type="submit">Sign in</button>
    </form>
  );
}

/**
 * The live tail's page: it streams over the streamer's WebSocket with short-lived stream tokens,
 * from the session, or for the viewer (`viewer` set) from its token, carrying its pins.
 */
export function LiveTail(props: {
  params: URLSearchParams;
  viewer?: { token: string; pins: Record<string, string | undefined> };
}) {
  // The stream's filters (spec §6): those of GET /logs except q and sorting.
  const text = [
    ["user_id", "User"],
    ["session_id", "Session"],
    ["action", "Action"],
    ["resource_type", "Resource type"],
    ["resource_id", "Resource id"],
  ] as const;
  return (
    <div
      class="tail"
      data-stream-token={
        props.viewer
          ? `/console/viewer/stream-token?${new URLSearchParams({ token: props.viewer.token })}`
          : undefined
      }
      data-event-base={props.viewer ? "/console/viewer/events/" : "/console/events/"}
      data-keep={props.viewer ? new URLSearchParams({ token: props.viewer.token }).toString() : ""}
    >
      <form
        method="get"
        action={props.viewer ? "/console/viewer/tail" : "/console/tail"}
        class="filters"
        aria-label="Stream filters"
      >
        {props.viewer ? <input type="hidden" name="token" value={props.viewer.token} /> : null}
        <div class="fields">
          {text.map(([name, label]) => (
            <FilterText
              name={name}
              label={label}
              params={props.params}
              pinned={props.viewer?.pins[name]}
              pinnedTitle="fixed by this viewer link"
            />
          ))}
          <label>
            <span>Outcome</span>
            <select name="outcome">
              <option value="">any</option>
              {OUTCOMES.map((outcome) => (
                <option value={outcome} selected={props.params.get("outcome") === outcome}>
                  {outcome}
                </option>
              ))}
            </select>
          </label>
        </div>
        <FilterChecks legend="Severity" name="severity" options={SEVERITIES} params={props.params} />
        <FilterChecks legend="Action type" name="action_type" options={ACTION_TYPES} params={props.params} />
        <div class="actions">
          <button type="submit">Apply filters</button>
        </div>
      </form>
      <div class="tail-bar">
        <span>
          Status:{" "}
          <strong id="tail-status" aria-live="polite">
            connecting
          </strong>
        </span>
        <button type="button" id="tail-toggle" aria-pressed="false">
          Pause
        </button>
        <span id="tail-new" class="badge" hidden>
          0 new
        </span>
        <span id="tail-warning" class="problem" role="alert" hidden />
      </div>
      <div class="table-wrap" id="tail-scroll">
        <table class="events" data-testid="tail-table">
          <caption>Newest at the bottom; at most 500 rows are kept.</caption>
          <thead>
            <tr>
              <th scope="col">Seq</th>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Resource</th>
              <th scope="col">User</th>
              <th scope="col">Outcome</th>
              <th scope="col">Severity</th>
            </tr>
          </thead>
          <tbody id="tail-rows" />
        </table>
      </div>
    </div>
  );
}

export function StatsView(props: { stats: EventStats; params: URLSearchParams }) {
  const { stats } = props;
  const search = (changes: Record<string, string>) =>
    hrefWith("/console/events", new URLSearchParams({ from: stats.from, to: stats.to }), changes);
  const breakdown = (title: string, field: string, counts: Record<string, number>) => (
    <section aria-label={title}>
      <h2>{title}</h2>
      <table class="breakdown">
        <tbody>
          {Object.entries(counts).map(([key, count]) => (
            <tr>
              <th scope="row">
                <a href={search({ [field]: key })}>{key}</a>
              </th>
              <td>{count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
  return (
    <div class="stats">
      <form method="get" action="/console/stats" class="filters" aria-label="Window">
        <div class="fields">
          <label>
            <span>From (RFC 3339)</span>
            <input type="text" name="from" value={props.params.get("from") ?? ""} />
          </label>
          <label>
            <span>To (RFC 3339)</span>
            <input type="text" name="to" value={props.params.get("to") ?? ""} />
          </label>
          <label>
            <span>Bucket</span>
            <select name="bucket">
              {["day", "hour"].map((bucket) => (
                <option value={bucket} selected={stats.bucket === bucket}>
                  {bucket}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="actions">
          <button type="submit">Show</button>
        </div>
      </form>
      <p class="total">
        Total: <strong data-testid="stats-total">{stats.total}</strong> events from{" "}
        <time datetime={stats.from}>{stats.from}</time> to <time datetime={stats.to}>{stats.to}</time>
      </p>
      <figure>
        <div id="stats-chart" data-timeseries={JSON.stringify(stats.timeseries)} aria-hidden="true" />
        <figcaption>Events per {stats.bucket}</figcaption>
      </figure>
      <details>
        <summary>Time series as a table</summary>
        <table class="breakdown" data-testid="timeseries-table">
          <thead>
            <tr>
              <th scope="col">{stats.bucket}</th>
              <th scope="col">events</th>
            </tr>
          </thead>
          <tbody>
            {stats.timeseries.map((point) => (
              <tr>
                <td>{point.bucket}</td>
                <td>{point.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <div class="grid">
        {breakdown("By action type", "action_type", stats.by_action_type)}
        {breakdown("By severity", "severity", stats.by_severity)}
        {breakdown("By outcome", "outcome", stats.by_outcome)}
        {breakdown(
          "Top resource types",
          "resource_type",
          Object.fromEntries(stats.top_resource_types.map((row) => [row.resource_type, row.count])),
        )}
        {breakdown(
          "Top users",
          "user_id",
          Object.fromEntries(stats.top_users.map((row) => [row.user_id, row.count])),
        )}
      </div>
    </div>
  );
}

export function HistoryView(props: { history: ResourceHistory; params: URLSearchParams }) {
  const { history } = props;
  return (
    <div class="history">
      <p>
        <a
          href={hrefWith("/console/events", new URLSearchParams(), {
            resource_type: history.resource_type,
            resource_id: history.resource_id,
          })}
        >
          Search these events
        </a>
      </p>
      {history.data.length === 0 ? <p class="muted">No events for this resource.</p> : null}
      <ol class="timeline" data-testid="history">
        {history.data.map((entry) => (
          <li data-seq={String(entry.seq)} data-id={entry.id}>
            <h2>
              <a href={eventHref(CONSOLE_PLACE, entry.id)}>
                #{entry.seq} {entry.action}
              </a>{" "}
              <span class="muted">
                {entry.occurred_at} · {entry.user_id ?? "system"} · {entry.outcome}
              </span>
            </h2>
            <DiffView diff={entry.diff} />
          </li>
        ))}
      </ol>
      {history.next_cursor ? (
        <a rel="next" href={hrefWith("/console/history", props.params, { cursor: history.next_cursor })}>
          Later events
        </a>
      ) : null}
    </div>
  );
}

export function AdminView(props: {
  csrf: string;
  keys: ApiKeyRecord[];
  users: Array<{ id: string; email: string; role: string; status: string; created_at: string }>;
  viewerOrigins: string[];
  createdKey?: string;
}) {
  return (
    <div class="admin">
      {props.createdKey ? (
        <section class="notice" aria-live="polite" aria-label="New API key">
          <p>New API key — copy it now, it is shown only once:</p>
          <p>
            <code data-testid="new-key">{props.createdKey}</code>
          </p>
        </section>
      ) : null}
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">API keys</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {props.keys.map((key) => (
                <tr>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{key.scopes.join(", ")}</td>
                  <td>{key.last_used_at ?? "never"}</td>
                  <td>
                    {key.revoked_at ? (
                      `revoked ${key.revoked_at}`
                    ) : (
                      <form method="post" action={`/console/admin/keys/${key.id}/revoke`}>
                        <input type="hidden" name="csrf" value={props.csrf} />
                        <button type="submit">Revoke {key.name}</button>
                      </form>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form method="post" action="/console/admin/keys" class="inline-form">
          <input type="hidden" name="csrf" value={props.csrf} />
          <label>
            <span>Key name</span>
            <input type="text" name="name" required maxlength={200} />
          </label>
          <fieldset>
            <legend>Scopes</legend>
            {["ingest", "read", "viewer"].map((scope) => (
              <label class="check">
                <input type="checkbox" name="scopes" value={scope} checked={scope !== "viewer"} />
                {scope}
              </label>
            ))}
          </fieldset>
          <button type="submit">Create key</button>
        </form>
      </section>
      <section aria-labelledby="users-heading">
        <h2 id="users-heading">Users</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {props.users.map((user) => (
                <tr>
                  <td>{user.email}</td>
                  <td>{user.role}</td>
                  <td>{user.status}</td>
                  <td>{user.created_at}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form method="post" action="/console/admin/users" class="inline-form">
          <input type="hidden" name="csrf" value={props.csrf} />
          <label>
            <span>Email</span>
            <input type="email" name="email" required />
          </label>
          <label>
            <span>Password (12+ characters)</span>
            <input type="password" name="password" autocomplete="new-password" required minlength={12} />
          </label>
          <label>
            <span>Role</span>
            <select name="role">
              <option value="auditor">auditor</option>
              <option value="tenant_admin">tenant_admin</option>
            </select>
          </label>
          <button type="submit">Add user</button>
        </form>
      </section>
      <section aria-labelledby="viewer-heading">
        <h2 id="viewer-heading">Embedded viewer</h2>
        <p>
          Origins allowed to frame the viewer (one per line; the page's <code>frame-ancestors</code>).
        </p>
        <form method="post" action="/console/admin/viewer-origins" class="inline-form">
          <input type="hidden" name="csrf" value={props.csrf} />
          <label>
            <span>Viewer origins</span>
            <textarea name="viewer_origins" rows={3}>
              {props.viewerOrigins.join("\n")}
            </textarea>
          </label>
          <button type="submit">Save origins</button>
        </form>
      </section>
    </div>
  );
}

export function TenantsView(props: { csrf: string; tenants: Tenant[]; selected: string | null }) {
  return (
    <div class="tenants">
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Status</th>
              <th scope="col">Retention</th>
              <th scope="col">Work in</th>
              <th scope="col">Change status</th>
            </tr>
          </thead>
          <tbody>
            {props.tenants.map((tenant) => (
              <tr>
                <td>{tenant.name}</td>
                <td>
                  <code>{tenant.id}</code>
                </td>
                <td>{tenant.status}</td>
                <td>{tenant.retention_days} days</td>
                <td>
                  {props.selected === tenant.id ? (
                    <strong>current</strong>
                  ) : (
                    <form method="post" action="/console/tenants/select">
                      <input type="hidden" name="csrf" value={props.csrf} />
                      <input type="hidden" name="tenant_id" value={tenant.id} />
                      <button type="submit">Open {tenant.name}</button>
                    </form>
                  )}
                </td>
                <td>
                  <form method="post" action={`/console/tenants/${tenant.id}/status`}>
                    <input type="hidden" name="csrf" value={props.csrf} />
                    <input
                      type="hidden"
                      name="status"
                      value={tenant.status === "active" ? "suspended" : "active"}
                    />
                    <button type="submit">
                      {tenant.status === "active" ? "Suspend" : "Activate"} {tenant.name}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form method="post" action="/console/tenants" class="inline-form">
        <input type="hidden" name="csrf" value={props.csrf} />
        <label>
          <span>New tenant name</span>
          <input type="text" name="name" required maxlength={200} />
        </label>
        <button type="submit">Create tenant</button>
      </form>
    </div>
  );
}
