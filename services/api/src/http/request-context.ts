// Request id, one wide structured log line per request, metrics, and the single place where any
// error becomes application/problem+json.
import { randomUUID } from "node:crypto";
import { principalId } from "@vigil/shared/auth/principal";
import { isDatabaseUnavailable } from "@vigil/shared/db/database";
import { toProblem, VigilError } from "@vigil/shared/errors/vigil-error";
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { ApiDependencies, AppEnv } from "./app-env.ts";

const CLIENT_REQUEST_ID = /^[\w\-.:]{1,128}$/;
/** PostgreSQL's SQLSTATE for a statement cancelled (here: by statement_timeout). */
const QUERY_CANCELED = "57014";

export function requestContext(deps: ApiDependencies): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const offered = c.req.header("x-request-id");
    const requestId = offered && CLIENT_REQUEST_ID.test(offered) ? offered : randomUUID();
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    await next();
    const route = routePath(c) || "unmatched";
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.httpRequests.inc({ route, method: c.req.method, status: String(c.res.status) });
    deps.metrics.httpDuration.observe({ route, method: c.req.method }, seconds);
    if (c.req.path !== "/healthz" && c.req.path !== "/metrics") {
      const principal = c.get("principal");
      deps.logger.info(
        {
          request_id: requestId,
          method: c.req.method,
          route,
          status: c.res.status,
          duration_ms: Math.round(seconds * 1000 * 10) / 10,
          tenant_id: c.get("tenantId") ?? principal?.tenantId ?? undefined,
          principal: principal ? principalId(principal) : undefined,
        },
        "request",
      );
    }
  };
}

export function problemResponse(c: Context<AppEnv>, error: unknown, deps: ApiDependencies): Response {
  const requestId = c.get("requestId") ?? randomUUID();
  if (!(error instanceof VigilError) && isDatabaseUnavailable(error)) {
    deps.logger.warn({ request_id: requestId, err: error }, "database unavailable");
    error = new VigilError("DATABASE_UNAVAILABLE", "the database is unavailable; retry later", undefined, {
      "Retry-After": "5",
    });
  }
  if (!(error instanceof VigilError) && (error as { code?: string } | null)?.code === QUERY_CANCELED) {
    // statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS) cancelled the query: say so, never a bare 500.
    deps.logger.warn({ request_id: requestId, route: routePath(c) }, "query cancelled by statement_timeout");
    error = new VigilError(
      "TIMEOUT",
      "the query took longer than the server allows; narrow the time window or the filters",
    );
  }
  const problem = toProblem(error, requestId);
  if (!(error instanceof VigilError))
    deps.logger.error({ request_id: requestId, err: error }, "unhandled error");
  const headers: Record<string, string> = {
    "Content-Type": "application/problem+json",
    "X-Request-Id": requestId,
  };
  if (error instanceof VigilError && error.headers) Object.assign(headers, error.headers);
  return new Response(JSON.stringify(problem), { status: problem.status, headers });
}
