// VigilClient against a server that misbehaves on purpose (a local HTTP server on 127.0.0.1; the
// pipeline tests prove delivery to the real api): never answering, answering 5xx with an endless or
// huge error page, answering 2xx with the wrong content type, trickling a body forever. Each costs
// the client bounded time and memory, the batch keeps its ids, and shutdown keeps its deadline.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { VigilClient, VigilConnectionError } from "../src/index.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

interface HostileServer {
  url: string;
  bodies: string[];
  /** Bytes of response body written to sockets, per attempt. */
  written: number[];
  close: () => Promise<void>;
}

const servers: HostileServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function hostileServer(handler: Handler): Promise<HostileServer> {
  const bodies: string[] = [];
  const written: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      written.push(0);
      const attempt = bodies.length - 1;
      const write = res.write.bind(res);
      res.write = ((chunk: Buffer | string, ...rest: never[]) => {
        written[attempt]! += Buffer.byteLength(chunk);
        return write(chunk, ...rest);
      }) as typeof res.write;
      handler(req, res, attempt);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const hostile: HostileServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    written,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(hostile);
  return hostile;
}

const event = (index: number) => ({
  action_type: "UPDATE" as const,
  resource_type: "invoice",
  resource_id: `inv-${index}`,
  metadata: { password: "never-sent" },
});

const accept = (res: ServerResponse) => {
  res.writeHead(202, { "Content-Type": "application/json" });
  res.end('{"accepted":1}');
};

/** Writes `total` bytes of HTML in 64 KiB chunks as fast as the client reads them. */
function endlessPage(res: ServerResponse, status: number, total: number) {
  res.writeHead(status, { "Content-Type": "text/html" });
  const chunk = Buffer.alloc(64 * 1024, "<p>error</p>");
  let sent = 0;
  const pump = () => {
    while (sent < total && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    res.end();
  };
  res.on("close", () => (sent = total));
  pump();
}

describe("VigilClient against a hostile server", () => {
  test("never answering: each attempt times out, is retried with the same bytes, and shutdown keeps its deadline", async () => {
    const server = await hostileServer(() => {}); // reads the request, never answers
    const client = new VigilClient({
      baseUrl: server.url,
      apiKey: "vgl_test",
      requestTimeoutMs: 200,
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 1_000 },
    });
    for (let index = 0; index < 50; index++) client.log(event(index));
    void client.flush();
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(server.bodies.length).toBeGreaterThanOrEqual(2);
    expect(new Set(server.bodies).size).toBe(1); // every retry: the same ids, the same bytes
    expect(server.bodies[0]).not.toContain("never-sent");
    const started = Date.now();
    expect(await client.shutdown({ timeoutMs: 300 })).toEqual({
      sent: 0,
      dropped: 0,
      pending: 50,
      failed: 0,
    });
    expect(Date.now() - started).toBeLessThan(1_500);
    const attempts = server.bodies.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(server.bodies.length).toBe(attempts); // nothing is sent after shutdown returned
  });

  test("a 5xx with a 200 MB HTML page: only a bounded prefix is read, then the retry is stored", async () => {
    const server = await hostileServer((_req, res, attempt) =>
      attempt === 0 ? endlessPage(res, 502, 200 * 1024 * 1024) : accept(res),
    );
    const client = new VigilClient({
      baseUrl: server.url,
      apiKey: "vgl_test",
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 5 },
    });
    client.log(event(1));
    expect(await client.flush()).toEqual({ sent: 1, dropped: 0, pending: 0, failed: 0 });
    expect(client.counters().retries).toBe(1);
    // The client stopped reading after 64 KiB; what got out is that plus the socket buffers.
    expect(server.written[0]).toBeLessThan(16 * 1024 * 1024);
  });

  test("a 5xx whose body never ends: the request timeout ends the attempt, and the batch is retried", async () => {
    const server = await hostileServer((_req, res, attempt) => {
      if (attempt > 0) return accept(res);
      res.writeHead(503, { "Content-Type": "application/problem+json" });
      res.write('{"status":503,');
      const trickle = setInterval(() => (res.destroyed ? clearInterval(trickle) : res.write(" ")), 20);
    });
    const client = new VigilClient({
      baseUrl: server.url,
      apiKey: "vgl_test",
      requestTimeoutMs: 300,
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 5 },
    });
    client.log(event(1));
    const started = Date.now();
    expect(await client.flush()).toEqual({ sent: 1, dropped: 0, pending: 0, failed: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(server.bodies).toHaveLength(2);
    expect(server.bodies[1]).toBe(server.bodies[0]);
  });

  test("a 2xx in the wrong content type with a large body counts as sent without being read", async () => {
    const server = await hostileServer((_req, res) => endlessPage(res, 200, 50 * 1024 * 1024));
    const client = new VigilClient({ baseUrl: server.url, apiKey: "vgl_test" });
    for (let index = 0; index < 10; index++) client.log(event(index));
    expect(await client.flush()).toEqual({ sent: 10, dropped: 0, pending: 0, failed: 0 });
    expect(server.written[0]).toBeLessThan(16 * 1024 * 1024);
  });

  test("a 429 with a Retry-After of centuries means wait, not a retry storm; shutdown still returns", async () => {
    const server = await hostileServer((_req, res) => {
      res.writeHead(429, { "Retry-After": "99999999999", "Content-Type": "application/problem+json" });
      res.end('{"status":429,"code":"RATE_LIMITED"}');
    });
    const client = new VigilClient({
      baseUrl: server.url,
      apiKey: "vgl_test",
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 1_000 },
    });
    client.log(event(1));
    void client.flush();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.bodies).toHaveLength(1);
    expect(await client.shutdown({ timeoutMs: 100 })).toEqual({ sent: 0, dropped: 0, pending: 1, failed: 0 });
  });

  test("reads: no answer, an endless body and a non-JSON answer are connection errors within the timeout", async () => {
    const server = await hostileServer((req, res) => {
      if (req.url?.startsWith("/api/v1/logs/stats")) return; // never answers
      if (req.url?.startsWith("/api/v1/logs/export")) return endlessPage(res, 500, 200 * 1024 * 1024);
      if (req.url?.startsWith("/api/v1/logs?")) {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.write('{"data":[');
        return; // headers and the start of a body, then nothing
      }
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<html>a login page</html>");
    });
    const client = new VigilClient({ baseUrl: server.url, apiKey: "vgl_test", requestTimeoutMs: 300 });
    const started = Date.now();
    await expect(client.stats()).rejects.toThrow(VigilConnectionError);
    await expect(client.searchPage({ q: "x" })).rejects.toThrow(VigilConnectionError);
    await expect(client.get("0190b1d4-8f7e-7c2a-9d3e-1a2b3c4d5e6f")).rejects.toThrow(/not JSON/);
    await expect(client.export()).rejects.toMatchObject({ name: "VigilApiError", status: 500 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.written.at(-1)).toBeLessThan(16 * 1024 * 1024);
  });
});
