// A real `ws` client for the live stream, used by the streamer tests and bench/stream-bench.ts:
// it authenticates with the `vigil.v1, bearer.<token>` subprotocols, records what it receives and
// turns a refused upgrade into its HTTP status and problem+json body.

import type { StoredEvent } from "@vigil/shared/events/event-schema";
import {
  STREAM_PATH,
  STREAM_SUBPROTOCOL,
  type StreamServerMessage,
} from "@vigil/shared/stream/stream-protocol";
import WebSocket from "ws";

export interface StreamClientOptions {
  token?: string;
  query?: Record<string, string | number | string[]> | URLSearchParams;
  protocols?: string[];
  headers?: Record<string, string>;
  /** Keep whole events (default) or only their seq, for large floods. */
  keep?: "events" | "seq";
  onEvent?: (event: StoredEvent, receivedAt: number) => void;
}

export interface StreamClient {
  ws: WebSocket;
  /** Seqs of every event received, in arrival order. */
  seqs: number[];
  events: StoredEvent[];
  /** Index in `seqs` at which `ready` arrived, and its seq. */
  ready: { seq: number; afterEvents: number } | null;
  errors: Array<{ code: string; message: string }>;
  closed: Promise<{ code: number; reason: string }>;
  waitFor(check: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

export class StreamRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: {
      status?: number;
      code?: string;
      detail?: string;
      errors?: Array<{ path: string; message: string }>;
    },
  ) {
    super(`stream refused with ${status}: ${JSON.stringify(body)}`);
  }
}

export function streamUrl(baseUrl: string, query: StreamClientOptions["query"] = {}): string {
  const params = query instanceof URLSearchParams ? query : new URLSearchParams();
  if (!(query instanceof URLSearchParams)) {
    for (const [key, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
    }
  }
  const search = params.toString();
  return `${baseUrl.replace(/^http/, "ws")}${STREAM_PATH}${search ? `?${search}` : ""}`;
}

/** Opens a stream; resolves once the socket is open, rejects with StreamRefused when the upgrade is refused. */
export function openStream(baseUrl: string, options: StreamClientOptions = {}): Promise<StreamClient> {
  const protocols = options.protocols ?? [
    STREAM_SUBPROTOCOL,
    ...(options.token ? [`bearer.${options.token}`] : []),
  ];
  const ws = new WebSocket(streamUrl(baseUrl, options.query), protocols, { headers: options.headers });
  const keepEvents = (options.keep ?? "events") === "events";
  let resolveClosed!: (value: { code: number; reason: string }) => void;
  const client: StreamClient = {
    ws,
    seqs: [],
    events: [],
    ready: null,
    errors: [],
    closed: new Promise((resolve) => {
      resolveClosed = resolve;
    }),
    waitFor: async (check, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline)
          throw new Error(
            `stream condition not met in ${timeoutMs} ms (received ${client.seqs.length}, last seq ${client.seqs.at(-1)})`,
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () => ws.close(1000),
  };
  ws.on("message", (data) => {
    const message = JSON.parse(data.toString()) as StreamServerMessage;
    if (message.type === "event") {
      client.seqs.push(message.data.seq);
      if (keepEvents) client.events.push(message.data);
      options.onEvent?.(message.data, Date.now());
    } else if (message.type === "ready") client.ready = { seq: message.seq, afterEvents: client.seqs.length };
    else client.errors.push({ code: message.code, message: message.message });
  });
  ws.on("error", () => {}); // surfaced through `closed` (1006) or the open promise
  ws.on("close", (code, reason) => resolveClosed({ code, reason: reason.toString() }));
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () => {
        let parsed: unknown = body;
        try {
          parsed = JSON.parse(body);
        } catch {}
        reject(new StreamRefused(res.statusCode ?? 0, parsed as StreamRefused["body"]));
      });
    });
    ws.once("error", reject);
  });
}
