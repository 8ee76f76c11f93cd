// An HTTP proxy between the SDK and the api that can misbehave on purpose: forward, forward and then
// cut the connection (the api stored the batch, the client never hears), answer by itself (429,
// 413…), or cut without forwarding (the api is gone). Counts requests and concurrently open sockets.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type ProxyAction =
  | "forward"
  | "forward-then-drop"
  | "drop"
  | { status: number; headers?: Record<string, string>; body?: string };

export interface ProxyRequest {
  number: number;
  method: string;
  path: string;
  body: string;
  at: number;
}

export interface FaultProxy {
  url: string;
  target: string;
  plan: (request: ProxyRequest) => ProxyAction;
  requests: ProxyRequest[];
  openSockets: () => number;
  maxOpenSockets: number;
  /** Most requests in progress at once. */
  maxActiveRequests: number;
  /** Forget counts and close every open (e.g. idle keep-alive) connection. */
  resetCounters: () => void;
  close: () => Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let active = 0;
  /** Counted as closed at once, so a reconnect racing the close event is not counted twice. */
  const cut = (socket: Socket) => {
    sockets.delete(socket);
    socket.destroy();
  };
  const proxy: FaultProxy = {
    url: "",
    target,
    plan: () => "forward",
    requests: [],
    openSockets: () => sockets.size,
    maxOpenSockets: 0,
    maxActiveRequests: 0,
    resetCounters: () => {
      for (const socket of sockets) cut(socket);
      proxy.requests = [];
      proxy.maxOpenSockets = 0;
      proxy.maxActiveRequests = 0;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer(async (req, res) => {
    const body = await readBody(req).catch(() => "");
    const request: ProxyRequest = {
      number: proxy.requests.length + 1,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      body,
      at: Date.now(),
    };
    proxy.requests.push(request);
    active++;
    proxy.maxActiveRequests = Math.max(proxy.maxActiveRequests, active);
    res.on("close", () => active--);
    const action = proxy.plan(request);
    if (action === "drop") return void cut(req.socket);
    if (typeof action === "object") {
      res.writeHead(action.status, { "Content-Type": "application/problem+json", ...action.headers });
      return void res.end(action.body ?? JSON.stringify({ status: action.status, code: "INJECTED" }));
    }
    try {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === "string" && !["host", "connection", "content-length"].includes(name))
          headers[name] = value;
      }
      const upstream = await fetch(`${proxy.target}${request.path}`, {
        method: request.method,
        headers,
        body: request.method === "GET" || request.method === "HEAD" ? undefined : body,
      });
      const text = await upstream.text();
      if (action === "forward-then-drop") return void cut(req.socket);
      res.writeHead(upstream.status, {
        "Content-Type": upstream.headers.get("content-type") ?? "application/json",
        ...(upstream.headers.get("retry-after")
          ? { "Retry-After": upstream.headers.get("retry-after")! }
          : {}),
      });
      res.end(text);
    } catch {
      cut(req.socket); // the api is unreachable: the client sees a failed connection
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    proxy.maxOpenSockets = Math.max(proxy.maxOpenSockets, sockets.size);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
