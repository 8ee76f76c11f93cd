// The pure parts of the middleware and client options that the pipeline tests do not reach:
// resource and IP derivation, body capping, header allow-list, and the serverless waitUntil hook.
import { describe, expect, test } from "vitest";
import { VigilClient } from "../src/index.ts";
import { clientIp, pickHeaders, recordableBody, resourceOf } from "../src/request-audit.ts";

describe("request audit pieces", () => {
  test("resource from the route template and its last parameter", () => {
    expect(resourceOf("/orgs/:org/invoices/:id", { org: "7", id: "42" })).toEqual({
      type: "invoices",
      id: "42",
    });
    expect(resourceOf("/invoices/:id{[0-9]+}", { id: "9" })).toEqual({ type: "invoices", id: "9" });
    expect(resourceOf("/health", {})).toEqual({ type: "health", id: "/health" });
    expect(resourceOf("/", {})).toEqual({ type: "root", id: "/" });
  });

  test("client IP: the socket peer unless trustProxy says which X-Forwarded-For hop to believe", () => {
    const forwarded = "203.0.113.7, 10.0.0.2, 10.0.0.3";
    expect(clientIp(false, forwarded, "::ffff:10.0.0.3")).toBe("10.0.0.3");
    expect(clientIp(undefined, forwarded, "127.0.0.1")).toBe("127.0.0.1");
    // `true` is one trusted proxy: the address it appended, never the client-supplied leftmost one.
    expect(clientIp(true, forwarded, "10.0.0.3")).toBe("10.0.0.3");
    expect(clientIp(true, "6.6.6.6, 203.0.113.7", "10.0.0.3")).toBe("203.0.113.7");
    expect(clientIp(1, forwarded, "10.0.0.3")).toBe("10.0.0.3");
    expect(clientIp(2, forwarded, "10.0.0.3")).toBe("10.0.0.2");
    expect(clientIp(true, "1.2.3.4, not-an-ip", "10.0.0.3")).toBeUndefined();
    expect(clientIp(true, "2001:db8::1", undefined)).toBe("2001:db8::1");
  });

  test("headers: only the allow-list, and never credentials even when listed", () => {
    const headers: Record<string, string> = {
      authorization: "Bearer x",
      cookie: "a=b",
      "x-api-key": "k",
      "user-agent": "ua",
      "x-tenant": "t",
    };
    expect(
      pickHeaders(
        ["Authorization", "Cookie", "X-Api-Key", "User-Agent", "X-Tenant"],
        (name) => headers[name],
      ),
    ).toEqual({
      "user-agent": "ua",
      "x-tenant": "t",
    });
  });

  test("bodies: JSON objects only, capped in bytes and depth", () => {
    expect(recordableBody("text", 100)).toBeUndefined();
    expect(recordableBody({ a: 1 }, 100)).toEqual({ a: 1 });
    expect(recordableBody({ a: "x".repeat(200) }, 100)).toEqual({ _omitted: "too large", bytes: 208 });
    let deep: object = {};
    for (let level = 0; level < 20; level++) deep = { deep };
    expect(recordableBody(deep, 10_000)).toEqual({ _omitted: "nested too deep" });
  });

  test("waitUntil receives the promise that sends a burst, so a serverless runtime keeps running for it", async () => {
    const handed: Promise<unknown>[] = [];
    let sent = 0;
    const client = new VigilClient({
      baseUrl: "http://vigil.test",
      apiKey: "vgl_test",
      flushIntervalMs: 3_600_000, // nothing would go out on its own for an hour
      fetch: async (_url, init) => {
        sent += JSON.parse(String(init?.body)).length;
        return new Response("{}", { status: 202 });
      },
      waitUntil: (promise) => handed.push(promise),
    });
    client.log({ action_type: "VIEW", resource_type: "page", resource_id: "1" });
    client.log({ action_type: "VIEW", resource_type: "page", resource_id: "2" });
    expect(handed).toHaveLength(1);
    await Promise.all(handed);
    expect(sent).toBe(2);
    client.log({ action_type: "VIEW", resource_type: "page", resource_id: "3" });
    expect(handed).toHaveLength(2);
    await Promise.all(handed);
    expect(sent).toBe(3);
  });
});
