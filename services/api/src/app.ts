// The api's HTTP surface: middleware order is request context → auth (on /api) → routes; every
// error, thrown anywhere, leaves through one problem+json mapper.
import { OpenAPIHono } from "@hono/zod-openapi";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { cors } from "hono/cors";
import { registerConsole } from "./console/console-routes.tsx";
import type { ApiDependencies, AppEnv } from "./http/app-env.ts";
import { requirePrincipal } from "./http/authenticate.ts";
import { rateLimit } from "./http/rate-limit.ts";
import { problemResponse, requestContext } from "./http/request-context.ts";
import { validationHook } from "./http/validation-hook.ts";
import { registerArchiveRoutes } from "./routes/archive-routes.ts";
import { registerAuthRoutes } from "./routes/auth-routes.ts";
import { registerDocsRoutes } from "./routes/docs-routes.ts";
import { registerEventRoutes } from "./routes/event-routes.ts";
import { registerHealthRoutes } from "./routes/health-routes.ts";
import { registerLogStreamRoutes } from "./routes/log-stream-routes.ts";
import { registerQueryRoutes } from "./routes/query-routes.ts";
import { registerSearchStatusRoutes } from "./routes/search-status-routes.ts";
import { registerTenantRoutes } from "./routes/tenant-routes.ts";
import { registerTlogRoutes } from "./routes/tlog-routes.ts";
import { registerViewerTokenRoutes } from "./routes/viewer-token-routes.ts";

/** Paths under /api/v1 that need no credential. */
const PUBLIC_API_PATHS = new Set([
  "/api/v1/auth/token",
  "/api/v1/auth/revoke",
  // Checkpoint verifier keys are public: anyone may check a checkpoint.
  "/api/v1/checkpoints/key",
  "/api/v1/checkpoints/keys",
]);

export type RouteRegistrar = (app: OpenAPIHono<AppEnv>, deps: ApiDependencies) => void;

export function createApp(deps: ApiDependencies, extraRoutes: RouteRegistrar[] = []) {
  // strict: false — every path also answers with a trailing slash, as the seed API's clients use it.
  // defaultHook: the one zod-to-problem hook for every route declared with app.openapi().
  const app = new OpenAPIHono<AppEnv>({ strict: false, defaultHook: validationHook });
  app.use("*", requestContext(deps));
  if (deps.config.CORS_ORIGINS.length > 0) {
    app.use(
      "/api/*",
      cors({
        origin: deps.config.CORS_ORIGINS,
        allowHeaders: ["Authorization", "X-API-Key", "Content-Type", "X-Request-Id"],
        exposeHeaders: ["X-Request-Id", "Retry-After"],
      }),
    );
  }
  const authenticate = requirePrincipal(deps);
  app.use("/api/*", async (c, next) =>
    PUBLIC_API_PATHS.has(c.req.path.replace(/\/$/, "")) ? next() : authenticate(c, next),
  );
  app.use("/api/*", rateLimit(deps));
  // Key and tenant changes (revoke, suspend, …) bind this replica before it answers; the others
  // learn of them by NOTIFY (api-key-cache.ts).
  app.use("/api/v1/tenants/*", async (c, next) => {
    await next();
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.res.status < 400) deps.apiKeys?.invalidate();
  });

  registerHealthRoutes(app, deps);
  registerAuthRoutes(app, deps);
  registerTenantRoutes(app, deps);
  registerLogStreamRoutes(app, deps);
  registerArchiveRoutes(app, deps);
  // Before the event routes: its middleware adds Vigil-Index-Seq to searches answered by OpenSearch.
  registerSearchStatusRoutes(app, deps);
  for (const register of extraRoutes) register(app, deps);
  // Before the query and event routes: /logs/{id}/proof and the export's bundle format.
  registerTlogRoutes(app, deps);
  // Before the event routes: /logs/export, /logs/stats and /logs/cleanup are fixed paths.
  registerQueryRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerDocsRoutes(app);
  registerViewerTokenRoutes(app, deps);
  registerConsole(app, deps);

  app.notFound((c) =>
    problemResponse(c, new VigilError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`), deps),
  );
  app.onError((error, c) => problemResponse(c, error, deps));
  return app;
}
