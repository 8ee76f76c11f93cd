// @vigil/sdk/express — one line records every request as an audit event when its response finishes:
//   app.use(vigilAudit({ client }))
// Handlers refine the event with `req.audit.set({...})`. Nothing here delays the response: the
// event is built on the response's `finish` (or `close`) and log() is synchronous and never throws.
import type { NextFunction, Request, RequestHandler, Response } from "express";
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

declare global {
  namespace Express {
    interface Request {
      /** This request's audit event: add or override fields, or skip it. Set by @vigil/sdk/express. */
      audit: RequestAudit;
    }
  }
}

function defaultActor(req: Request): string | undefined {
  const holder = req as unknown as {
    auth?: { sub?: unknown };
    user?: { id?: unknown; sub?: unknown };
    session?: { userId?: unknown };
  };
  const actor = holder.auth?.sub ?? holder.user?.id ?? holder.user?.sub ?? holder.session?.userId;
  return typeof actor === "string" || typeof actor === "number" ? String(actor) : undefined;
}

/** The template of the matched route, with the mount path's parameter values put back as `:name`. */
function routeTemplate(req: Request): string | null {
  const route = (req as { route?: { path?: unknown } }).route;
  if (!route || typeof route.path !== "string") return null;
  let base = req.baseUrl ?? "";
  if (base) {
    const values = new Map(Object.entries(req.params ?? {}).map(([name, value]) => [String(value), name]));
    base = base
      .split("/")
      .map((segment) => (values.has(segment) ? `:${values.get(segment)}` : segment))
      .join("/");
  }
  return `${base}${route.path}` || "/";
}

export function vigilAudit(options: AuditMiddlewareOptions<Request>): RequestHandler {
  const headerAllowList = options.headers ?? DEFAULT_AUDIT_HEADERS;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024;
  const sampleReads = options.sampleReads ?? 1;
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    const audit = createRequestAudit();
    req.audit = audit;
    let done = false;
    const finish = (aborted: boolean) => {
      if (done) return;
      done = true;
      try {
        if (audit.skipped || options.skip?.(req)) return;
        const status = aborted && !res.headersSent ? 499 : res.statusCode;
        if (!shouldRecord(req.method, status, false, sampleReads)) return;
        const isWrite = actionTypeOf(req.method) !== "VIEW";
        options.client.log(
          buildRequestEvent({
            method: req.method,
            template: routeTemplate(req),
            params: (req.params ?? {}) as Record<string, string>,
            status,
            threw: undefined,
            durationMs: performance.now() - started,
            requestId: requestIdOf(req.get("x-request-id"), String(res.getHeader("x-request-id") ?? "")),
            actor: (options.getActor ?? defaultActor)(req),
            ip: clientIp(options.trustProxy, req.get("x-forwarded-for"), req.socket?.remoteAddress),
            userAgent: req.get("user-agent"),
            headers: pickHeaders(headerAllowList, (name) => req.get(name)),
            body: isWrite ? recordableBody(req.body, maxBodyBytes) : undefined,
            overrides: audit.fields,
            aborted: aborted && !res.writableFinished,
          }),
        );
      } catch {}
    };
    res.once("finish", () => finish(false));
    res.once("close", () => finish(true));
    next();
  };
}
