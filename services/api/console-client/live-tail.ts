// The live tail (spec §6 from the browser): a short-lived, stream-only token from the console (or,
// in the viewer, from its viewer token, carrying its pins) for each connection, resume with `since`
// after any drop, events shown in seq order exactly once.
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

const tail = document.querySelector<HTMLElement>(".tail");
/** Where the viewer gets stream tokens (its viewer token in the URL); absent on the signed-in console. */
const viewerTokenUrl = tail?.dataset.streamToken;
const eventBase = tail?.dataset.eventBase ?? "/console/events/";
const keep = new URLSearchParams(tail?.dataset.keep ?? "");
/** Renew the stream token after this share of its lifetime, well before the streamer closes at `exp`. */
const RENEW_AFTER_SHARE = 0.6;

let lastSeq: number | null = null;
let paused = false;
let live = false;
/** The socket events are taken from; during a renewal its successor waits in `successor`. */
let socket: WebSocket | null = null;
let successor: { ws: WebSocket; buffer: ServerMessage[] } | null = null;
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let attempt = 0;
/** Set when no token will be had again (an expired viewer link): nothing reconnects. */
let ended = false;
const held: StreamEvent[] = [];
const filters = new URLSearchParams(
  [...new URLSearchParams(location.search)].filter(([name, value]) => FILTER_NAMES.includes(name) && value),
);
// A viewer's pins filter its stream even when the URL names no filter, so seqs skip there by design.
const filtered = [...filters.keys()].length > 0 || viewerTokenUrl !== undefined;

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
    const resource = { resource_type: event.resource_type, resource_id: event.resource_id };
    cell(row, String(event.seq), `${eventBase}${event.id}${keep.size > 0 ? `?${keep}` : ""}`);
    cell(row, event.occurred_at);
    cell(row, event.action);
    cell(
      row,
      `${event.resource_type}/${event.resource_id}`,
      viewerTokenUrl
        ? `/console/viewer?${new URLSearchParams([...keep, ...Object.entries(resource)])}`
        : `/console/history?${new URLSearchParams(resource)}`,
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

interface StreamGrant {
  token: string;
  url: string;
  expires_in: number;
}

/** A fresh stream-only token from the session or the viewer token; null when it could not be had right now. */
async function streamGrant(): Promise<StreamGrant | null> {
  try {
    const response = await fetch(viewerTokenUrl ?? "/console/stream-token", {
      method: "POST",
      headers: viewerTokenUrl ? {} : { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (viewerTokenUrl && (response.status === 401 || response.status === 403)) {
      // The viewer link expired: the open stream ends at its token's expiry, and nothing reconnects.
      ended = true;
      setStatus("paused");
      showWarning("This viewer link has expired; ask for a new one.");
      return null;
    }
    if (response.status === 401) {
      // Signed out or revoked: no new token, and the streamer closes the open one at its expiry.
      location.assign(`/console/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
      return null;
    }
    if (!response.ok) return null;
    return (await response.json()) as StreamGrant;
  } catch {
    return null;
  }
}

function openSocket(grant: StreamGrant): WebSocket {
  const url = new URL(grant.url);
  for (const [name, value] of filters) url.searchParams.append(name, value);
  if (lastSeq !== null) url.searchParams.set("since", String(lastSeq));
  return new WebSocket(url, ["vigil.v1", `bearer.${grant.token}`]);
}

function handle(parsed: ServerMessage): void {
  if (parsed.type === "event") receive(parsed.data);
  else if (parsed.type === "ready") {
    live = true;
    if (lastSeq === null) lastSeq = parsed.seq;
    if (!paused) setStatus("live");
  } else if (parsed.type === "error" && statusEl) {
    // Sent before a close (restart, slow consumer, …): the reconnect with `since` recovers.
    statusEl.title = `${parsed.code}: ${parsed.message}`;
  }
}

/** When to renew a stream token granted just now. */
const renewalDelay = (grant: StreamGrant) => Math.max(grant.expires_in * 1000 * RENEW_AFTER_SHARE, 500);

function scheduleRenewal(afterMs: number): void {
  clearTimeout(renewTimer);
  renewTimer = setTimeout(() => void renew(), afterMs);
}

async function connect(): Promise<void> {
  setStatus(attempt === 0 ? "connecting" : "reconnecting");
  live = false;
  const grant = await streamGrant();
  if (!grant) return retry();
  const ws = openSocket(grant);
  socket = ws;
  ws.addEventListener("open", () => {
    attempt = 0;
    if (!paused) setStatus("backfilling");
  });
  ws.addEventListener("message", (message) => {
    if (socket === ws) handle(JSON.parse(String(message.data)) as ServerMessage);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    socket = null;
    if (!successor) retry(); // during a renewal the successor takes over when it is ready
  });
  scheduleRenewal(renewalDelay(grant));
}

/**
 * Before the stream token expires, a second socket opens with a fresh token and `since` = the last
 * seq shown; its messages wait until its `ready`, then it replaces the old socket and its backlog
 * is replayed through receive(), which drops what was already shown. So the tail stays live with
 * no gap and no duplicate, and no token outlives its short expiry.
 */
async function renew(): Promise<void> {
  if (successor || !socket) return; // without a socket, a reconnect is already under way
  const grant = await streamGrant();
  if (!socket) return; // the stream dropped meanwhile: the reconnect under way takes over
  if (!grant) return ended ? undefined : scheduleRenewal(1_000);
  const pending = { ws: openSocket(grant), buffer: [] as ServerMessage[] };
  successor = pending;
  pending.ws.addEventListener("message", (message) => {
    const parsed = JSON.parse(String(message.data)) as ServerMessage;
    if (socket === pending.ws) return handle(parsed);
    if (successor !== pending) return;
    pending.buffer.push(parsed);
    if (parsed.type !== "ready") return;
    const previous = socket;
    socket = pending.ws;
    successor = null;
    previous?.close(1000, "renewed");
    for (const buffered of pending.buffer.splice(0)) handle(buffered);
    scheduleRenewal(renewalDelay(grant));
  });
  pending.ws.addEventListener("close", () => {
    if (socket === pending.ws) {
      socket = null;
      return retry();
    }
    if (successor !== pending) return;
    successor = null;
    if (socket) scheduleRenewal(1_000);
    else retry();
  });
}

function retry(): void {
  clearTimeout(renewTimer);
  socket = null;
  live = false;
  if (ended) return;
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
