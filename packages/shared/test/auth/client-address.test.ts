// The client address behind n trusted proxies: read from the right of X-Forwarded-For, so what a
// client writes to the left never becomes its address; VIGIL_TRUST_PROXY=true still means one hop.
import { clientAddress, normalizeAddress, trustedProxyHops } from "@vigil/shared/auth/client-address";
import { eventInputSchema } from "@vigil/shared/events/event-schema";
import { describe, expect, test } from "vitest";

const peer = "10.0.0.5";

describe("clientAddress", () => {
  test("0 hops: the socket's peer, whatever X-Forwarded-For says", () => {
    expect(clientAddress({ remoteAddress: peer, forwardedFor: "1.2.3.4" }, 0)).toBe(peer);
  });

  test("1 hop (an appending load balancer): the rightmost entry; a forged left part is ignored", () => {
    expect(clientAddress({ remoteAddress: peer, forwardedFor: "6.6.6.6, 198.51.100.7" }, 1)).toBe(
      "198.51.100.7",
    );
    expect(clientAddress({ remoteAddress: peer, forwardedFor: "198.51.100.7" }, 1)).toBe("198.51.100.7");
  });

  test("2 hops (CDN → load balancer): the second entry from the right", () => {
    const forwardedFor = "6.6.6.6,198.51.100.7 , 203.0.113.1";
    expect(clientAddress({ remoteAddress: peer, forwardedFor }, 2)).toBe("198.51.100.7");
  });

  test("fewer entries than hops: the leftmost; no header or garbage at the trusted position: the peer", () => {
    expect(clientAddress({ remoteAddress: peer, forwardedFor: "198.51.100.7" }, 3)).toBe("198.51.100.7");
    expect(clientAddress({ remoteAddress: peer, forwardedFor: undefined }, 1)).toBe(peer);
    expect(clientAddress({ remoteAddress: peer, forwardedFor: " , " }, 1)).toBe(peer);
    expect(clientAddress({ remoteAddress: peer, forwardedFor: "1.2.3.4, not-an-ip" }, 1)).toBe(peer);
    expect(clientAddress({ remoteAddress: "garbage", forwardedFor: undefined }, 0)).toBeNull();
  });

  test("addresses are normalized: ports, brackets, IPv4-mapped IPv6, case", () => {
    expect(normalizeAddress("198.51.100.7:443")).toBe("198.51.100.7");
    expect(normalizeAddress("[2001:DB8::1]:443")).toBe("2001:db8::1");
    expect(normalizeAddress("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(normalizeAddress("2001:db8::1")).toBe("2001:db8::1");
    expect(normalizeAddress("a\u0000b")).toBeNull();
  });

  test("every address it returns is one an audit event's ip_address accepts (zones dropped, IPv6 canonical)", () => {
    const cases = [
      "fe80::1%eth0",
      "0:0:0:0:0:ffff:1.2.3.4",
      "2001:DB8:0:0:0:0:0:1",
      "::",
      "[::1]:80",
      "64:ff9b::1.2.3.4",
    ];
    for (const input of cases) {
      const address = normalizeAddress(input);
      expect(address, input).not.toBeNull();
      expect(eventInputSchema.shape.ip_address.safeParse(address).success, input).toBe(true);
    }
    expect(normalizeAddress("fe80::1%eth0")).toBe("fe80::1");
    expect(normalizeAddress("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
  });

  test("VIGIL_TRUSTED_PROXY_HOPS wins; the older VIGIL_TRUST_PROXY=true means one hop", () => {
    expect(trustedProxyHops({ VIGIL_TRUST_PROXY: false, VIGIL_TRUSTED_PROXY_HOPS: undefined })).toBe(0);
    expect(trustedProxyHops({ VIGIL_TRUST_PROXY: true, VIGIL_TRUSTED_PROXY_HOPS: undefined })).toBe(1);
    expect(trustedProxyHops({ VIGIL_TRUST_PROXY: true, VIGIL_TRUSTED_PROXY_HOPS: 2 })).toBe(2);
    expect(trustedProxyHops({ VIGIL_TRUST_PROXY: true, VIGIL_TRUSTED_PROXY_HOPS: 0 })).toBe(0);
  });
});
