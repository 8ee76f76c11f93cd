// Vigil Console (spec §11), served by the api under /console: server-rendered pages over the same
// shared verbs and the same authorize() as the API, a cookie session (console-session.ts), CSRF on
// every form, a strict CSP (scripts only from /console/assets), and the embeddable viewer.

import type { OpenAPIHono } from "@hono/zod-openapi";
import type { ActionContext } from "@vigil/shared/audit/admin-audit";
import {
  apiKeyCreateSchema,
  issueApiKey,
  listTenantApiKeys,
  revokeTenantApiKey,
} from "@vigil/shared/auth/manage-api-keys";
import { authorize, isPlatformAdmin, type Principal } from "@vigil/shared/auth/principal";
import { isDatabaseUnavailable } from "@vigil/shared/db/database";
import { parseBody } from "@vigil/shared/errors/parse-body";
import { toProblem, VigilError } from "@vigil/shared/errors/vigil-error";
import { HASHED_FIELDS, type StoredEvent } from "@vigil/shared/events/event-schema";
import { eventStats, statsParamsSchema } from "@vigil/shared/query/event-stats";
import { exportParamsSchema, planExport } from "@vigil/shared/query/export-events";
import { getEvent } from "@vigil/shared/query/get-event";
import {
  historyParamsSchema,
  resourceHistory,
  resourceRefSchema,
} from "@vigil/shared/query/resource-history";
import { searchEvents } from "@vigil/shared/query/search-events";
import { parseQuery, searchParamsSchema } from "@vigil/shared/query/search-params";
import { type TenantScope, tenantScope } from "@vigil/shared/query/tenant-scope";
import { STREAM_PATH } from "@vigil/shared/stream/stream-protocol";
import { streamParamsSchema } from "@vigil/shared/stream/stream-request";
import { addTenant, getTenant, listTenants, updateTenant } from "@vigil/shared/tenants/manage-tenants";
import { eventInclusionProof } from "@vigil/shared/tlog/proofs";
import { addUser, listUsers } from "@vigil/shared/users/manage-users";
import { readEventSalt } from "@vigil/shared/viewer/event-salt";
import {
  readViewerOrigins,
  setViewerOrigins,
  viewerOriginsSchema,
} from "@vigil/shared/viewer/viewer-origins";
import { applyViewerPins, eventWithinPins } from "@vigil/shared/viewer/viewer-pins";
import {
  issueStreamToken,
  scopedTokenPrincipal,
  verifyScopedToken,
} from "@vigil/shared/viewer/viewer-tokens";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { exportResponse } from "../http/export-slots.ts";
import { requestOrigin } from "../http/request-origin.ts";
import { ConsoleAssets } from "./console-assets.ts";
import { assertCsrf, type ConsoleSession, ConsoleSessions, csrfToken } from "./console-session.ts";
import { EventDetail } from "./pages/event-detail.tsx";
import { EventsForm, type EventsPlace, EventsResults } from "./pages/events.tsx";
import { Layout, type PageFrame, ProblemNotice } from "./pages/layout.tsx";
import {
  AdminView,
  HistoryView,
  LiveTail,
  SignInForm,
  StatsView,
  TenantsView,
} from "./pages/other-pages.tsx";

const FORM_BODY_LIMIT = 64 * 1024;
const CONSOLE_PLACE: EventsPlace = { base: "/console/events", keep: {}, pins: {}, exports: true };
/** Console pages list fewer rows than the API's default page. */
const CONSOLE_PAGE_SIZE = "50";

type ConsoleContext = Context<AppEnv>;

/**
 * Where a page's server time goes, sent as `Server-Timing` (session: cookie check and silent
 * refresh; data: the shared verbs' queries; render: JSX to HTML), read by bench/console-bench.ts.
 */
const requestTimings = new WeakMap<Request, { start: number; session?: number }>();

/** The signed-in session and CSRF token of a request, set by the `signedIn` middleware. */
const signedInRequests = new WeakMap<Request, { session: ConsoleSession; csrf: string }>();
function signedInState(c: ConsoleContext): { session: ConsoleSession; csrf: string } {
  const state = signedInRequests.get(c.req.raw);
  if (!state) throw new VigilError("UNAUTHENTICATED", "sign in again");
  return state;
}

/** script-src 'self' and nothing inline; the stream's origin is the only other place a page may reach. */
function contentSecurityPolicy(connect: string, frameAncestors: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${connect}`.trim(),
    "form-action 'self'",
    "base-uri 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join("; ");
}

/** Query parameters with the empty values a GET form submits for blank fields removed. */
function filledParams(url: string, drop: string[] = []): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of new URL(url).searchParams) {
    if (value !== "" && !drop.includes(key)) params.append(key, value);
  }
  return params;
}

function formString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  return undefined;
}

function safeNext(next: string | undefined): string {
  return next && /^\/console(\/[^/\\]|\/?$|\?)/.test(next) && !next.includes("//") ? next : "/console/events";
}

export function registerConsole(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  const sessions = new ConsoleSessions(deps);
  const assets = new ConsoleAssets();
  assets.load().catch((error) => deps.logger.error({ err: error }, "console assets failed to load"));
  const web = new Hono<AppEnv>({ strict: false });

  const streamUrl = (c: Context): string => {
    if (deps.config.CONSOLE_STREAM_URL) return deps.config.CONSOLE_STREAM_URL;
    const url = new URL(c.req.url);
    return `${url.protocol === "https:" ? "wss" : "ws"}://${url.hostname}:${deps.config.STREAMER_PORT}${STREAM_PATH}`;
  };
  const publicOrigin = (c: Context): string =>
    deps.config.VIGIL_PUBLIC_URL ? new URL(deps.config.VIGIL_PUBLIC_URL).origin : new URL(c.req.url).origin;

  web.use("*", async (c, next) => {
    requestTimings.set(c.req.raw, { start: performance.now() });
    c.header("Content-Security-Policy", contentSecurityPolicy(new URL(streamUrl(c)).origin, "'none'"));
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    // same-origin, not no-referrer: with no-referrer a form POST carries `Origin: null`, which the
    // CSRF check refuses; other sites still never see a console URL (the viewer's token is in it).
    c.header("Referrer-Policy", "same-origin");
    c.header("Cross-Origin-Opener-Policy", "same-origin");
    await next();
  });
  web.use(
    "*",
    bodyLimit({
      maxSize: FORM_BODY_LIMIT,
      onError: () => {
        throw new VigilError("PAYLOAD_TOO_LARGE", "the form is too large");
      },
    }),
  );

  web.get("/assets/:name", async (c) => {
    const found = (await assets.load()).get(c.req.param("name"));
    if (!found) throw new VigilError("NOT_FOUND", "no such console asset");
    if (c.req.header("if-none-match") === found.etag) return c.body(null, 304);
    return c.body(found.body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": found.contentType,
      ETag: found.etag,
      "Cache-Control": "no-cache",
      // Public static files; a tenant's page loads vigil-log-viewer.js as a (CORS-fetched) module.
      "Access-Control-Allow-Origin": "*",
      "Cross-Origin-Resource-Policy": "cross-origin",
    });
  });

  const page = async (c: ConsoleContext, frame: PageFrame, body: unknown, status = 200) => {
    c.header("Cache-Control", "no-store");
    const rendering = performance.now();
    const html = await (<Layout {...frame}>{body as never}</Layout>).toString();
    const timing = requestTimings.get(c.req.raw);
    if (timing) {
      const done = performance.now();
      const session = timing.session ?? 0;
      const ms = (value: number) => value.toFixed(2);
      c.header(
        "Server-Timing",
        `session;dur=${ms(session)}, data;dur=${ms(rendering - timing.start - session)}, render;dur=${ms(done - rendering)}`,
      );
    }
    return c.html(html, status as 200);
  };

  const frameFor = (
    c: ConsoleContext,
    title: string,
    current?: PageFrame["current"],
    extra: Partial<PageFrame> = {},
  ) => {
    const { principal } = signedInState(c).session;
    const admin = isPlatformAdmin(principal);
    const tenant = admin ? sessions.selectedTenant(c) : principal.tenantId;
    return {
      title,
      current,
      csrf: signedInState(c).csrf,
      identity: {
        label: principal.kind === "user" ? (principal.email ?? principal.userId) : principal.kind,
        tenantLabel: tenant ? `tenant ${tenant}` : admin ? "no tenant picked" : null,
        platformAdmin: admin,
        tenantAdmin:
          principal.kind === "user" && (principal.role === "tenant_admin" || (admin && tenant !== null)),
      },
      ...extra,
    } satisfies PageFrame;
  };

  // Everything below needs a signed-in user; sign-in itself is registered first.
  web.get("/sign-in", async (c) => {
    const next = safeNext(c.req.query("next"));
    if (await sessions.resolve(c)) return c.redirect(next, 303);
    return page(c, { title: "Sign in" }, <SignInForm csrf={csrfToken(c)} next={next} />);
  });
  web.post("/sign-in", async (c) => {
    const form = await c.req.parseBody();
    assertCsrf(c, formString(form.csrf), publicOrigin(c));
    const next = safeNext(formString(form.next));
    try {
      await sessions.signIn(c, formString(form.username) ?? "", formString(form.password) ?? "");
    } catch (error) {
      if (
        !(error instanceof VigilError) ||
        (error.code !== "INVALID_CREDENTIAL" && error.code !== "RATE_LIMITED")
      )
        throw error;
      if (error.headers) for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
      return page(
        c,
        { title: "Sign in" },
        <SignInForm csrf={csrfToken(c)} next={next} error={error.detail} />,
        error.status,
      );
    }
    return c.redirect(next, 303);
  });
  web.get("/", (c) => c.redirect("/console/events", 303));
  // The checkpoint verifier key is public (GET /api/v1/checkpoints/key); the event page fetches it
  // here so a missing key is a status, not a browser console error. Both the signed-in event page
  // and the viewer use it; what the browser trusts is decided client-side (pinned key).
  web.get("/checkpoint-key", async (c) => {
    const response = await app.fetch(
      new Request(new URL("/api/v1/checkpoints/key", c.req.url), {
        headers: { "X-Request-Id": c.get("requestId") },
      }),
    );
    c.header("Cache-Control", "no-store");
    if (!response.ok) return c.json(await proofStatus(response));
    return c.json({ status: "ok", key: (await response.text()).trim() });
  });

  const signedIn = async (c: ConsoleContext, next: () => Promise<void>) => {
    const resolving = performance.now();
    const session = await sessions.resolve(c);
    const timing = requestTimings.get(c.req.raw);
    if (timing) timing.session = performance.now() - resolving;
    if (!session) {
      if (c.req.method !== "GET") throw new VigilError("UNAUTHENTICATED", "sign in again");
      const url = new URL(c.req.url);
      return c.redirect(`/console/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    signedInRequests.set(c.req.raw, { session, csrf: csrfToken(c) });
    c.set("principal", session.principal);
    await next();
  };
  for (const path of [
    "/events",
    "/events/*",
    "/export",
    "/tail",
    "/stats",
    "/history",
    "/admin",
    "/admin/*",
    "/tenants",
    "/tenants/*",
    "/sign-out",
    "/stream-token",
  ])
    web.use(path, signedIn);

  const actionContext = (c: ConsoleContext): ActionContext => ({
    principal: signedInState(c).session.principal,
    db: deps.db,
    audit: deps,
    origin: requestOrigin(c, deps.config),
  });

  /** The tenant a page acts on: the user's own, or the one a platform admin picked. */
  const workingTenant = (c: ConsoleContext): string | null => {
    const { principal } = signedInState(c).session;
    return isPlatformAdmin(principal) ? sessions.selectedTenant(c) : principal.tenantId;
  };
  const readScope = (c: ConsoleContext): TenantScope | null => {
    const tenant = workingTenant(c);
    if (!tenant && isPlatformAdmin(signedInState(c).session.principal)) return null;
    return tenantScope(authorize(signedInState(c).session.principal, "events:read", tenant)!);
  };
  const pickTenantFirst = (c: ConsoleContext, title: string, current: PageFrame["current"]) =>
    page(
      c,
      frameFor(c, title, current),
      <p>
        Platform admins work in one tenant at a time: <a href="/console/tenants">pick a tenant</a>.
      </p>,
    );
  const problemNotice = (c: Context<AppEnv>, error: VigilError) => (
    <ProblemNotice
      title={error.title}
      detail={error.detail}
      status={error.status}
      requestId={c.get("requestId")}
    />
  );

  web.post("/sign-out", async (c) => {
    assertCsrf(c, formString((await c.req.parseBody()).csrf), publicOrigin(c));
    await sessions.signOut(c);
    return c.redirect("/console/sign-in", 303);
  });

  // ---- events -------------------------------------------------------------------------------
  const renderEvents = async (
    c: Context<AppEnv>,
    place: EventsPlace,
    principal: Principal,
    scope: TenantScope,
    frame: PageFrame,
  ) => {
    const params = filledParams(c.req.url, Object.keys(place.keep));
    const query = new URLSearchParams(params);
    if (!query.has("limit")) query.set("limit", CONSOLE_PAGE_SIZE);
    let result: { data: StoredEvent[]; next_cursor: string | null } = { data: [], next_cursor: null };
    let notice: unknown = null;
    let status = 200;
    try {
      const parsed = applyViewerPins(principal, parseQuery(searchParamsSchema, query));
      // The API's backend too (OpenSearch when configured), so a page equals the API's answer.
      result = await searchEvents(deps.db, scope, parsed, { backend: deps.searchBackend });
    } catch (error) {
      if (!(error instanceof VigilError) || error.status >= 500) throw error;
      notice = problemNotice(c, error);
      status = error.status;
    }
    return page(
      c,
      frame,
      <>
        <EventsForm place={place} params={params} now={new Date()} />
        <EventsResults
          place={place}
          params={params}
          events={result.data}
          nextCursor={result.next_cursor}
          notice={notice as never}
        />
      </>,
      status,
    );
  };

  const verificationOf = async (scope: TenantScope, event: StoredEvent) => {
    const salt = await readEventSalt(deps.db, scope, event);
    return { event: salt ? { ...event, salt } : event, hashed_fields: HASHED_FIELDS };
  };
  const withProof = (verification: Awaited<ReturnType<typeof verificationOf>>, id: string) => ({
    ...verification,
    proof_url: `/console/events/${id}/proof`,
    key_url: "/console/checkpoint-key",
  });

  web.get("/events", async (c) => {
    const scope = readScope(c);
    if (!scope) return pickTenantFirst(c, "Events", "events");
    c.set("tenantId", scope.tenantId);
    return renderEvents(
      c,
      CONSOLE_PLACE,
      signedInState(c).session.principal,
      scope,
      frameFor(c, "Events", "events"),
    );
  });

  web.get("/events/:id", async (c) => {
    const scope = readScope(c);
    if (!scope) return pickTenantFirst(c, "Event", "events");
    c.set("tenantId", scope.tenantId);
    const event = await getEvent(deps.db, scope, c.req.param("id"));
    if (!event) throw new VigilError("NOT_FOUND", "no event with that id");
    return page(
      c,
      frameFor(c, `Event #${event.seq}`, "events", { scripts: ["/console/assets/event-verify.js"] }),
      <EventDetail
        place={CONSOLE_PLACE}
        event={event}
        verification={withProof(await verificationOf(scope, event), event.id)}
      />,
    );
  });

  /**
   * A read forwarded to the API itself with the session's access token, so authorization,
   * auditing and streaming are exactly the API's (export links, inclusion proofs).
   */
  const forwardToApi = (c: ConsoleContext, apiPath: string, params: URLSearchParams) => {
    const scope = readScope(c);
    if (!scope) throw new VigilError("INVALID_PARAMETER", "pick a tenant first");
    if (isPlatformAdmin(signedInState(c).session.principal)) params.set("tenant_id", scope.tenantId);
    const query = params.toString();
    const url = new URL(`${apiPath}${query ? `?${query}` : ""}`, c.req.url);
    return app.fetch(
      new Request(url, {
        headers: {
          Authorization: `Bearer ${signedInState(c).session.accessToken}`,
          "X-Request-Id": c.get("requestId"),
          "User-Agent": c.req.header("user-agent") ?? "",
        },
      }),
    );
  };

  // Plain links the browser downloads.
  web.get("/export", (c) => forwardToApi(c, "/api/v1/logs/export", filledParams(c.req.url, ["tenant_id"])));
  // What the event page's Verify checks the event's inclusion with (provable history, spec §13).
  // Answered 200 with a status either way, so a log not yet provable is no browser console error.
  const proofStatus = async (response: Response) => {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string; request_id?: string };
    return {
      status: response.status === 409 ? ("pending" as const) : ("unavailable" as const),
      detail: problem.detail ?? `HTTP ${response.status}`,
      request_id: problem.request_id ?? null,
    };
  };
  web.get("/events/:id/proof", async (c) => {
    const id = c.req.param("id");
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new VigilError("NOT_FOUND", "no event with that id");
    const response = await forwardToApi(c, `/api/v1/logs/${id}/proof`, new URLSearchParams());
    if (!response.ok) return c.json(await proofStatus(response));
    return c.json({ status: "ok", proof: await response.json() });
  });
  const answerProof = async (read: () => Promise<unknown>, c: Context<AppEnv>) => {
    try {
      return { status: "ok" as const, proof: await read() };
    } catch (error) {
      if (!(error instanceof VigilError) || error.status >= 500) throw error;
      return {
        status: error.status === 409 ? ("pending" as const) : ("unavailable" as const),
        detail: error.detail,
        request_id: c.get("requestId") ?? null,
      };
    }
  };

  // ---- live tail ----------------------------------------------------------------------------
  web.get("/tail", async (c) => {
    const scope = readScope(c);
    if (!scope) return pickTenantFirst(c, "Live tail", "tail");
    return page(
      c,
      frameFor(c, "Live tail", "tail", { scripts: ["/console/assets/live-tail.js"] }),
      <LiveTail params={filledParams(c.req.url)} />,
    );
  });

  /** A short-lived stream token for the live tail and the streamer URL to open it at. */
  const streamTokenResponse = async (c: Context<AppEnv>, principal: Principal, tenantId: string | null) => {
    const granted = await issueStreamToken(deps.keys, deps.config, principal, tenantId);
    c.header("Cache-Control", "no-store");
    const url = new URL(streamUrl(c));
    if (isPlatformAdmin(principal)) url.searchParams.set("tenant_id", granted.tenantId);
    return c.json({
      token: granted.token,
      url: url.toString(),
      expires_at: granted.expiresAt.toISOString(),
      // Relative, so the page's renewal does not depend on the browser's clock agreeing with ours.
      expires_in: granted.expiresInSeconds,
    });
  };
  web.post("/stream-token", async (c) => {
    assertCsrf(c, c.req.header("x-csrf-token"), publicOrigin(c));
    return streamTokenResponse(c, signedInState(c).session.principal, workingTenant(c));
  });

  // ---- stats and history --------------------------------------------------------------------
  web.get("/stats", async (c) => {
    const scope = readScope(c);
    if (!scope) return pickTenantFirst(c, "Stats", "stats");
    c.set("tenantId", scope.tenantId);
    const params = filledParams(c.req.url);
    const stats = await eventStats(deps.db, scope, parseQuery(statsParamsSchema, params));
    return page(
      c,
      frameFor(c, "Stats", "stats", {
        scripts: ["/console/assets/stats-chart.js"],
        styles: ["/console/assets/uplot.css"],
      }),
      <StatsView stats={stats} params={params} />,
    );
  });

  web.get("/history", async (c) => {
    const scope = readScope(c);
    if (!scope) return pickTenantFirst(c, "History", "events");
    c.set("tenantId", scope.tenantId);
    const params = filledParams(c.req.url);
    const resource = parseQuery(
      resourceRefSchema.strict(),
      new URLSearchParams({
        resource_type: params.get("resource_type") ?? "",
        resource_id: params.get("resource_id") ?? "",
      }),
    );
    const rest = new URLSearchParams(params);
    rest.delete("resource_type");
    rest.delete("resource_id");
    const history = await resourceHistory(deps.db, scope, resource, parseQuery(historyParamsSchema, rest));
    return page(
      c,
      frameFor(c, `History of ${resource.resource_type}/${resource.resource_id}`, "events"),
      <HistoryView history={history} params={params} />,
    );
  });

  // ---- keys, users, viewer origins (tenant admins; platform admins in the picked tenant) ---
  const adminTenant = (c: ConsoleContext): string => {
    const tenant = workingTenant(c);
    if (!tenant) throw new VigilError("INVALID_PARAMETER", "pick a tenant first");
    return tenant;
  };
  const renderAdmin = async (c: ConsoleContext, createdKey?: string) => {
    const ctx = actionContext(c);
    const tenant = adminTenant(c);
    const [keys, users, viewerOrigins] = await Promise.all([
      listTenantApiKeys(ctx, tenant),
      listUsers(ctx, tenant),
      readViewerOrigins(deps.db.sql, tenant),
    ]);
    return page(
      c,
      frameFor(c, "Keys & users", "admin"),
      <AdminView
        csrf={signedInState(c).csrf}
        keys={keys}
        users={users}
        viewerOrigins={viewerOrigins}
        createdKey={createdKey}
      />,
    );
  };
  const adminForm = async (c: ConsoleContext) => {
    const form = await c.req.parseBody({ all: true });
    assertCsrf(c, formString(form.csrf), publicOrigin(c));
    return form;
  };
  web.get("/admin", (c) => renderAdmin(c));
  web.post("/admin/keys", async (c) => {
    const form = await adminForm(c);
    const scopes = form.scopes === undefined ? [] : [form.scopes].flat();
    const input = parseBody(apiKeyCreateSchema, { name: formString(form.name), scopes });
    const created = await issueApiKey(actionContext(c), adminTenant(c), input);
    deps.apiKeys?.invalidate();
    return renderAdmin(c, created.key);
  });
  web.post("/admin/keys/:id/revoke", async (c) => {
    await adminForm(c);
    await revokeTenantApiKey(actionContext(c), adminTenant(c), c.req.param("id"));
    deps.apiKeys?.invalidate();
    return c.redirect("/console/admin", 303);
  });
  web.post("/admin/users", async (c) => {
    const form = await adminForm(c);
    await addUser(actionContext(c), adminTenant(c), {
      email: formString(form.email) ?? "",
      password: formString(form.password) ?? "",
      role: (formString(form.role) ?? "auditor") as "auditor",
    });
    return c.redirect("/console/admin", 303);
  });
  web.post("/admin/viewer-origins", async (c) => {
    const form = await adminForm(c);
    const lines = (formString(form.viewer_origins) ?? "").split(/\s+/).filter(Boolean);
    const input = parseBody(viewerOriginsSchema, { viewer_origins: lines });
    await setViewerOrigins(actionContext(c), adminTenant(c), input.viewer_origins);
    return c.redirect("/console/admin", 303);
  });

  // ---- tenants (platform admins) ------------------------------------------------------------
  web.get("/tenants", async (c) => {
    const tenants = await listTenants(actionContext(c), { limit: 1000 });
    return page(
      c,
      frameFor(c, "Tenants", "tenants"),
      <TenantsView csrf={signedInState(c).csrf} tenants={tenants} selected={sessions.selectedTenant(c)} />,
    );
  });
  web.post("/tenants", async (c) => {
    const form = await adminForm(c);
    await addTenant(actionContext(c), { name: formString(form.name) ?? "" });
    return c.redirect("/console/tenants", 303);
  });
  web.post("/tenants/select", async (c) => {
    const form = await adminForm(c);
    const tenant = await getTenant(actionContext(c), formString(form.tenant_id) ?? "");
    sessions.selectTenant(c, tenant.id);
    return c.redirect("/console/events", 303);
  });
  web.post("/tenants/:id/status", async (c) => {
    const form = await adminForm(c);
    const status = formString(form.status);
    if (status !== "active" && status !== "suspended")
      throw new VigilError("VALIDATION_FAILED", "status must be active or suspended", [
        { path: "status", message: "must be active or suspended" },
      ]);
    await updateTenant(actionContext(c), c.req.param("id"), { status });
    deps.apiKeys?.invalidate();
    return c.redirect("/console/tenants", 303);
  });

  // ---- embeddable viewer ----------------------------------------------------------------------
  const viewerGrant = async (c: Context<AppEnv>) => {
    const token = c.req.query("token");
    const grant = token ? await verifyScopedToken(deps.keys, deps.config, "viewer", token) : null;
    if (!token || !grant)
      throw new VigilError("INVALID_CREDENTIAL", "this viewer link is not valid or has expired");
    const principal = scopedTokenPrincipal(grant);
    const scope = tenantScope(authorize(principal, "events:read")!);
    c.set("principal", principal);
    c.set("tenantId", scope.tenantId);
    const origins = await readViewerOrigins(deps.db.sql, scope.tenantId);
    c.header(
      "Content-Security-Policy",
      contentSecurityPolicy(new URL(streamUrl(c)).origin, origins.length > 0 ? origins.join(" ") : "'none'"),
    );
    // frame-ancestors decides; X-Frame-Options cannot name origins, so it goes when some may frame.
    if (origins.length > 0) c.header("X-Frame-Options", undefined);
    const place: EventsPlace = { base: "/console/viewer", keep: { token }, pins: grant.pins, exports: true };
    return { principal, scope, place, token };
  };
  /** The viewer's query parameters without its token, for parsing by a read's own schema. */
  const viewerParams = (c: Context<AppEnv>) => filledParams(c.req.url, ["token", "tenant_id"]);
  web.get("/viewer", async (c) => {
    const { principal, scope, place } = await viewerGrant(c);
    return renderEvents(c, place, principal, scope, { title: "Audit log", bare: true });
  });
  /** An event the viewer token may see: inside its tenant and its pins (404 otherwise). */
  const viewerEvent = async (c: Context<AppEnv>) => {
    const grant = await viewerGrant(c);
    const event = await getEvent(deps.db, grant.scope, c.req.param("id") ?? "");
    if (!event || !eventWithinPins(grant.principal, event))
      throw new VigilError("NOT_FOUND", "no event with that id");
    return { ...grant, event };
  };
  web.get("/viewer/events/:id", async (c) => {
    const { scope, place, event, token } = await viewerEvent(c);
    const keep = new URLSearchParams({ token });
    return page(
      c,
      { title: `Event #${event.seq}`, bare: true, scripts: ["/console/assets/event-verify.js"] },
      <EventDetail
        place={place}
        event={event}
        verification={{
          ...(await verificationOf(scope, event)),
          proof_url: `/console/viewer/events/${event.id}/proof?${keep}`,
          key_url: "/console/checkpoint-key",
        }}
      />,
    );
  });
  web.get("/viewer/events/:id/proof", async (c) => {
    const { scope, event } = await viewerEvent(c);
    c.header("Cache-Control", "no-store");
    return c.json(
      await answerProof(
        () =>
          eventInclusionProof(deps.db, scope, event.id, {
            retryAfterSeconds: deps.config.CHECKPOINT_INTERVAL_SECONDS,
          }),
        c,
      ),
    );
  });

  // The viewer's export: the API's export (same verb, same audit record, same per-process and
  // per-tenant caps) with the token's pins applied to the filter; naming another value is a 403.
  // (The slots are the API export's own: one limiter per process, see http/export-slots.ts.)
  web.get("/viewer/export", async (c) => {
    const { principal, scope } = await viewerGrant(c);
    const params = applyViewerPins(principal, parseQuery(exportParamsSchema, viewerParams(c)));
    return exportResponse(deps, c, scope, principal, planExport(params), { via: "viewer" });
  });

  // The viewer's live tail streams like the signed-in one, with a stream token carrying the viewer
  // token's pins: the streamer applies them and refuses a filter that names another value.
  web.get("/viewer/tail", async (c) => {
    const { principal, place, token } = await viewerGrant(c);
    // Checked here too, so a widened URL is refused as a page, not only by the streamer.
    applyViewerPins(principal, parseQuery(streamParamsSchema, viewerParams(c)));
    return page(
      c,
      { title: "Live tail", bare: true, scripts: ["/console/assets/live-tail.js"] },
      <LiveTail params={viewerParams(c)} viewer={{ token, pins: place.pins }} />,
    );
  });
  // The viewer's credential is its token in the URL, never a cookie, so there is no CSRF to check.
  web.post("/viewer/stream-token", async (c) => {
    const { principal, scope } = await viewerGrant(c);
    return streamTokenResponse(c, principal, scope.tenantId);
  });

  web.onError((error, c) => {
    if (error instanceof VigilError && error.code === "UNAUTHENTICATED" && c.req.method === "GET")
      return c.redirect("/console/sign-in", 303);
    let shown = error;
    if (!(error instanceof VigilError)) {
      if (isDatabaseUnavailable(error))
        shown = new VigilError("DATABASE_UNAVAILABLE", "the database is unavailable; retry later");
      else deps.logger.error({ request_id: c.get("requestId"), err: error }, "console error");
    }
    const problem = toProblem(shown, c.get("requestId"));
    // An error's own headers (a refused export's Retry-After) go out with the page or the problem.
    if (shown instanceof VigilError)
      for (const [name, value] of Object.entries(shown.headers ?? {})) c.header(name, value);
    // Script-facing endpoints, and the viewer's export (answered like the API export it mirrors).
    if (
      c.req.path.startsWith("/console/assets/") ||
      c.req.path === "/console/stream-token" ||
      c.req.path === "/console/viewer/stream-token" ||
      c.req.path === "/console/viewer/export" ||
      c.req.path.endsWith("/proof")
    )
      return c.json(problem, problem.status as 500, { "Content-Type": "application/problem+json" });
    return page(
      c,
      { title: problem.title, bare: c.req.path.startsWith("/console/viewer") },
      <>
        <ProblemNotice
          title={problem.title}
          detail={problem.detail}
          status={problem.status}
          requestId={problem.request_id}
        />
        <p>
          <a href="/console/events">Back to events</a>
        </p>
      </>,
      problem.status,
    );
  });
  // Mounted with app.route, so the root's notFound would answer: this shows the console's own page.
  web.all("*", (c) => {
    throw new VigilError("NOT_FOUND", `no console page at ${c.req.path}`);
  });

  app.route("/console", web);
}
