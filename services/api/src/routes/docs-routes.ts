// The OpenAPI 3.1 document, generated from the same zod schemas that validate requests, and an
// interactive reference page. The reference is the Scalar bundle from the pinned npm package
// (@scalar/api-reference), served by the api itself: nothing is fetched from a CDN.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { scalarReferenceBundle } from "../console/console-assets.ts";
import type { AppEnv } from "../http/app-env.ts";

const SCALAR_PATH = "/docs/assets/scalar-api-reference.js";
// withDefaultFonts=false: Scalar would otherwise load its fonts from its own CDN.
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><title>Vigil API</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/></head>
<body><script id="api-reference" data-url="/openapi.json" data-configuration='{"withDefaultFonts":false,"hideClientButton":true}'></script>
<script src="${SCALAR_PATH}"></script></body></html>`;

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
  app.get(SCALAR_PATH, async (c) => {
    const bundle = await scalarReferenceBundle();
    if (c.req.header("if-none-match") === bundle.etag) return c.body(null, 304);
    return c.body(bundle.body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": bundle.contentType,
      ETag: bundle.etag,
      "Cache-Control": "public, max-age=86400",
      "X-Content-Type-Options": "nosniff",
    });
  });
}
