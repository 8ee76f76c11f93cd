// What the Hono and Express middleware share: turning one finished HTTP request into one audit
// event. Only the route template is recorded (never the raw URL, so query-string tokens stay out),
// headers only from an allow-list (Authorization and Cookie never), the JSON body of writes redacted
// at any depth and capped in size, and the client IP only as the trusted-proxy setting allows.
import type { LogResult } from "./client.ts";
import type { ActionType, AuditEvent, JsonObject, Outcome, Severity } from "./event-rules.ts";
import { jsonDepth, utf8Length } from "./event-rules.ts";
import { uuidv7 } from "./uuidv7.ts";

/** What a handler may add or override for its request's event. */
export type AuditFields = Partial<
  Pick<
    AuditEvent,
    | "action"
    | "action_type"
    | "resource_type"
    | "resource_id"
    | "user_id"
    | "session_id"
    | "severity"
    | "outcome"
    | "before_state"
    | "after_state"
    | "tenant_id"
  >
> & { metadata?: JsonObject };

/** The per-request audit object: `c.get("audit")` (Hono) or `req.audit` (Express). */
export interface RequestAudit {
  /** Adds or overrides fields of this request's event (later calls win; metadata is merged). */
  set(fields: AuditFields): void;
  /** Records nothing for this request. */
  skip(): void;
}

export interface AuditMiddlewareOptions<Context> {
  /** Anything with `log()`: a VigilClient. */
  client: { log(event: AuditEvent): LogResult };
  /** The actor (`user_id`); the default reads a verified JWT `sub` or a session user where the framework keeps one. */
  getActor?: (context: Context) => string | null | undefined;
  /** Fraction of successful reads (GET/HEAD/OPTIONS) recorded, 0–1 (default 1). Writes and failures always are. */
  sampleReads?: number;
  /** Request headers recorded (lower case). Authorization, Cookie, Proxy-Authorization and API-key headers never are. */
  headers?: readonly string[];
  /** Largest recorded body, in bytes of JSON (default 16 KiB); larger bodies are replaced by a marker. */
  maxBodyBytes?: number;
  /**
   * Client IP: `false` (default) the socket peer; a number n the address n hops from the right of
   * X-Forwarded-For (n trusted proxies, each appending); `true` is 1. The leftmost entries are
   * whatever the client sent, so they are never believed.
   */
  trustProxy?: boolean | number;
  /** Requests to leave out entirely (health checks…). */
  skip?: (context: Context) => boolean;
}

export const DEFAULT_AUDIT_HEADERS = [
  "user-agent",
  "content-type",
  "content-length",
  "accept",
  "referer",
  "x-request-id",
];
const NEVER_RECORDED_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "x-auth-token",
  "x-csrf-token",
]);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;

export function actionTypeOf(method: string): ActionType {
  switch (method.toUpperCase()) {
    case "POST":
      return "CREATE";
    case "PUT":
    case "PATCH":
      return "UPDATE";
    case "DELETE":
      return "DELETE";
    default:
      return "VIEW";
  }
}

export function severityOf(status: number, threw: boolean): Severity {
  if (threw || status >= 500) return "ERROR";
  if (status >= 400) return "WARNING";
  return "INFO";
}

/**
 * `/orgs/:org/invoices/:id` with params {org:"7", id:"42"} → resource_type `invoices`, resource_id `42`:
 * the last parameter and the static segment before it. Without parameters: the last static segment
 * and the template itself.
 */
export function resourceOf(
  template: string,
  params: Record<string, string | undefined>,
): { type: string; id: string } {
  const segments = template.split("/").filter(Boolean);
  for (let index = segments.length - 1; index >= 0; index--) {
    const segment = segments[index]!;
    if (!segment.startsWith(":")) continue;
    const name = segment
      .slice(1)
      .replace(/\{.*\}$/, "")
      .replace(/\?$/, "");
    const value = params[name];
    if (!value) continue;
    const staticBefore = segments
      .slice(0, index)
      .reverse()
      .find((part) => !part.startsWith(":"));
    return { type: (staticBefore ?? name).slice(0, 128), id: value.slice(0, 256) };
  }
  const lastStatic = [...segments].reverse().find((part) => !part.startsWith(":") && part !== "*");
  return { type: (lastStatic ?? "root").slice(0, 128), id: (template || "/").slice(0, 256) };
}

export function clientIp(
  trustProxy: boolean | number | undefined,
  forwardedFor: string | null | undefined,
  socketAddress: string | null | undefined,
): string | undefined {
  let candidate = socketAddress ?? undefined;
  if (trustProxy && forwardedFor) {
    const hops = forwardedFor
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean);
    // Read from the right: the entries a client sends come first, so only the address the
    // nearest trusted proxy appended is believed (`true` = one proxy).
    const trusted = trustProxy === true ? 1 : trustProxy;
    candidate = hops[Math.max(0, hops.length - trusted)];
  }
  if (!candidate) return undefined;
  if (candidate.startsWith("::ffff:") && IPV4.test(candidate.slice(7))) candidate = candidate.slice(7);
  if (IPV4.test(candidate)) return candidate;
  return /^[0-9a-fA-F:.]+$/.test(candidate) && candidate.includes(":") ? candidate : undefined;
}

/** The body as recorded: JSON objects/arrays only, capped in bytes and depth (log() redacts it). */
export function recordableBody(body: unknown, maxBytes: number): unknown {
  if (body === null || typeof body !== "object") return undefined;
  let json: string;
  try {
    json = JSON.stringify(body);
  } catch {
    return { _omitted: "not serializable" };
  }
  const bytes = utf8Length(json);
  if (bytes > maxBytes) return { _omitted: "too large", bytes };
  if (jsonDepth(body) > 12) return { _omitted: "nested too deep" };
  return JSON.parse(json);
}

export function requestIdOf(
  fromRequest: string | null | undefined,
  fromResponse: string | null | undefined,
): string {
  for (const candidate of [fromRequest, fromResponse])
    if (candidate && REQUEST_ID.test(candidate)) return candidate;
  return uuidv7();
}

export function pickHeaders(
  allowed: readonly string[],
  get: (name: string) => string | null | undefined,
): JsonObject | undefined {
  const picked: JsonObject = {};
  let any = false;
  for (const raw of allowed) {
    const name = raw.toLowerCase();
    if (NEVER_RECORDED_HEADERS.has(name)) continue;
    const value = get(name);
    if (value) {
      picked[name] = value.slice(0, 1024);
      any = true;
    }
  }
  return any ? picked : undefined;
}

export interface FinishedRequest {
  method: string;
  /** The matched route template, or null when no route matched. */
  template: string | null;
  params: Record<string, string | undefined>;
  status: number;
  threw: Error | undefined;
  durationMs: number;
  requestId: string;
  actor: string | null | undefined;
  ip: string | undefined;
  userAgent: string | null | undefined;
  headers: JsonObject | undefined;
  body: unknown;
  overrides: AuditFields;
  aborted?: boolean;
}

/** True when this request's event is recorded: every write and failure, reads by `sampleReads`. */
export function shouldRecord(method: string, status: number, threw: boolean, sampleReads: number): boolean {
  if (actionTypeOf(method) !== "VIEW" || threw || status >= 400) return true;
  return sampleReads >= 1 || Math.random() < sampleReads;
}

export function buildRequestEvent(request: FinishedRequest): AuditEvent {
  const template = request.template ?? "(unmatched)";
  const resource = resourceOf(request.template ?? "", request.params);
  const failed = request.threw !== undefined || request.status >= 400 || request.aborted === true;
  const { metadata: extraMetadata, ...overrides } = request.overrides;
  const http: JsonObject = {
    method: request.method.toUpperCase(),
    route: template,
    status: request.status,
    duration_ms: Math.round(request.durationMs * 1000) / 1000,
    request_id: request.requestId,
  };
  if (request.headers) http.headers = request.headers;
  if (request.aborted) http.aborted = true;
  const metadata: JsonObject = { http };
  if (request.body !== undefined) metadata.body = request.body;
  if (request.threw) metadata.error = { name: request.threw.name };
  const event: AuditEvent = {
    action_type: actionTypeOf(request.method),
    resource_type: request.template ? resource.type : "route",
    resource_id: request.template ? resource.id : template,
    user_id: request.actor ? String(request.actor).slice(0, 256) : null,
    ip_address: request.ip ?? null,
    user_agent: request.userAgent ? request.userAgent.slice(0, 1024) : null,
    severity: severityOf(request.status, request.threw !== undefined),
    outcome: (failed ? "failure" : "success") as Outcome,
    ...overrides,
    metadata: { ...metadata, ...extraMetadata },
  };
  return event;
}

/** A RequestAudit that collects overrides. */
export function createRequestAudit(): RequestAudit & { fields: AuditFields; skipped: boolean } {
  const audit = {
    fields: {} as AuditFields,
    skipped: false,
    set(fields: AuditFields) {
      const metadata = fields.metadata
        ? { ...audit.fields.metadata, ...fields.metadata }
        : audit.fields.metadata;
      audit.fields = { ...audit.fields, ...fields, ...(metadata ? { metadata } : {}) };
    },
    skip() {
      audit.skipped = true;
    },
  };
  return audit;
}
