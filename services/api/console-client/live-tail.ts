// The live tail (spec §6 from the browser): a short-lived, stream-only token from the console for
// each connection, resume with `since` after any drop, events shown in seq order exactly once.
// Pausing (or scrolling away from the bottom) keeps receiving into a buffer and counts "N new".

type Status = "connecting" | "backfilling" | "live" | "paused" | "reconnecting";
interface StreamEvent {
  id: string;
  seq: number;
  occurred_at: string;
  action: string;
  resource_type: string;
  resource_id: string;
  user_id?: string | null;
  outcome: string;
  severity: string;
}
type ServerMessage =
  | { type: "event"; data: StreamEvent }
  | { type: "ready"; seq: number }
  | { type: "error"; code: string; message: string };

/** Rows kept on screen and events held while paused; older ones are dropped from view. */
const MAX_ROWS = 500;
const FILTER_NAMES = [
  "user_id",
  "session_id",
  "action",
  "resource_type",
  "resource_id",
  "outcome",
  "severity",
  "action_type",
];

const statusEl = document.getElementById("tail-status");
const toggle = document.getElementById("tail-toggle") as HTMLButtonElement | null;
const badge = document.getElementById("tail-new");
const warning = document.getElementById("tail-warning");
const rows = document.getElementById("tail-rows") as HTMLTableSectionElement | null;
const scroller = document.getElementById("tail-scroll");
const csrf = document.querySelector<HTMLMetaElement>('meta[name="vigil-csrf"]')?.content ?? "";

let lastSeq: number | null = null;
let paused = false;
let live = false;
let socket: WebSocket | null = null;
let attempt = 0;
const held: StreamEvent[] = [];
const filters = new URLSearchParams(
  [...new URLSearchParams(location.search)].filter(([name, value]) => FILTER_NAMES.includes(name) && value),
);
const filtered = [...filters.keys()].length > 0;

function setStatus(status: Status): void {
  if (!statusEl) return;
  statusEl.textContent = status;
  statusEl.dataset.status = status;
}

function showWarning(text: string): void {
  if (!warning) return;
  warning.hidden = false;
  warning.textContent = text;
}

function cell(row: HTMLTableRowElement, text: string, href?: string): void {
  const td = row.insertCell();
  if (href) {
    const link = document.createElement("a");
    link.href = href;
    link.textContent = text;
    td.append(link);
  } else td.textContent = text;
}

function render(events: StreamEvent[]): void {
  if (!rows) return;
  for (const event of events) {
    const row = document.createElement("tr");
    row.dataset.seq = String(event.seq);
    row.dataset.id = event.id;
    cell(row, String(event.seq), `/console/events/${event.id}`);
    cell(row, event.occurred_at);
    cell(row, event.action);
    cell(
      row,
      `${event.resource_type}/${event.resource_id}`,
      `/console/history?${new URLSearchParams({ resource_type: event.resource_type, resource_id: event.resource_id })}`,
    );
    cell(row, event.user_id ?? "—");
    cell(row, event.outcome);
    cell(row, event.severity);
    rows.append(row);
  }
  while (rows.rows.length > MAX_ROWS) rows.deleteRow(0);
  if (scroller && !paused) scroller.scrollTop = scroller.scrollHeight;
}

function updateBadge(): void {
  if (!badge) return;
  badge.hidden = held.length === 0;
  badge.textContent = `${held.length} new`;
}

function receive(event: StreamEvent): void {
  if (lastSeq !== null && event.seq <= lastSeq) return; // already shown (a resumed backfill overlaps)
  if (lastSeq !== null && !filtered && event.seq !== lastSeq + 1)
    showWarning(
      `seq skipped from ${lastSeq} to ${event.seq}: events may be missing; reload to re-read them.`,
    );
  lastSeq = event.seq;
  if (paused) {
    held.push(event);
    if (held.length > MAX_ROWS) held.splice(0, held.length - MAX_ROWS);
    updateBadge();
  } else render([event]);
}

function setPaused(next: boolean, reason = ""): void {
  paused = next;
  if (toggle) {
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", String(paused));
  }
  if (paused) setStatus("paused");
  else {
    render(held.splice(0));
    updateBadge();
    setStatus(live ? "live" : "connecting");
  }
  if (statusEl) statusEl.title = reason;
}

async function connect(): Promise<void> {
  setStatus(attempt === 0 ? "connecting" : "reconnecting");
  live = false;
  let grant: { token: string; url: string };
  try {
    const response = await fetch("/console/stream-token", {
      method: "POST",
      headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (response.status === 401) {
      location.assign(`/console/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
      return;
    }
    if (!response.ok) throw new Error(`stream token: HTTP ${response.status}`);
    grant = (await response.json()) as { token: string; url: string };
  } catch {
    return retry();
  }
  const url = new URL(grant.url);
  for (const [name, value] of filters) url.searchParams.append(name, value);
  if (lastSeq !== null) url.searchParams.set("since", String(lastSeq));
  const ws = new WebSocket(url, ["vigil.v1", `bearer.${grant.token}`]);
  socket = ws;
  ws.addEventListener("open", () => {
    attempt = 0;
    if (!paused) setStatus("backfilling");
  });
  ws.addEventListener("message", (message) => {
    const parsed = JSON.parse(String(message.data)) as ServerMessage;
    if (parsed.type === "event") receive(parsed.data);
    else if (parsed.type === "ready") {
      live = true;
      if (lastSeq === null) lastSeq = parsed.seq;
      if (!paused) setStatus("live");
    } else if (parsed.type === "error" && statusEl) {
      // Sent before a close (restart, slow consumer, …): the reconnect with `since` recovers.
      statusEl.title = `${parsed.code}: ${parsed.message}`;
    }
  });
  ws.addEventListener("close", () => {
    if (socket === ws) retry();
  });
}

function retry(): void {
  socket = null;
  live = false;
  if (!paused) setStatus("reconnecting");
  attempt++;
  setTimeout(() => void connect(), Math.min(250 * 2 ** Math.min(attempt, 5), 5_000));
}

toggle?.addEventListener("click", () => setPaused(!paused, ""));
scroller?.addEventListener("scroll", () => {
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 8;
  if (!atBottom && !paused) setPaused(true, "scrolled away from the newest events");
});
if (rows) void connect();
