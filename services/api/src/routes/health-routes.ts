// Liveness (the process answers), readiness (database and queue reachable) and Prometheus metrics.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";

export function registerHealthRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const [database, queue] = await Promise.allSettled([deps.db.ping(), deps.queue.depth()]);
    const checks = {
      database: database.status === "fulfilled" ? "ok" : "unavailable",
      queue: queue.status === "fulfilled" ? "ok" : "unavailable",
    };
    const ready = checks.database === "ok" && checks.queue === "ok";
    return c.json({ status: ready ? "ready" : "unavailable", checks }, ready ? 200 : 503);
  });
  app.get("/metrics", async (c) =>
    c.text(await deps.metrics.registry.metrics(), 200, { "Content-Type": deps.metrics.registry.contentType }),
  );
}
