// @vigil/sdk/hono — one line records every request as an audit event when its response is ready:
//   app.use("*", vigilAudit({ client }))
// Handlers refine the event with `c.get("audit").set({...})`. The event is logged without awaiting
// anything (log() is synchronous and never throws), so the request never waits on Vigil.
import type { Context, MiddlewareHandler } from "hono";
import {
  type AuditMiddlewareOptions,
  actionTypeOf,
  buildRequestEvent,
  clientIp,
  createRequestAudit,
  DEFAULT_AUDIT_HEADERS,
  pickHeaders,
  type RequestAudit,
  recordableBody,
  requestIdOf,
  shouldRecord,
} from "./request-audit.ts";

export type { AuditFields, AuditMiddlewareOptions, RequestAudit } from "./request-audit.ts";

/** Context variables this middleware sets: `c.get("audit")`. */
export type VigilAuditVariables = { audit: RequestAudit };

function defaultActor(c: Context): string | undefined {
  const get = (key: string) =>
    (c.get as (key: string) => unknown)(key) as Record<string, unknown> | undefined;
  const sub = get("jwtPayload")?.sub ?? get("user")?.id ?? get("session")?.userId;
  return typeof sub === "string" || typeof sub === "number" ? String(sub) : undefined;
}

function socketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

async function cachedJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const cache =
    (c.req as unknown as { bodyCache?: Record<string, Promise<unknown> | undefined> }).bodyCache ?? {};
  if (cache.json) return cache.json;
  if (cache.text) return JSON.parse(String(await cache.text));
  const length = Number(c.req.header("content-length") ?? Number.NaN);
  if (!(length <= maxBytes)) return undefined;
  return JSON.parse(await c.req.text());
}

export function vigilAudit(options: AuditMiddlewareOptions<Context>): MiddlewareHandler {
  const headerAllowList = options.headers ?? DEFAULT_AUDIT_HEADERS;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024;
  const sampleReads = options.sampleReads ?? 1;
  return async (c, next) => {
    const started = performance.now();
    const audit = createRequestAudit();
    c.set("audit" as never, audit as never);
    try {
      await next();
    } finally {
      try {
        record(c, audit, started);
      } catch {}
    }
  };

  function record(c: Context, audit: ReturnType<typeof createRequestAudit>, started: number): void {
    if (audit.skipped || options.skip?.(c)) return;
    const durationMs = performance.now() - started;
    const method = c.req.method;
    const threw = c.error;
    const status = threw && c.res.status < 400 ? 500 : c.res.status;
    if (!shouldRecord(method, status, threw !== undefined, sampleReads)) return;
    const route = [...c.req.matchedRoutes].reverse().find((candidate) => candidate.method !== "ALL");
    const base = {
      method,
      template: route?.path ?? null,
      params: route ? (c.req.param() as Record<string, string>) : {},
      status,
      threw,
      durationMs,
      requestId: requestIdOf(c.req.header("x-request-id"), c.res.headers.get("x-request-id")),
      actor: (options.getActor ?? defaultActor)(c),
      ip: clientIp(options.trustProxy, c.req.header("x-forwarded-for"), socketAddress(c)),
      userAgent: c.req.header("user-agent"),
      headers: pickHeaders(headerAllowList, (name) => c.req.header(name)),
      overrides: audit.fields,
    };
    const isJsonWrite =
      actionTypeOf(method) !== "VIEW" && (c.req.header("content-type") ?? "").includes("json");
    if (!isJsonWrite) {
      options.client.log(buildRequestEvent({ ...base, body: undefined }));
      return;
    }
    // The body is read from Hono's cache (or, when small and unread, read now) without the
    // response waiting for it.
    void cachedJsonBody(c, maxBodyBytes)
      .then(
        (body) => recordableBody(body, maxBodyBytes),
        () => ({ _omitted: "unreadable" }),
      )
      .then((body) => {
        try {
          options.client.log(buildRequestEvent({ ...base, body }));
        } catch {}
      });
  }
}
