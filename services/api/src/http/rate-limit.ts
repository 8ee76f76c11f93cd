// Per-credential and per-tenant token buckets (RATE_LIMIT_*), checked after authentication; the
// public auth endpoints are limited per client IP with the per-credential rate. Limits are per api
// replica (see rate-limit/token-bucket.ts).

import { principalId } from "@vigil/shared/auth/principal";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { TokenBuckets } from "@vigil/shared/rate-limit/token-bucket";
import type { MiddlewareHandler } from "hono";
import type { ApiDependencies, AppEnv } from "./app-env.ts";
import { clientIp } from "./request-origin.ts";

export function rateLimit(deps: ApiDependencies): MiddlewareHandler<AppEnv> {
  const perCredential = new TokenBuckets(
    deps.config.RATE_LIMIT_PER_KEY_RPS,
    deps.config.RATE_LIMIT_PER_KEY_BURST,
  );
  const perTenant = new TokenBuckets(
    deps.config.RATE_LIMIT_PER_TENANT_RPS,
    deps.config.RATE_LIMIT_PER_TENANT_BURST,
  );
  return async (c, next) => {
    const principal = c.get("principal");
    const checks: Array<[TokenBuckets, string, string]> = principal
      ? [[perCredential, principalId(principal), "credential"]]
      : [[perCredential, `ip:${clientIp(c, deps.config) ?? "unknown"}`, "client address"]];
    if (principal?.tenantId) checks.push([perTenant, principal.tenantId, "tenant"]);
    for (const [buckets, key, what] of checks) {
      const decision = buckets.take(key);
      if (!decision.allowed) {
        throw new VigilError(
          "RATE_LIMITED",
          `rate limit of this ${what} exceeded; retry after ${decision.retryAfterSeconds} s`,
          undefined,
          {
            "Retry-After": String(decision.retryAfterSeconds),
          },
        );
      }
    }
    await next();
  };
}
