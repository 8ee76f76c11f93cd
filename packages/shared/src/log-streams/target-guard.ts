// Server-side request forgery guard for log-stream targets: a tenant names a URL and Vigil's
// workers call it, so in production a target may not resolve to loopback, private, link-local
// (cloud metadata at 169.254.169.254 among them), CGNAT, multicast or unspecified addresses. The
// check runs when the stream is saved and again on every connection (the resolved address is the
// one connected to), so a DNS answer that changes after the check cannot redirect a delivery.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { VigilError } from "../errors/vigil-error.ts";

const blocked = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  blocked.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::", 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
  ["100::", 64], // discard
  ["2001::", 32], // Teredo: the IPv4 behind it is obfuscated, so refused whole
  ["2001:db8::", 32], // documentation
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8],
] as const)
  blocked.addSubnet(network, prefix, "ipv6");

/** The 16 bytes of an IPv6 literal (node has no parser; `isIP` has validated it). */
function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 255];
  });
}

/**
 * IPv6 forms that carry an IPv4 address a gateway or the host may reach: IPv4-mapped
 * (::ffff:a.b.c.d, however written), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16).
 */
function embeddedIPv4(address: string): string | null {
  const bytes = ipv6Bytes(address);
  const zero = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  if (zero(0, 10) && bytes[10] === 255 && bytes[11] === 255) return bytes.slice(12).join(".");
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) {
    if (zero(4, 12)) return bytes.slice(12).join(".");
    if (bytes[4] === 0 && bytes[5] === 1) return bytes.slice(12).join(".");
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6).join(".");
  return null;
}

/** True when `address` (an IP literal) is not one a tenant's target may point at. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 6) {
    // An IPv4 address in IPv6 disguise is judged as the IPv4 address.
    const inner = embeddedIPv4(address);
    if (inner !== null && blocked.check(inner, "ipv4")) return true;
    return blocked.check(address, "ipv6");
  }
  return blocked.check(address, "ipv4");
}

function resolveAll(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );
}

/** Refuses (422 naming `field`) a URL whose host is or resolves to a forbidden address. */
export async function assertPublicTarget(url: string, field: string, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const hostname = new URL(url).hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(hostname)
    ? [hostname]
    : await resolveAll(hostname).then(
        (found) => found.map((entry) => entry.address),
        () => {
          throw new VigilError("VALIDATION_FAILED", `${field}: the host does not resolve`, [
            { path: field, message: "the host does not resolve" },
          ]);
        },
      );
  if (addresses.length === 0 || addresses.some(isForbiddenAddress))
    throw new VigilError(
      "VALIDATION_FAILED",
      `${field}: must not point at a private, loopback or link-local address`,
      [{ path: field, message: "must not point at a private, loopback or link-local address" }],
    );
}

/**
 * A `lookup` for node's http(s) requests that refuses forbidden addresses at connect time.
 * With `allowPrivate` it is the ordinary lookup (development and tests deliver to 127.0.0.1).
 */
export function guardedLookup(allowPrivate: boolean): typeof dnsLookup {
  if (allowPrivate) return dnsLookup;
  return ((hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...(options as object), all: true }, (error, addresses) => {
      if (error) return callback(error);
      const list = addresses as LookupAddress[];
      const forbidden = list.find((entry) => isForbiddenAddress(entry.address));
      if (forbidden || list.length === 0)
        return callback(
          Object.assign(new Error(`refused to connect to ${forbidden?.address ?? hostname}`), {
            code: "EFORBIDDEN",
          }),
        );
      if ((options as { all?: boolean }).all) return callback(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  }) as typeof dnsLookup;
}
