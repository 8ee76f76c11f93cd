// The client's IP address for per-IP limits and audit events. Behind proxies that append to
// X-Forwarded-For (ALB, nginx `$proxy_add_x_forwarded_for`), only the entries the trusted proxies
// added can be believed: the client writes whatever it likes to the left. With n trusted hops the
// client is the n-th entry from the right; with 0 it is the socket's peer.
import { isIP } from "node:net";
import type { VigilConfig } from "../config/config.ts";

export type ProxyConfig = Pick<VigilConfig, "VIGIL_TRUSTED_PROXY_HOPS" | "VIGIL_TRUST_PROXY">;

/** VIGIL_TRUSTED_PROXY_HOPS, or 1 for the older VIGIL_TRUST_PROXY=true (one proxy in front). */
export function trustedProxyHops(config: ProxyConfig): number {
  return config.VIGIL_TRUSTED_PROXY_HOPS ?? (config.VIGIL_TRUST_PROXY ? 1 : 0);
}

/** A bare IP address, or null: ports, brackets and the IPv4-mapped IPv6 prefix are removed. */
export function normalizeAddress(value: string | null | undefined): string | null {
  let address = value?.trim();
  if (!address) return null;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(":"));
  address = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  const version = isIP(address);
  if (version === 4) return address;
  if (version !== 6) return null;
  // Canonical form (zone dropped, zeros compressed, lower case), as the event schema expects it.
  try {
    return new URL(`http://[${address.replace(/%.*$/, "")}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
}

/**
 * The client address, read from the right of X-Forwarded-For past `trustedHops` proxies. When the
 * header holds fewer entries than that, the leftmost one is the furthest any proxy saw. An entry
 * that is not an address (a misconfigured proxy) falls back to the socket's peer.
 */
export function clientAddress(
  request: { remoteAddress: string | null | undefined; forwardedFor: string | null | undefined },
  trustedHops: number,
): string | null {
  const peer = normalizeAddress(request.remoteAddress);
  if (trustedHops <= 0 || !request.forwardedFor) return peer;
  const entries = request.forwardedFor
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return peer;
  const index = Math.max(0, entries.length - trustedHops);
  return normalizeAddress(entries[index]) ?? peer;
}
