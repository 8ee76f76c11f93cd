// `vigil` — the Vigil client CLI (also `pnpm vigil login|tail|search|export|stats|history|verify`).
// It talks to the HTTP API and the live stream with an API key or a login; exit codes: 0 success,
// 1 an API error, 3 verification found a problem, 64 usage, 69 Vigil unreachable, 77 not allowed,
// 130 interrupted.

import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { parseArgs } from "node:util";
import { setSha256, verifyBundle } from "@vigil/verify";
import WebSocket from "ws";
import { VigilClient } from "../client.ts";
import { VigilApiError, VigilConnectionError } from "../errors.ts";
import type { EventFilters } from "../event-types.ts";
import type { WebSocketConstructor } from "../live-stream.ts";
import {
  cliEnvironment,
  credentialsPath,
  readCredentials,
  removeCredentials,
  type SavedCredentials,
  writeCredentials,
} from "./cli-config.ts";
import { eventLine, formatBytes, historyLines, painter, sparkline, table } from "./cli-format.ts";

export const EXIT = {
  ok: 0,
  error: 1,
  verifyFailed: 3,
  usage: 64,
  unavailable: 69,
  noPermission: 77,
  interrupted: 130,
};

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
}

export class UsageError extends Error {}

const COMMON_HELP = `options for every command:
  --url URL            api base URL (default: $VIGIL_URL, the saved login, http://127.0.0.1:8080)
  --api-key KEY        API key (default: $VIGIL_API_KEY or the saved login; prefer --api-key-stdin at login)
  --no-color           plain output (also when NO_COLOR is set or output is not a terminal)
  -h, --help           this help`;

const FILTER_HELP = `filters: --user-id U --session-id S --action-type CREATE|UPDATE|DELETE|VIEW --action A
         --resource-type T --resource-id I --severity S (repeatable) --outcome success|failure --tenant-id ID (platform admins)`;

export const HELP: Record<string, string> = {
  "": `usage: vigil <command> [options]

commands:
  login      save credentials (a refresh token or an API key) in ${"$XDG_CONFIG_HOME"}/vigil (mode 0600)
  logout     revoke and forget the saved login
  tail       follow the live stream (--since SEQ to resume), coloured lines or --json
  search     list matching events (--q text, --from/--to, --max N)
  export     export events to a file as NDJSON or CSV, with progress
  stats      counts by type, severity, outcome, top resources and users, and a sparkline
  history    a resource's events with field-level diffs: vigil history <type> <id>
  verify     check a signed bundle of the log offline: hashes, Merkle proof, signature (exit 3 on a problem)

Run 'vigil <command> --help' for a command's options.
exit codes: 0 ok, 1 API error, 3 verification failed, 64 usage, 69 unreachable, 77 not allowed, 130 interrupted`,
  login: `usage: vigil login --url URL --username NAME --password-stdin
       vigil login --url URL --api-key-stdin [--stream-url URL]
  Reads the password (or the API key) from the first line of standard input, checks it against the
  api, and saves the refresh token (rotated on every use) or the key in ${"$XDG_CONFIG_HOME"}/vigil/credentials.json (0600).
  --stream-url URL     the streamer's base URL, when it is not the api's (e.g. http://127.0.0.1:8081)`,
  logout: "usage: vigil logout\n  Revokes the saved refresh token and deletes the credentials file.",
  tail: `usage: vigil tail [--since SEQ] [--json] [--count N] [filters]
  Follows the live stream; reconnects by itself and never shows an event twice or skips one.
  --since SEQ          start after this seq (backfill first); default: only new events
  --count N            stop after N events
  --stream-url URL     the streamer's base URL (default: $VIGIL_STREAM_URL, the saved login, --url)
  --json               one JSON event per line
${FILTER_HELP}`,
  search: `usage: vigil search [--q TEXT] [--from T] [--to T] [--sort S] [--max N] [--json] [filters]
  --max N              stop after N events (default 100; 0 for all)
${FILTER_HELP}`,
  export: `usage: vigil export [--format ndjson|csv] [-o FILE] [--from T] [--to T] [filters]
  Streams the export to FILE (default: standard output) and shows rows and bytes on standard error.
${FILTER_HELP}`,
  stats: "usage: vigil stats [--from T] [--to T] [--bucket hour|day] [--json]",
  history: "usage: vigil history <resource_type> <resource_id> [--json]",
  verify: `usage: vigil verify [--from-seq N] [--to-seq M] [--key VERIFIER_KEY] [--json] [--tenant-id ID]
  Downloads a provable-history bundle (events with salts, a signed checkpoint, a range proof) and
  checks it offline with @vigil/verify: the checkpoint signature, every event hash recomputed from
  its fields, every Merkle leaf, and the range against the signed root. Exit 3 on any problem.
  --key KEY            the checkpoint verifier key you trust (name+id+key); default: the api's current
                       key (printed, so you can pin it next time)`,
};

const FILTER_OPTIONS = {
  "user-id": { type: "string" },
  "session-id": { type: "string" },
  "action-type": { type: "string" },
  action: { type: "string" },
  "resource-type": { type: "string" },
  "resource-id": { type: "string" },
  severity: { type: "string", multiple: true },
  outcome: { type: "string" },
  "tenant-id": { type: "string" },
} as const;

const COMMON_OPTIONS = {
  url: { type: "string" },
  "api-key": { type: "string" },
  "stream-url": { type: "string" },
  "no-color": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const COMMAND_OPTIONS = {
  login: {
    username: { type: "string" },
    "password-stdin": { type: "boolean" },
    "api-key-stdin": { type: "boolean" },
  },
  logout: {},
  tail: { ...FILTER_OPTIONS, since: { type: "string" }, count: { type: "string" } },
  search: {
    ...FILTER_OPTIONS,
    q: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    sort: { type: "string" },
    max: { type: "string" },
  },
  export: {
    ...FILTER_OPTIONS,
    format: { type: "string" },
    output: { type: "string", short: "o" },
    from: { type: "string" },
    to: { type: "string" },
  },
  stats: {
    from: { type: "string" },
    to: { type: "string" },
    bucket: { type: "string" },
    "tenant-id": { type: "string" },
  },
  history: {},
  verify: {
    "from-seq": { type: "string" },
    "to-seq": { type: "string" },
    key: { type: "string" },
    "tenant-id": { type: "string" },
  },
} as const;

export const CLIENT_COMMANDS = new Set(Object.keys(COMMAND_OPTIONS));

type Values = Record<string, string | boolean | string[] | undefined>;

function wholeNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

function filtersOf(values: Values): EventFilters {
  const text = (name: string) => values[name] as string | undefined;
  return {
    user_id: text("user-id"),
    session_id: text("session-id"),
    action_type: text("action-type") as EventFilters["action_type"],
    action: text("action"),
    resource_type: text("resource-type"),
    resource_id: text("resource-id"),
    severity: values.severity as EventFilters["severity"],
    outcome: text("outcome") as EventFilters["outcome"],
    tenant_id: text("tenant-id"),
  };
}

async function readFirstLine(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stdin) {
    text += chunk.toString();
    if (text.includes("\n")) break;
  }
  return text.split(/\r?\n/)[0]!.trim();
}

interface Session {
  client: VigilClient;
  url: string;
}

/** A client from --url/--api-key, the environment, or the saved login (a refresh token is exchanged, and rotated). */
async function openSession(values: Values): Promise<Session> {
  const saved = readCredentials();
  const url =
    (values.url as string | undefined) ?? cliEnvironment.url ?? saved?.url ?? "http://127.0.0.1:8080";
  const streamUrl =
    (values["stream-url"] as string | undefined) ?? cliEnvironment.streamUrl ?? saved?.stream_url;
  const apiKey = (values["api-key"] as string | undefined) ?? cliEnvironment.apiKey ?? saved?.api_key;
  const common = { baseUrl: url, streamUrl, WebSocket: WebSocket as unknown as WebSocketConstructor };
  if (apiKey) return { client: new VigilClient({ ...common, apiKey }), url };
  if (saved?.refresh_token) {
    let access = "";
    let expiresAt = 0;
    let credentials: SavedCredentials = saved;
    const token = async () => {
      if (access && Date.now() < expiresAt - 60_000) return access;
      const answer = await exchangeToken(credentials.url, {
        grant_type: "refresh_token",
        refresh_token: credentials.refresh_token,
      });
      credentials = { ...credentials, refresh_token: answer.refresh_token };
      writeCredentials(credentials);
      access = answer.access_token;
      expiresAt = Date.now() + answer.expires_in * 1000;
      return access;
    };
    await token();
    return { client: new VigilClient({ ...common, token }), url };
  }
  throw new UsageError("not logged in: run 'vigil login', or pass --api-key / set VIGIL_API_KEY");
}

interface TokenAnswer {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

async function exchangeToken(url: string, body: Record<string, unknown>): Promise<TokenAnswer> {
  const client = new VigilClient({ baseUrl: url });
  const response = await client.request("/api/v1/auth/token", { method: "POST", body });
  return (await response.json()) as TokenAnswer;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    const topic = command === "help" ? (rest[0] ?? "") : "";
    io.stdout.write(`${HELP[topic] ?? HELP[""]}\n`);
    return EXIT.ok;
  }
  if (!CLIENT_COMMANDS.has(command)) throw new UsageError(`unknown command: ${command}`);
  const { values: parsed, positionals } = parseArgs({
    args: rest,
    options: { ...COMMON_OPTIONS, ...COMMAND_OPTIONS[command as keyof typeof COMMAND_OPTIONS] },
    allowPositionals: command === "history",
    strict: true,
  });
  const values = parsed as Values;
  if (values.help) {
    io.stdout.write(`${HELP[command]}\n\n${COMMON_HELP}\n`);
    return EXIT.ok;
  }
  const colour = !values["no-color"] && !cliEnvironment.noColor && io.stdout.isTTY === true;
  const paint = painter(colour);
  const json = values.json === true;
  const out = (line: string) => io.stdout.write(`${line}\n`);

  switch (command) {
    case "login":
      return login(values, io);
    case "logout": {
      const saved = readCredentials();
      if (saved?.refresh_token) {
        await new VigilClient({ baseUrl: saved.url })
          .request("/api/v1/auth/revoke", { method: "POST", body: { token: saved.refresh_token } })
          .catch(() => undefined);
      }
      out(removeCredentials() ? `removed ${credentialsPath()}` : "not logged in");
      return EXIT.ok;
    }
    case "tail": {
      const { client } = await openSession(values);
      const count = wholeNumber("count", values.count as string | undefined);
      const since = wholeNumber("since", values.since as string | undefined);
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once("SIGINT", interrupt);
      let seen = 0;
      try {
        for await (const event of client.stream({ ...filtersOf(values), since, signal: stop.signal })) {
          out(json ? JSON.stringify(event) : eventLine(event, paint));
          if (count !== undefined && ++seen >= count) break;
        }
      } finally {
        process.removeListener("SIGINT", interrupt);
      }
      return stop.signal.aborted ? EXIT.interrupted : EXIT.ok;
    }
    case "search": {
      const { client } = await openSession(values);
      const max = wholeNumber("max", values.max as string | undefined) ?? 100;
      let shown = 0;
      for await (const event of client.search({
        ...filtersOf(values),
        q: values.q as string | undefined,
        from: values.from as string | undefined,
        to: values.to as string | undefined,
        sort: values.sort as never,
        limit: max > 0 ? Math.min(max, 1000) : 1000,
      })) {
        out(json ? JSON.stringify(event) : eventLine(event, paint));
        if (max > 0 && ++shown >= max) break;
      }
      return EXIT.ok;
    }
    case "export":
      return exportCommand(values, io);
    case "stats": {
      const { client } = await openSession(values);
      const stats = await client.stats({
        from: values.from as string | undefined,
        to: values.to as string | undefined,
        bucket: values.bucket as "hour" | "day" | undefined,
        tenant_id: values["tenant-id"] as string | undefined,
      });
      if (json) {
        out(JSON.stringify(stats));
        return EXIT.ok;
      }
      const counts = (title: string, record: Record<string, number>) => [
        [title, "count"],
        ...Object.entries(record).sort((a, b) => b[1] - a[1]),
      ];
      out(`${paint.bold(String(stats.total))} events  ${stats.from} → ${stats.to}`);
      out(`${sparkline(stats.timeseries.map((point) => point.count))}  (per ${stats.bucket})`);
      out("");
      out(table(counts("action_type", stats.by_action_type), paint));
      out("");
      out(table(counts("severity", stats.by_severity), paint));
      out("");
      out(table(counts("outcome", stats.by_outcome), paint));
      out("");
      out(
        table(
          [
            ["resource_type", "count"],
            ...stats.top_resource_types.map((row) => [row.resource_type, row.count]),
          ],
          paint,
        ),
      );
      out("");
      out(table([["user_id", "count"], ...stats.top_users.map((row) => [row.user_id, row.count])], paint));
      return EXIT.ok;
    }
    case "history": {
      if (positionals.length !== 2) throw new UsageError("history needs <resource_type> <resource_id>");
      const { client } = await openSession(values);
      for await (const entry of client.history(positionals[0]!, positionals[1]!)) {
        if (json) out(JSON.stringify(entry));
        else for (const line of historyLines(entry, paint)) out(line);
      }
      return EXIT.ok;
    }
    case "verify":
      return verifyCommand(values, io, json);
  }
  return EXIT.usage;
}

async function login(values: Values, io: CliIo): Promise<number> {
  const url = (values.url as string | undefined) ?? cliEnvironment.url;
  if (!url) throw new UsageError("--url is required");
  const streamUrl = values["stream-url"] as string | undefined;
  let credentials: SavedCredentials;
  if (values["api-key-stdin"]) {
    const apiKey = await readFirstLine(io.stdin);
    if (!apiKey) throw new UsageError("no API key on standard input");
    await new VigilClient({ baseUrl: url, apiKey }).searchPage({ limit: 1 });
    credentials = { url, stream_url: streamUrl, api_key: apiKey };
  } else {
    const username = values.username as string | undefined;
    if (!username || !values["password-stdin"])
      throw new UsageError("login needs --username NAME --password-stdin, or --api-key-stdin");
    const password = await readFirstLine(io.stdin);
    const answer = await exchangeToken(url, { grant_type: "password", username, password });
    credentials = { url, stream_url: streamUrl, username, refresh_token: answer.refresh_token };
  }
  const file = writeCredentials(credentials);
  io.stdout.write(
    `logged in to ${url}${credentials.username ? ` as ${credentials.username}` : " with an API key"}; saved to ${file}\n`,
  );
  return EXIT.ok;
}

/** Counts CSV records (newlines outside quotes) or NDJSON lines as the bytes go by. */
function rowCounter(format: string) {
  let inQuotes = false;
  return (chunk: Uint8Array): number => {
    let rows = 0;
    for (const byte of chunk) {
      if (format === "csv" && byte === 0x22) inQuotes = !inQuotes;
      else if (byte === 0x0a && !inQuotes) rows++;
    }
    return rows;
  };
}

async function exportCommand(values: Values, io: CliIo): Promise<number> {
  const format = (values.format as string | undefined) ?? "csv";
  if (format !== "csv" && format !== "ndjson") throw new UsageError("--format must be ndjson or csv");
  const { client } = await openSession(values);
  const body = await client.export({
    ...filtersOf(values),
    format,
    from: values.from as string | undefined,
    to: values.to as string | undefined,
  });
  const target = values.output as string | undefined;
  const sink: NodeJS.WritableStream =
    target && target !== "-" ? createWriteStream(target, { mode: 0o600 }) : io.stdout;
  const count = rowCounter(format);
  let lines = 0;
  let bytes = 0;
  let lastDraw = 0;
  const progress = (final: boolean) => {
    const rows = format === "csv" ? Math.max(0, lines - 1) : lines;
    const text = `${rows.toLocaleString("en-US")} rows  ${formatBytes(bytes)}`;
    if (io.stderr.isTTY) io.stderr.write(`\r\u001b[2K${text}${final ? "\n" : ""}`);
    else if (final) io.stderr.write(`exported ${text}${target ? ` to ${target}` : ""}\n`);
  };
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    lines += count(chunk);
    bytes += chunk.byteLength;
    if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
    if (Date.now() - lastDraw > 100) {
      lastDraw = Date.now();
      progress(false);
    }
  }
  if (sink !== io.stdout)
    await new Promise<void>((resolve, reject) =>
      (sink as NodeJS.WritableStream).end(() => resolve()).on?.("error", reject),
    );
  progress(true);
  return EXIT.ok;
}

/**
 * Downloads a provable-history bundle (events with their salts, a signed checkpoint and a range
 * proof) and checks it offline with @vigil/verify: the signature, every event's hash recomputed from
 * its fields, every leaf, and the range against the signed root.
 */
async function verifyCommand(values: Values, io: CliIo, json: boolean): Promise<number> {
  setSha256((data) => new Uint8Array(createHash("sha256").update(data).digest()));
  const { client } = await openSession(values);
  let key = values.key as string | undefined;
  if (!key) {
    key = (await (await client.request("/api/v1/checkpoints/key")).text()).trim();
    io.stderr.write(
      `vigil: trusting the api's current checkpoint key ${key}; pass --key to pin the one you expect\n`,
    );
  }
  const fromSeq = wholeNumber("from-seq", values["from-seq"] as string | undefined);
  const toSeq = wholeNumber("to-seq", values["to-seq"] as string | undefined);
  const response = await client.request("/api/v1/logs/export", {
    query: { format: "bundle", from_seq: fromSeq, to_seq: toSeq, tenant_id: values["tenant-id"] },
  });
  if (!response.body) throw new VigilConnectionError("the bundle answer has no body");
  const report = await verifyBundle(response.body, { verifierKeys: [key] });
  if (json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    io.stdout.write(
      `${report.ok ? "ok" : "FAILED"}: ${report.hashesRecomputed}/${report.events} event hashes recomputed` +
        (report.fromSeq !== undefined ? `, seq ${report.fromSeq}..${report.toSeq} proven` : "") +
        (report.treeSize !== undefined ? ` against the checkpoint of size ${report.treeSize}` : "") +
        (report.signedBy.length ? ` signed by ${report.signedBy.join(", ")}` : "") +
        (report.erasedCount ? `; ${report.erasedCount} erased` : "") +
        "\n",
    );
    for (const line of report.problems) io.stdout.write(`  ${line}\n`);
  }
  return report.ok ? EXIT.ok : EXIT.verifyFailed;
}

/** Maps an error to its message and exit code (the CLI's one error path). */
export function exitFor(error: unknown): { code: number; message: string } {
  if (error instanceof UsageError) return { code: EXIT.usage, message: error.message };
  if (error instanceof Error && (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))
    return { code: EXIT.usage, message: error.message };
  if (error instanceof VigilApiError) {
    const denied = error.status === 401 || error.status === 403;
    const detail = error.problem.detail ?? error.problem.title ?? "";
    return {
      code: denied ? EXIT.noPermission : EXIT.error,
      message:
        `${error.status} ${error.code ?? ""} ${detail}${error.requestId ? ` (request ${error.requestId})` : ""}`
          .replace(/\s+/g, " ")
          .trim(),
    };
  }
  if (error instanceof VigilConnectionError) return { code: EXIT.unavailable, message: error.message };
  return { code: EXIT.error, message: error instanceof Error ? error.message : String(error) };
}

export async function main(argv: string[]): Promise<number> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  try {
    return await runCli(argv, io);
  } catch (error) {
    const { code, message } = exitFor(error);
    io.stderr.write(`vigil: ${message}\n`);
    if (code === EXIT.usage) io.stderr.write("Run 'vigil --help' for usage.\n");
    return code;
  }
}

const invokedDirectly = (() => {
  try {
    const entry = process.argv[1] ?? "";
    return /cli(-main)?\.(m?js|ts)$/.test(entry);
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // The stream keeps sockets and timers; a finished command exits.
    setTimeout(() => process.exit(code), 50).unref();
  });
}
