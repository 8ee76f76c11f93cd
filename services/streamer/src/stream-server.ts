// The streamer's transport: one node http server carrying /healthz, /readyz, /metrics and the
// WebSocket upgrade of GET /api/v1/logs/stream. Every decision before the upgrade (origin,
// credential, role, tenant, filters, since, limits) is made by shared verbs; a refusal is answered
// as problem+json on the raw socket, so a refused client never gets an open WebSocket. Upgrade
// attempts are rate limited per client IP and per credential, and an IP that keeps presenting bad
// credentials is refused before any lookup, so reconnect storms and guessing cost no database work.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { TokenVerifier } from "@vigil/shared/auth/authenticate";
import { clientAddress, trustedProxyHops } from "@vigil/shared/auth/client-address";
import { principalId } from "@vigil/shared/auth/principal";
import type { VigilConfig } from "@vigil/shared/config/config";
import { type Database, isDatabaseUnavailable } from "@vigil/shared/db/database";
import { toProblem, VigilError } from "@vigil/shared/errors/vigil-error";
import type { Logger } from "@vigil/shared/logging/logger";
import type { Metrics } from "@vigil/shared/metrics/metrics";
import { FailureLimiter } from "@vigil/shared/rate-limit/failure-limiter";
import { TokenBuckets } from "@vigil/shared/rate-limit/token-bucket";
import type { StreamHub } from "@vigil/shared/stream/stream-hub";
import { STREAM_PATH, STREAM_SUBPROTOCOL } from "@vigil/shared/stream/stream-protocol";
import {
  assertOriginAllowed,
  authorizeStreamRequest,
  credentialFromSubprotocols,
} from "@vigil/shared/stream/stream-request";
import { type WebSocket, WebSocketServer } from "ws";

export interface StreamerDependencies {
  config: VigilConfig;
  db: Database;
  hub: StreamHub;
  tokens: TokenVerifier;
  logger: Logger;
  metrics: Metrics;
}

const CLIENT_REQUEST_ID = /^[\w\-.:]{1,128}$/;
/** Clients only send control frames; anything larger is refused by ws itself. */
const MAX_INBOUND_MESSAGE_BYTES = 4 * 1024;

export interface StreamServer {
  server: Server;
  /** Closes every stream with the reconnect code, waits briefly for the close handshakes, stops listening. */
  shutdown(graceMs: number): Promise<void>;
}

export function createStreamServer(deps: StreamerDependencies): StreamServer {
  const { hub, logger, metrics } = deps;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_INBOUND_MESSAGE_BYTES,
    // Off on purpose: event frames are written pre-encoded and uncompressed (see sendFrames).
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(STREAM_SUBPROTOCOL) ? STREAM_SUBPROTOCOL : false),
  });
  const alive = new WeakSet<WebSocket>();
  const { config } = deps;
  const perMinute = (limit: number) => new TokenBuckets(limit / 60, limit);
  const upgradesPerIp = perMinute(config.STREAM_UPGRADES_PER_MINUTE_PER_IP);
  const upgradesPerCredential = perMinute(config.STREAM_UPGRADES_PER_MINUTE_PER_CREDENTIAL);
  const failedAuth = new FailureLimiter(
    config.VIGIL_AUTH_MAX_FAILURES_PER_IP,
    config.VIGIL_AUTH_FAILURE_WINDOW_SECONDS * 1000,
  );

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://streamer").pathname;
    if (path === "/healthz")
      return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
    if (path === "/readyz") {
      const database = await deps.db.ping().then(
        () => "ok",
        () => "unavailable",
      );
      const listener = hub.isListening ? "ok" : "unavailable";
      const ready = database === "ok" && listener === "ok";
      return void res
        .writeHead(ready ? 200 : 503, { "Content-Type": "application/json" })
        .end(JSON.stringify({ status: ready ? "ready" : "unavailable", checks: { database, listener } }));
    }
    if (path === "/metrics")
      return void res
        .writeHead(200, { "Content-Type": metrics.registry.contentType })
        .end(await metrics.registry.metrics());
    const requestId = randomUUID();
    const error = isStreamPath(path)
      ? new VigilError("BAD_REQUEST", "this endpoint speaks WebSocket only: send an Upgrade request")
      : new VigilError("NOT_FOUND", `no route for ${path}`);
    const problem = toProblem(error, requestId);
    res
      .writeHead(problem.status, { "Content-Type": "application/problem+json", "X-Request-Id": requestId })
      .end(JSON.stringify(problem));
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void acceptStream(req, socket, head);
  });

  async function acceptStream(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = performance.now();
    const offered = req.headers["x-request-id"];
    const requestId = typeof offered === "string" && CLIENT_REQUEST_ID.test(offered) ? offered : randomUUID();
    socket.on("error", () => {});
    try {
      const url = new URL(req.url ?? "/", "http://streamer");
      if (!isStreamPath(url.pathname))
        throw new VigilError("NOT_FOUND", `no WebSocket endpoint at ${url.pathname}`);
      assertOriginAllowed(req.headers.origin, deps.config.STREAM_ALLOWED_ORIGINS);
      const ip =
        clientAddress(
          {
            remoteAddress: req.socket.remoteAddress,
            forwardedFor: headerValue(req.headers["x-forwarded-for"]),
          },
          trustedProxyHops(config),
        ) ?? "unknown";
      throttle(upgradesPerIp, ip, "stream upgrades from this address");
      const failureWait = failedAuth.retryAfterSeconds(ip);
      if (failureWait > 0)
        throw rateLimited("too many failed authentications from this address", failureWait);
      const secret = credentialFromSubprotocols(req.headers["sec-websocket-protocol"]);
      if (secret)
        throttle(
          upgradesPerCredential,
          createHash("sha256").update(secret).digest("base64url"),
          "stream upgrades with this credential",
        );
      const grant = await authorizeStreamRequest(deps.db, deps.tokens, {
        query: url.searchParams,
        subprotocols: req.headers["sec-websocket-protocol"],
      }).catch((error: unknown) => {
        if (error instanceof VigilError && error.code === "INVALID_CREDENTIAL") failedAuth.recordFailure(ip);
        throw error;
      });
      hub.assertCapacity(grant.scope.tenantId);
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        alive.add(ws);
        ws.on("pong", () => alive.add(ws));
        ws.on("error", (err) => logger.debug({ err, request_id: requestId }, "stream socket error"));
        const subscription = hub.open(grant, {
          // Frames are pre-encoded by the hub (shared by every subscriber of a batch) and written
          // to the upgraded socket itself: ws writes its own frames (ping, close) to this same
          // socket synchronously and without compression, so the order on the wire is kept.
          sendFrames: (frames) => {
            if (ws.readyState === ws.OPEN) socket.write(frames);
          },
          bufferedBytes: () => ws.bufferedAmount,
          close: (code, reason) => ws.close(code, reason),
        });
        logger.info(
          {
            request_id: requestId,
            tenant_id: grant.scope.tenantId,
            principal: principalId(grant.principal),
            since: grant.since,
            status: 101,
          },
          "stream opened",
        );
        ws.on("close", (code) => {
          subscription.detach();
          logger.info(
            {
              request_id: requestId,
              tenant_id: grant.scope.tenantId,
              close_code: code,
              duration_ms: Math.round(performance.now() - started),
            },
            "stream closed",
          );
        });
      });
    } catch (error) {
      const problemError =
        !(error instanceof VigilError) && isDatabaseUnavailable(error)
          ? new VigilError("DATABASE_UNAVAILABLE", "the database is unavailable; retry later", undefined, {
              "Retry-After": "5",
            })
          : error;
      const problem = toProblem(problemError, requestId);
      if (problem.status >= 500) logger.error({ request_id: requestId, err: error }, "stream upgrade failed");
      logger.info(
        {
          request_id: requestId,
          route: STREAM_PATH,
          status: problem.status,
          code: problem.code,
          duration_ms: Math.round(performance.now() - started),
        },
        "stream refused",
      );
      refuseUpgrade(
        socket,
        problem,
        requestId,
        problemError instanceof VigilError ? problemError.headers : undefined,
      );
    }
  }

  // A peer that has not answered the previous ping is gone: terminate it and free its slot.
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, deps.config.STREAM_PING_INTERVAL_MS);
  pinger.unref();

  return {
    server,
    async shutdown(graceMs) {
      clearInterval(pinger);
      server.close();
      await hub.shutdown();
      const deadline = Date.now() + graceMs;
      while (wss.clients.size > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 25));
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
    },
  };
}

/** Repeated headers arrive as arrays; X-Forwarded-For entries are joined in order. */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

function rateLimited(what: string, retryAfterSeconds: number): VigilError {
  return new VigilError("RATE_LIMITED", `${what}; retry after ${retryAfterSeconds} s`, undefined, {
    "Retry-After": String(retryAfterSeconds),
  });
}

function throttle(buckets: TokenBuckets, key: string, what: string): void {
  const decision = buckets.take(key);
  if (!decision.allowed) throw rateLimited(`too many ${what}`, decision.retryAfterSeconds);
}

function isStreamPath(path: string): boolean {
  return path === STREAM_PATH || path === `${STREAM_PATH}/`;
}

function refuseUpgrade(
  socket: Duplex,
  problem: ReturnType<typeof toProblem>,
  requestId: string,
  extraHeaders: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(problem);
  const headers = {
    "Content-Type": "application/problem+json",
    "Content-Length": String(Buffer.byteLength(body)),
    "X-Request-Id": requestId,
    Connection: "close",
    ...extraHeaders,
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.end(`HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ""}\r\n${head}\r\n${body}`);
}
