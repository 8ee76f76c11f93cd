// Resolves the caller once per request; handlers read `c.get("principal")` and call shared verbs,
// which make the authorization decision. A client IP that failed to authenticate
// VIGIL_AUTH_MAX_FAILURES_PER_IP times in the window is refused (429) before any lookup is made.

import { authenticate, presentedSecret } from "@vigil/shared/auth/authenticate";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import { FailureLimiter } from "@vigil/shared/rate-limit/failure-limiter";
import type { Context, MiddlewareHandler } from "hono";
import type { ApiDependencies, AppEnv } from "./app-env.ts";
import { clientIp } from "./request-origin.ts";

/** One limiter per api process (per dependency set), shared by every route that authenticates. */
const limiters = new WeakMap<ApiDependencies, FailureLimiter>();

function failureLimiter(deps: ApiDependencies): FailureLimiter {
  let limiter = limiters.get(deps);
  if (!limiter) {
    limiter = new FailureLimiter(
      deps.config.VIGIL_AUTH_MAX_FAILURES_PER_IP,
      deps.config.VIGIL_AUTH_FAILURE_WINDOW_SECONDS * 1000,
    );
    limiters.set(deps, limiter);
  }
  return limiter;
}

/**
 * Runs `attempt` (an authentication) unless the client's IP is over its failure limit; a failed
 * attempt (INVALID_CREDENTIAL) counts against the IP. `onRefused` sees each refusal (for audit).
 * `costsNothing` exempts a credential whose check needs no lookup (a key in the cache), so clients
 * that share an address with a guesser (NAT, a proxy not counted in VIGIL_TRUSTED_PROXY_HOPS) and
 * were already authenticated keep working.
 */
export async function guardFailedAuthentication<T>(
  c: Context,
  deps: ApiDependencies,
  attempt: () => Promise<T>,
  options: { onRefused?: (ip: string) => void; costsNothing?: () => boolean } = {},
): Promise<T> {
  const limiter = failureLimiter(deps);
  const ip = clientIp(c, deps.config) ?? "unknown";
  const wait = limiter.retryAfterSeconds(ip);
  if (wait > 0 && !options.costsNothing?.()) {
    options.onRefused?.(ip);
    throw new VigilError(
      "RATE_LIMITED",
      `too many failed authentications from this address; retry after ${wait} s`,
      undefined,
      { "Retry-After": String(wait) },
    );
  }
  try {
    return await attempt();
  } catch (error) {
    if (error instanceof VigilError && error.code === "INVALID_CREDENTIAL") limiter.recordFailure(ip);
    throw error;
  }
}

export function requirePrincipal(deps: ApiDependencies): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await guardFailedAuthentication(
      c,
      deps,
      async () => {
        const secret = presentedSecret({
          apiKey: c.req.header("x-api-key"),
          authorization: c.req.header("authorization"),
        });
        return authenticate(deps.db, deps.tokens, secret, deps.apiKeys);
      },
      { costsNothing: () => cachedKeyPresented(c, deps) },
    );
    c.set("principal", principal);
    await next();
  };
}

/** The request carries an API key the process holds as valid (a cheap peek; no parsing errors here). */
function cachedKeyPresented(c: Context, deps: ApiDependencies): boolean {
  const isCached = deps.apiKeys?.isCachedValid?.bind(deps.apiKeys);
  if (!isCached) return false;
  const header = c.req.header("x-api-key")?.trim();
  const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization")?.trim() ?? "")?.[1];
  return [header, bearer].some((candidate) => candidate !== undefined && isCached(candidate));
}
