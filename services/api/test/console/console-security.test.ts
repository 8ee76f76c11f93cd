// The console's HTTP surface under attack, without a browser: CSRF, cookie flags, sign-out that
// revokes, strict CSP and framing, viewer-token issue rules, forged and misused scoped tokens, the
// CDN-free /docs, and the build step that writes the console's bundles.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createTestPipeline,
  eventually,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CONSOLE_SCRIPTS, writeConsoleAssets } from "../../src/console/console-assets.ts";
import { createKey, createTenant, createUser, login, PLATFORM_ADMIN } from "../auth-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
let admin: string;
let tenantId: string;
let tenantAdmin: { email: string; password: string; token: string };

/** A browser's cookie jar, reduced to what the console sets. */
class CookieJar {
  readonly cookies = new Map<string, string>();
  readonly raw: string[] = [];
  absorb(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      this.raw.push(line);
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      const value = pair!.slice(at + 1);
      if (/max-age=0/i.test(line) || value === "") this.cookies.delete(pair!.slice(0, at));
      else this.cookies.set(pair!.slice(0, at), value);
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

async function browse(jar: CookieJar, pathName: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(`${api.url}${pathName}`, {
    redirect: "manual",
    ...init,
    headers: { Cookie: jar.header(), ...(init.headers as Record<string, string>) },
  });
  jar.absorb(response);
  return response;
}

function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    body: new URLSearchParams(fields),
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
  };
}

async function signIn(email: string, password: string): Promise<CookieJar> {
  const jar = new CookieJar();
  await browse(jar, "/console/sign-in");
  const signedIn = await browse(
    jar,
    "/console/sign-in",
    form(
      { csrf: jar.cookies.get("vigil_csrf")!, username: email, password, next: "/console/events" },
      {
        Origin: api.url,
        "Sec-Fetch-Site": "same-origin",
      },
    ),
  );
  expect(signedIn.status).toBe(303);
  return jar;
}

beforeAll(async () => {
  pipeline = await createTestPipeline();
  // A process cap of 2 (per tenant 10) for the shared-export-cap test; no other test here exports
  // two at once, so one api serves the whole file.
  api = await pipeline.start("api", { EXPORT_MAX_CONCURRENT: "2", EXPORT_MAX_CONCURRENT_PER_TENANT: "10" });
  admin = (await login(api.url, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password)).access_token;
  tenantId = (await createTenant(api.url, admin)).id;
  tenantAdmin = await createUser(api.url, admin, tenantId, "tenant_admin");
});
afterAll(async () => pipeline?.close());

describe("sessions and CSRF", () => {
  test("sign-in refuses a missing token, a wrong token and another site's Origin; the session cookies are HttpOnly SameSite=Strict", async () => {
    const jar = new CookieJar();
    await browse(jar, "/console/sign-in");
    const csrf = jar.cookies.get("vigil_csrf")!;
    const credentials = { username: tenantAdmin.email, password: tenantAdmin.password };
    for (const attempt of [
      form(credentials, { Origin: api.url }),
      form({ ...credentials, csrf: `${csrf.slice(0, -1)}x` }, { Origin: api.url }),
      form({ ...credentials, csrf }, { Origin: "https://evil.example" }),
      form({ ...credentials, csrf }, { "Sec-Fetch-Site": "cross-site" }),
    ]) {
      const refused = await browse(jar, "/console/sign-in", attempt);
      expect(refused.status).toBe(403);
      expect(jar.cookies.has("vigil_refresh")).toBe(false);
    }
    const ok = await browse(jar, "/console/sign-in", form({ ...credentials, csrf }, { Origin: api.url }));
    expect(ok.status).toBe(303);
    for (const name of ["vigil_refresh", "vigil_access", "vigil_csrf"]) {
      const line = jar.raw.find((cookie) => cookie.startsWith(`${name}=`) && !/max-age=0/i.test(cookie))!;
      expect(line).toMatch(/HttpOnly/i);
      expect(line).toMatch(/SameSite=Strict/i);
      expect(line).toMatch(/Path=\/console/i);
    }
    // A state-changing console request without the token is refused even with a valid session.
    expect((await browse(jar, "/console/stream-token", { method: "POST" })).status).toBe(403);
  });

  test("silent refresh renews a lapsed access cookie; sign-out revokes the refresh token", async () => {
    const jar = await signIn(tenantAdmin.email, tenantAdmin.password);
    const refresh = jar.cookies.get("vigil_refresh")!;
    jar.cookies.delete("vigil_access");
    const page = await browse(jar, "/console/events");
    expect(page.status).toBe(200);
    expect(jar.cookies.get("vigil_refresh")).not.toBe(refresh); // rotated
    const out = await browse(
      jar,
      "/console/sign-out",
      form({ csrf: jar.cookies.get("vigil_csrf")! }, { Origin: api.url }),
    );
    expect(out.status).toBe(303);
    expect(jar.cookies.has("vigil_refresh")).toBe(false);
    const spent = await requestJson(`${api.url}/api/v1/auth/token`, {
      body: { grant_type: "refresh_token", refresh_token: refresh },
    });
    expect(spent.status).toBe(401);
    expect((await browse(jar, "/console/events")).headers.get("location")).toMatch(/^\/console\/sign-in/);
  });

  test("pages carry a strict CSP, no inline script and no third-party URL; /docs loads Scalar from the api itself", async () => {
    const signInPage = await fetch(`${api.url}/console/sign-in`);
    expect(signInPage.headers.get("content-security-policy")).toContain("script-src 'self'");
    const jar = await signIn(tenantAdmin.email, tenantAdmin.password);
    for (const pathName of ["/console/events", "/console/tail", "/console/stats", "/console/admin"]) {
      const response = await browse(jar, pathName);
      expect(response.status, pathName).toBe(200);
      const csp = response.headers.get("content-security-policy")!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      const html = await response.text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/(src|href)="https?:/);
    }
    const docs = await (await fetch(`${api.url}/docs`)).text();
    expect(docs).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[^"']*\.js/);
    const bundle = await fetch(`${api.url}/docs/assets/scalar-api-reference.js`);
    expect(bundle.status).toBe(200);
    expect(Number((await bundle.arrayBuffer()).byteLength)).toBeGreaterThan(100_000);
  });
});

describe("viewer and stream tokens", () => {
  test("only tenant admins and viewer-scope keys issue viewer tokens; bad input is a 4xx naming the field", async () => {
    const auditor = await createUser(api.url, admin, tenantId, "auditor");
    const readKey = await createKey(api.url, admin, tenantId, ["read"]);
    const viewerKey = await requestJson(`${api.url}/api/v1/tenants/${tenantId}/keys`, {
      token: admin,
      body: { name: "viewer", scopes: ["viewer"] },
    });
    expect(viewerKey.status).toBe(201);
    const issue = (credential: { token?: string; key?: string }, body: unknown) =>
      requestJson(`${api.url}/api/v1/viewer-tokens`, { ...credential, body });
    expect((await issue({ token: auditor.token }, {})).status).toBe(403);
    expect((await issue({ key: readKey.key }, {})).status).toBe(403);
    const byKey = await issue({ key: viewerKey.body.api_key }, { filters: { user_id: "u-1" } });
    expect(byKey.status).toBe(201);
    expect(byKey.body.filters).toEqual({ user_id: "u-1" });
    expect(byKey.body.url).toMatch(/\/console\/viewer\?token=/);
    // A viewer-scope key reads nothing itself.
    expect((await requestJson(`${api.url}/api/v1/logs`, { key: viewerKey.body.api_key })).status).toBe(403);
    const tooLong = await issue({ token: tenantAdmin.token }, { expires_in: 10 * 86_400 });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.errors[0].path).toBe("expires_in");
    const unknown = await issue({ token: tenantAdmin.token }, { filters: { severity: "ERROR" } });
    expect(unknown.status).toBe(422);
    const foreign = await issue(
      { token: tenantAdmin.token },
      { tenant_id: "00000000-0000-7000-8000-0000000000ff" },
    );
    expect(foreign.status).toBe(403);
  });

  test("a forged or tampered viewer token opens nothing; neither scoped token is an API credential", async () => {
    const issued = await requestJson(`${api.url}/api/v1/viewer-tokens`, {
      token: tenantAdmin.token,
      body: { filters: { user_id: "u-1" } },
    });
    const token: string = issued.body.token;
    expect((await fetch(issued.body.url)).status).toBe(200);
    const [header, payload, signature] = token.split(".");
    const widened = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), pins: {} }),
    ).toString("base64url");
    for (const forged of [
      `${header}.${widened}.${signature}`,
      `${header}.${payload}.${"A".repeat(86)}`,
      "garbage",
    ]) {
      const page = await fetch(`${api.url}/console/viewer?token=${encodeURIComponent(forged)}`);
      expect(page.status).toBe(401);
    }
    expect((await requestJson(`${api.url}/api/v1/logs`, { token })).status).toBe(401);

    const jar = await signIn(tenantAdmin.email, tenantAdmin.password);
    const stream = await browse(jar, "/console/stream-token", {
      method: "POST",
      headers: { "X-CSRF-Token": jar.cookies.get("vigil_csrf")!, Origin: api.url },
    });
    expect(stream.status).toBe(200);
    const streamToken = (await stream.json()).token;
    expect((await requestJson(`${api.url}/api/v1/logs`, { token: streamToken })).status).toBe(401);
    expect((await fetch(`${api.url}/console/viewer?token=${streamToken}`)).status).toBe(401);
  });

  test("the viewer may be framed only by the tenant's viewer_origins", async () => {
    const issued = await requestJson(`${api.url}/api/v1/viewer-tokens`, {
      token: tenantAdmin.token,
      body: {},
    });
    const before = await fetch(issued.body.url);
    expect(before.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const jar = await signIn(tenantAdmin.email, tenantAdmin.password);
    const saved = await browse(
      jar,
      "/console/admin/viewer-origins",
      form(
        {
          csrf: jar.cookies.get("vigil_csrf")!,
          viewer_origins: "https://app.example.com\nhttp://localhost:3000",
        },
        { Origin: api.url },
      ),
    );
    expect(saved.status).toBe(303);
    const after = await fetch(issued.body.url);
    expect(after.headers.get("content-security-policy")).toContain(
      "frame-ancestors https://app.example.com http://localhost:3000",
    );
    expect(after.headers.get("x-frame-options")).toBeNull();
    const bad = await browse(
      jar,
      "/console/admin/viewer-origins",
      form(
        { csrf: jar.cookies.get("vigil_csrf")!, viewer_origins: "javascript:alert(1)" },
        { Origin: api.url },
      ),
    );
    expect(bad.status).toBe(422);
  });
});

describe("viewer tail, stream token, export and proof under hostile input", () => {
  test("bad, widening, forged or stream-token requests are 4xx, never 5xx, and nothing leaks past the pins", async () => {
    const issued = await requestJson(`${api.url}/api/v1/viewer-tokens`, {
      token: tenantAdmin.token,
      body: { filters: { user_id: "u-1", resource_type: "invoice" } },
    });
    const token = encodeURIComponent(issued.body.token as string);
    const jar = await signIn(tenantAdmin.email, tenantAdmin.password);
    const stream = await browse(jar, "/console/stream-token", {
      method: "POST",
      headers: { "X-CSRF-Token": jar.cookies.get("vigil_csrf")!, Origin: api.url },
    });
    const streamToken = encodeURIComponent((await stream.json()).token as string);
    const cases: Array<[string, number]> = [
      [`/console/viewer/tail?token=${token}&since=-1`, 400],
      [`/console/viewer/tail?token=${token}&since=abc`, 400],
      [`/console/viewer/tail?token=${token}&since=1e400`, 400],
      [`/console/viewer/tail?token=${token}&since=0&severity=LOUD`, 400],
      [`/console/viewer/tail?token=${token}&since=0&q=x`, 400],
      [`/console/viewer/tail?token=${token}&since=0&user_id=u-2`, 403],
      [`/console/viewer/tail?token=${streamToken}`, 401],
      [`/console/viewer/tail?token=garbage`, 401],
      [`/console/viewer/export?token=${token}&format=xml`, 400],
      [`/console/viewer/export?token=${token}&format=bundle&from_seq=1&to_seq=2`, 400],
      [`/console/viewer/export?token=${token}&user_id=u-2`, 403],
      [`/console/viewer/export?token=${streamToken}`, 401],
      [`/console/viewer/tail?token=${token}&resource_type=user`, 403],
      [`/console/viewer/tail?token=${token}&action=other`, 200], // narrowing an unpinned field is fine
      [`/console/viewer/events/not-a-uuid/proof?token=${token}`, 404],
      [`/console/viewer/events/00000000-0000-4000-8000-000000000000/proof?token=${token}`, 404],
    ];
    for (const [pathName, status] of cases) {
      const response = await fetch(`${api.url}${pathName}`);
      expect(`${pathName} → ${response.status}`).toBe(`${pathName} → ${status}`);
    }
    // The viewer's stream token: only for a valid viewer token (never a stream token or a forgery),
    // and it carries the viewer's pins; a refusal is problem+json naming no secret.
    const streamTokenFor = (viewerToken: string) =>
      fetch(`${api.url}/console/viewer/stream-token?token=${viewerToken}`, { method: "POST" });
    for (const refused of [streamToken, "garbage", `${token}%00`, "x".repeat(10_000)]) {
      const response = await streamTokenFor(refused);
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
    }
    expect((await fetch(`${api.url}/console/viewer/stream-token?token=${token}`)).status).toBe(404); // POST only
    const granted = await streamTokenFor(token);
    expect(granted.status).toBe(200);
    expect(granted.headers.get("cache-control")).toBe("no-store");
    const grant = await granted.json();
    const [header, payload] = (grant.token as string)
      .split(".")
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
    expect(header.typ).toBe("vigil-stream+jwt");
    expect(payload.pins).toEqual({ user_id: "u-1", resource_type: "invoice" });
    expect(payload.exp - payload.iat).toBe(grant.expires_in);
    // A stream token never outlives the viewer token it came from (here one with 60 s left).
    const shortViewer = await requestJson(`${api.url}/api/v1/viewer-tokens`, {
      token: tenantAdmin.token,
      body: { expires_in: 60 },
    });
    const short = await (await streamTokenFor(encodeURIComponent(shortViewer.body.token))).json();
    const expOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()).exp;
    expect(expOf(short.token)).toBeLessThanOrEqual(expOf(shortViewer.body.token));
    expect((await requestJson(`${api.url}/api/v1/logs`, { token: grant.token })).status).toBe(401);
    // The public checkpoint-key route needs no session and answers a status, not an error page.
    const key = await fetch(`${api.url}/console/checkpoint-key`);
    expect(key.status).toBe(200);
    expect(["ok", "unavailable"]).toContain((await key.json()).status);
  });

  test("NUL bytes, one-past-limit, overflowing and forged params are 4xx naming the field; a forged refresh cookie signs out", async () => {
    const issued = await requestJson(`${api.url}/api/v1/viewer-tokens`, {
      token: tenantAdmin.token,
      body: { filters: { user_id: "u-1" } },
    });
    const raw = issued.body.token as string;
    const token = encodeURIComponent(raw);
    const forged = encodeURIComponent(`${raw.slice(0, -2)}${raw.endsWith("AA") ? "BB" : "AA"}`);
    const cases: Array<[string, number, string | null]> = [
      [`/console/viewer/tail?token=${token}&since=0&action=${"a".repeat(128)}`, 200, null],
      [`/console/viewer/tail?token=${token}&since=${"9".repeat(16)}`, 400, "since"],
      [`/console/viewer/tail?token=${forged}`, 401, null],
      [`/console/viewer/tail?token=${token}%00`, 401, null],
      [`/console/viewer/tail?token=${"x".repeat(10_000)}`, 401, null],
      [`/console/viewer/export?token=${token}&after_seq=1e400`, 400, "after_seq"],
      [`/console/viewer/export?token=${token}&after_seq=9007199254740993`, 400, "after_seq"],
      [`/console/viewer/export?token=${token}&after_seq=1%00`, 400, "after_seq"],
      [`/console/viewer/export?token=${token}&resource_id=${"r".repeat(257)}`, 400, "resource_id"],
      [`/console/viewer/export?token=${token}&from=1e400`, 400, "from"],
      [`/console/viewer/export?token=${forged}`, 401, null],
      [`/console/viewer/events/%00/proof?token=${token}`, 404, null],
      [`/console/viewer/events/00000000-0000-4000-8000-000000000000%00/proof?token=${token}`, 404, null],
      [`/console/viewer/events/00000000-0000-4000-8000-000000000000/proof?token=${forged}`, 401, null],
    ];
    for (const [pathName, status, field] of cases) {
      const response = await fetch(`${api.url}${pathName}`);
      const body = await response.text();
      expect(`${pathName.slice(0, 120)} → ${response.status}`).toBe(`${pathName.slice(0, 120)} → ${status}`);
      if (field) expect(body, pathName.slice(0, 120)).toContain(field);
    }
    // The tail page: a NUL or an over-long filter is a 4xx page, never a 500.
    for (const query of ["action=a%00b", `action=${"a".repeat(129)}`, "since=1e400"]) {
      const tail = await fetch(`${api.url}/console/viewer/tail?token=${token}&${query}`);
      expect(tail.status, query).toBe(400);
    }
    // A forged, NUL-bearing or huge refresh cookie (no access cookie) is a sign-in redirect, not a 500.
    for (const refresh of ["forged-refresh-token", "a%00b", "r".repeat(4000)]) {
      const jar = new CookieJar();
      jar.cookies.set("vigil_refresh", refresh);
      const response = await browse(jar, "/console/events");
      expect(response.status, refresh.slice(0, 20)).toBe(303);
      expect(response.headers.get("location")).toMatch(/^\/console\/sign-in/);
    }
  });
});

describe("hostile input", () => {
  test("bad filters and paths are 4xx pages with a request id; markup in events is escaped; roles still apply", async () => {
    await pipeline.start("worker");
    const key = await createKey(api.url, admin, tenantId, ["ingest", "read"]);
    const hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
    const posted = await requestJson(`${api.url}/api/v1/logs?wait=true`, {
      key: key.key,
      body: {
        action_type: "VIEW",
        resource_type: "doc",
        resource_id: hostile,
        user_id: hostile,
        metadata: { note: hostile },
      },
    });
    expect(posted.status).toBe(201);
    const jar = await signIn(tenantAdmin.email, tenantAdmin.password);
    for (const pathName of [
      "/console/events",
      `/console/events/${posted.body.id}`,
      `/console/history?resource_type=doc&resource_id=${encodeURIComponent(hostile)}`,
    ]) {
      const html = await (await browse(jar, pathName)).text();
      expect(html, pathName).not.toContain("<script>alert(1)");
      expect(html, pathName).not.toContain("<img src=x");
      expect(html, pathName).toContain("&lt;script&gt;alert(1)");
    }
    for (const [pathName, status] of [
      ["/console/events?limit=abc", 400],
      ["/console/events?severity=LOUD", 400],
      ["/console/events?cursor=forged", 400],
      ["/console/events?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", 400],
      ["/console/history?resource_type=doc", 400],
      ["/console/stats?bucket=minute", 400],
      ["/console/events/not-a-uuid", 404],
      ["/console/nowhere", 404],
    ] as const) {
      const response = await browse(jar, pathName);
      expect(response.status, pathName).toBe(status);
      expect(await response.text(), pathName).toMatch(/request id/);
    }
    // A tenant admin is not a platform admin in the console either.
    const csrf = jar.cookies.get("vigil_csrf")!;
    expect(
      (await browse(jar, "/console/tenants", form({ csrf, name: "nope" }, { Origin: api.url }))).status,
    ).toBe(403);
    expect((await browse(jar, "/console/tenants")).status).toBe(403);
    const other = await createTenant(api.url, admin);
    const select = await browse(
      jar,
      "/console/tenants/select",
      form({ csrf, tenant_id: other.id }, { Origin: api.url }),
    );
    expect(select.status).toBe(403);
  });
});

test("pnpm build writes every console bundle and the stylesheet beside the api's bundle", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-console-build-"));
  try {
    await writeConsoleAssets(dir);
    expect(readdirSync(path.join(dir, "console")).sort()).toEqual(
      [...Object.keys(CONSOLE_SCRIPTS), "console.css"].sort(),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Opens a download and reads nothing past the headers (a refused one is read in full). */
function openStalled(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType?: string; retryAfter?: string; body: string; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers });
    request.on("response", (response) => {
      const opened = {
        status: response.statusCode ?? 0,
        contentType: response.headers["content-type"],
        retryAfter: response.headers["retry-after"] as string | undefined,
        destroy: () => request.destroy(),
      };
      if (opened.status === 200) {
        response.pause();
        resolve({ ...opened, body: "" });
        return;
      }
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ ...opened, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

test("the viewer's export and the API's share one per-process cap: with EXPORT_MAX_CONCURRENT=2, a third export by either route is a 429 problem", async () => {
  const capped = api; // started with EXPORT_MAX_CONCURRENT=2
  const tenant = await createTenant(capped.url, admin);
  const { key } = await createKey(capped.url, admin, tenant.id, ["read"]);
  const owner = await createUser(capped.url, admin, tenant.id, "tenant_admin");
  // ~20 MB of rows: more than sockets buffer, so an export nobody reads keeps its slot.
  await pipeline.database.admin`
    insert into events (tenant_id, seq, id, occurred_at, received_at, action_type, action, resource_type, resource_id,
      severity, outcome, metadata, redacted, hash, chain_hash)
    select ${tenant.id}::uuid, g, md5(${tenant.id} || g)::uuid, now() - interval '1 day' + g * interval '1 ms',
      now() - interval '1 day', 'VIEW', 'doc.view', 'doc', 'd-' || g, 'INFO', 'success',
      jsonb_build_object('pad', repeat(md5(g::text), 64)), '{}', md5(g::text) || md5(g::text), md5(g::text) || md5(g::text)
    from generate_series(1, 10000) as g`;
  await pipeline.database.admin`update tenant_sequences set last_seq = 10000 where tenant_id = ${tenant.id}`;
  const issued = await requestJson(`${capped.url}/api/v1/viewer-tokens`, { token: owner.token, body: {} });
  expect(issued.status).toBe(201);
  const viewerExport = `${capped.url}/console/viewer/export?format=ndjson&token=${encodeURIComponent(issued.body.token)}`;
  const apiExport = () => openStalled(`${capped.url}/api/v1/logs/export?format=ndjson`, { "X-API-Key": key });
  const expectRefused = (refused: Awaited<ReturnType<typeof openStalled>>) => {
    expect(refused.status).toBe(429);
    expect(refused.contentType).toMatch(/^application\/problem\+json/);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(refused.body)).toMatchObject({ status: 429, code: "RATE_LIMITED" });
  };

  const open = [await apiExport(), await openStalled(viewerExport)];
  try {
    expect(open.map((response) => response.status)).toEqual([200, 200]);
    expectRefused(await apiExport()); // the viewer's export holds the API's second slot...
    expectRefused(await openStalled(viewerExport)); // ...and the API's export the viewer's
    // A slot given back by either route is free for the other.
    open.pop()!.destroy();
    const next = await eventually(async () => {
      const response = await apiExport();
      if (response.status !== 200) response.destroy();
      return response.status === 200 ? response : null;
    }, 10_000);
    open.push(next);
    expectRefused(await openStalled(viewerExport));
  } finally {
    for (const response of open) response.destroy();
  }
});
