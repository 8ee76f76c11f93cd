// Token endpoints (spec §4): password and refresh grants, revocation, and the JWKS that lets anyone
// verify Vigil's access tokens. The grants' logic lives in @vigil/shared/auth/sessions.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  exchangeToken,
  revokeRefreshToken,
  revokeRequestSchema,
  tokenRequestSchema,
} from "@vigil/shared/auth/sessions";
import { throttledLoginSummary } from "@vigil/shared/auth/throttled-logins";
import { parseBody } from "@vigil/shared/errors/parse-body";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { guardFailedAuthentication } from "../http/authenticate.ts";
import { readJsonOrFormBody } from "../http/request-body.ts";
import { requestOrigin } from "../http/request-origin.ts";
import { problemResponses } from "./openapi-shapes.ts";

const AUTH_BODY_LIMIT = 16 * 1024;
const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

const tokenResponseSchema = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number().int(),
});

export function registerAuthRoutes(app: OpenAPIHono<AppEnv>, deps: ApiDependencies) {
  const sessions = { db: deps.db, keys: deps.keys, audit: deps, config: deps.config };

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/auth/token",
      summary: "Log in (password grant) or rotate a refresh token (refresh_token grant)",
      request: {
        body: {
          content: {
            "application/json": { schema: tokenRequestSchema },
            "application/x-www-form-urlencoded": { schema: tokenRequestSchema },
          },
          required: true,
        },
      },
      responses: {
        200: { description: "Tokens", content: { "application/json": { schema: tokenResponseSchema } } },
        ...problemResponses,
      },
    }),
  );
  app.post("/api/v1/auth/token", async (c) => {
    const request = parseBody(tokenRequestSchema, await readJsonOrFormBody(c, AUTH_BODY_LIMIT));
    const origin = requestOrigin(c, deps.config);
    // An address over the failed-authentication limit is refused before the database; its refused
    // logins are summed like the account throttle's, not audited one by one.
    const tokens = await guardFailedAuthentication(c, deps, () => exchangeToken(sessions, origin, request), {
      onRefused: (ip) => {
        if (request.grant_type === "password")
          throttledLoginSummary(deps, deps.config.VIGIL_LOGIN_FAILURE_WINDOW_SECONDS).record(
            `ip:${ip}`,
            origin,
            request.username,
          );
      },
    });
    return c.json(tokens, 200, NO_STORE);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/auth/revoke",
      summary: "Revoke a refresh token and every token rotated from the same login (RFC 7009)",
      request: {
        body: {
          content: {
            "application/json": { schema: revokeRequestSchema },
            "application/x-www-form-urlencoded": { schema: revokeRequestSchema },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: "Revoked (also answered for unknown tokens)",
          content: { "application/json": { schema: z.object({ revoked: z.literal(true) }) } },
        },
        ...problemResponses,
      },
    }),
  );
  app.post("/api/v1/auth/revoke", async (c) => {
    const request = parseBody(revokeRequestSchema, await readJsonOrFormBody(c, AUTH_BODY_LIMIT));
    // Access tokens are stateless and expire within VIGIL_ACCESS_TOKEN_TTL_SECONDS; only refresh tokens are revoked.
    await revokeRefreshToken(sessions, requestOrigin(c, deps.config), request.token);
    return c.json({ revoked: true as const }, 200, NO_STORE);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/.well-known/jwks.json",
      summary: "Public keys that verify Vigil's access tokens (current and recently rotated)",
      responses: {
        200: {
          description: "JSON Web Key Set",
          content: {
            "application/json": { schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) },
          },
        },
      },
    }),
  );
  app.get("/.well-known/jwks.json", async (c) =>
    c.json(await deps.keys.jwks(), 200, { "Cache-Control": "public, max-age=60" }),
  );
}
