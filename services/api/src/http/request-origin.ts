// Where a request came from, for audit events and per-IP limits: the socket's peer, or the client
// address that VIGIL_TRUSTED_PROXY_HOPS trusted proxies recorded in X-Forwarded-For (read from the
// right; see auth/client-address.ts).
import { getConnInfo } from "@hono/node-server/conninfo";
import type { RequestOrigin } from "@vigil/shared/audit/admin-audit";
import { clientAddress, type ProxyConfig, trustedProxyHops } from "@vigil/shared/auth/client-address";
import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";

export function clientIp(c: Context, config: ProxyConfig): string | null {
  let remoteAddress: string | undefined;
  try {
    remoteAddress = getConnInfo(c).remote.address;
  } catch {
    remoteAddress = undefined; // not served by @hono/node-server (e.g. app.request in a unit test)
  }
  return clientAddress(
    { remoteAddress, forwardedFor: c.req.header("x-forwarded-for") },
    trustedProxyHops(config),
  );
}

export function requestOrigin(c: Context<AppEnv>, config: ProxyConfig): RequestOrigin {
  return {
    ip: clientIp(c, config),
    userAgent: c.req.header("user-agent") ?? null,
    requestId: c.get("requestId"),
  };
}
