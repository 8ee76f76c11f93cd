// The OpenAPI 3.1 document, generated from the same zod schemas that validate requests, and an
// interactive reference page.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../http/app-env.ts";

const DOCS_PAGE = `<!doctype html>
<html><head><title>Vigil API</title><meta charset="utf-8"/></head>
<body><script id="api-reference" data-url="/openapi.json"></script>
<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script></body></html>`;

export function registerDocsRoutes(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Vigil audit-log API",
      version: "1.0.0",
      description: "Multi-tenant audit logs: ingest, search, export, stats, live stream.",
    },
  });
  app.get("/docs", (c) => c.html(DOCS_PAGE));
}
