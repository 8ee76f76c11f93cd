// Resolves the caller once per request; handlers read `c.get("principal")` and call shared verbs,
// which make the authorization decision.

import { authenticate, presentedSecret } from "@vigil/shared/auth/authenticate";
import type { MiddlewareHandler } from "hono";
import type { ApiDependencies, AppEnv } from "./app-env.ts";

export function requirePrincipal(deps: ApiDependencies): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = presentedSecret({
      apiKey: c.req.header("x-api-key"),
      authorization: c.req.header("authorization"),
    });
    c.set("principal", await authenticate(deps.db, deps.tokens, secret, deps.apiKeys));
    await next();
  };
}
