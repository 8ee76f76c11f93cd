// Where a request came from, for audit events and per-IP limits. X-Forwarded-For is believed only
// when VIGIL_TRUST_PROXY says a proxy in front of the api sets it.
import { isIP } from "node:net";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { RequestOrigin } from "@vigil/shared/audit/admin-audit";
import type { VigilConfig } from "@vigil/shared/config/config";
import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";

export function clientIp(c: Context, config: Pick<VigilConfig, "VIGIL_TRUST_PROXY">): string | null {
  let address: string | undefined;
  if (config.VIGIL_TRUST_PROXY) address = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
  if (!address) {
    try {
      address = getConnInfo(c).remote.address;
    } catch {
      address = undefined; // not served by @hono/node-server (e.g. app.request in a unit test)
    }
  }
  // IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d; anything not an address is dropped.
  const normalized = address?.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
  return normalized && isIP(normalized) ? normalized : null;
}

export function requestOrigin(
  c: Context<AppEnv>,
  config: Pick<VigilConfig, "VIGIL_TRUST_PROXY">,
): RequestOrigin {
  return {
    ip: clientIp(c, config),
    userAgent: c.req.header("user-agent") ?? null,
    requestId: c.get("requestId"),
  };
}
