// Login, refresh rotation and reuse detection, revocation, login throttling, signing-key rotation
// and the JWT checks, against the real api process and PostgreSQL.
import { spawn } from "node:child_process";
import { createPublicKey } from "node:crypto";
import path from "node:path";
import { REFRESH_ROTATION_GRACE_SECONDS } from "@vigil/shared/auth/sessions";
import { USER_CHECK_CACHE_MS } from "@vigil/shared/auth/token-verifier";
import { bootstrapPlatform } from "@vigil/shared/users/bootstrap-platform";
import {
  createTestPipeline,
  eventually,
  REPO_ROOT,
  type RunningService,
  requestJson,
  type TestPipeline,
} from "@vigil/testkit";
import { decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  adminToken,
  createTenant,
  createUser,
  login,
  PLATFORM_ADMIN,
  type TokenPair,
} from "./auth-fixtures.ts";

let pipeline: TestPipeline;
let api: RunningService;
let admin: string;
let tenantId: string;

beforeAll(async () => {
  pipeline = await createTestPipeline();
  api = await pipeline.start("api", {
    VIGIL_TRUST_PROXY: "true",
    VIGIL_LOGIN_MAX_FAILURES_PER_ACCOUNT: "3",
    VIGIL_LOGIN_MAX_FAILURES_PER_IP: "5",
    VIGIL_ACCESS_TOKEN_TTL_SECONDS: "300",
  });
  admin = await adminToken(api.url);
  tenantId = (await createTenant(api.url, admin)).id;
});
afterAll(async () => pipeline?.close());

const tokenUrl = () => `${api.url}/api/v1/auth/token`;
const whoCanRead = (token: string) => requestJson(`${api.url}/api/v1/logs?limit=1`, { token });

/** The api's current signing key, read from the database as an attacker with a DB dump could not. */
async function currentSigningKey(): Promise<{ kid: string; privateKey: CryptoKey; publicJwk: JWK }> {
  const [row] = await pipeline.database.admin<{ kid: string; private_jwk: string; public_jwk: JWK }[]>`
    select kid, private_jwk, public_jwk from signing_keys where retired_at is null order by created_at desc limit 1`;
  const privateJwk = JSON.parse(row!.private_jwk.replace(/^plain:/, "")) as JWK;
  return {
    kid: row!.kid,
    privateKey: (await importJWK(privateJwk, "EdDSA")) as CryptoKey,
    publicJwk: row!.public_jwk,
  };
}

interface Claims {
  sub?: string;
  role?: string;
  tenant_id?: string;
  iss?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
}

async function mint(key: { kid: string; privateKey: CryptoKey }, claims: Claims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const full = { iss: "vigil", aud: "vigil-api", iat: now, nbf: now, exp: now + 300, ...claims };
  return new SignJWT({ role: full.role, ...(full.tenant_id ? { tenant_id: full.tenant_id } : {}) })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid })
    .setSubject(full.sub!)
    .setIssuer(full.iss)
    .setAudience(full.aud)
    .setIssuedAt(full.iat)
    .setNotBefore(full.nbf)
    .setExpirationTime(full.exp)
    .sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("login", () => {
  test("the password grant returns a Bearer access token and an opaque refresh token; JSON and form bodies", async () => {
    const json = await login(api.url, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password);
    expect(json).toMatchObject({ token_type: "Bearer", expires_in: 300 });
    expect(json.refresh_token).toMatch(/^vgr_[\w-]{43}$/);
    const header = decodeProtectedHeader(json.access_token);
    expect(header.alg).toBe("EdDSA");

    const form = await fetch(tokenUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        username: "ADMIN@localhost",
        password: PLATFORM_ADMIN.password,
      }),
    });
    expect(form.status).toBe(200);
    expect(form.headers.get("cache-control")).toBe("no-store");
    const formBody = (await form.json()) as TokenPair;
    expect((await requestJson(`${api.url}/api/v1/tenants`, { token: formBody.access_token })).status).toBe(
      200,
    );
  });

  test("the JWKS publishes the signing key's public half under the token's kid", async () => {
    const jwks = await requestJson(`${api.url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    const { kid } = decodeProtectedHeader(admin);
    const published = jwks.body.keys.find((key: JWK) => key.kid === kid);
    expect(published).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(published.d).toBeUndefined();
  });

  test("wrong password and unknown account get the same 401", async () => {
    const user = await createUser(api.url, admin, tenantId, "auditor");
    const wrong = await requestJson(tokenUrl(), {
      body: { grant_type: "password", username: user.email, password: "not-the-password" },
    });
    const unknown = await requestJson(tokenUrl(), {
      body: { grant_type: "password", username: "nobody@example.test", password: "whatever-password" },
    });
    for (const response of [wrong, unknown]) {
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(response.body.detail).toBe("invalid username or password");
    }
  });

  test("failed logins are throttled per account: the 4th attempt is 429 even with the right password", async () => {
    const user = await createUser(api.url, admin, tenantId, "auditor");
    const headers = { "X-Forwarded-For": "198.51.100.10" };
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await requestJson(tokenUrl(), {
        headers,
        body: { grant_type: "password", username: user.email, password: `wrong-${attempt}` },
      });
      expect(response.status).toBe(401);
    }
    const locked = await requestJson(tokenUrl(), {
      headers,
      body: { grant_type: "password", username: user.email, password: user.password },
    });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another account from another address is unaffected.
    expect(
      (
        await requestJson(tokenUrl(), {
          body: {
            grant_type: "password",
            ...{ username: PLATFORM_ADMIN.email, password: PLATFORM_ADMIN.password },
          },
        })
      ).status,
    ).toBe(200);
  });

  test("failed logins are throttled per client IP across accounts", async () => {
    const headers = { "X-Forwarded-For": "203.0.113.7" };
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await requestJson(tokenUrl(), {
        headers,
        body: {
          grant_type: "password",
          username: `guess-${attempt}@example.test`,
          password: "guessed-password",
        },
      });
      expect(response.status).toBe(401);
    }
    const blocked = await requestJson(tokenUrl(), {
      headers,
      body: { grant_type: "password", username: PLATFORM_ADMIN.email, password: PLATFORM_ADMIN.password },
    });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  test("bad token requests are 4xx problem+json naming the field, and the api stays up", async () => {
    const cases: Array<{ init: Parameters<typeof requestJson>[1]; status: number; path?: string }> = [
      {
        init: { rawBody: "{not json", headers: { "Content-Type": "application/json" } },
        status: 400,
        path: "(body)",
      },
      {
        init: { body: { grant_type: "password", username: "a@b.c", password: "x", extra: 1 } },
        status: 422,
        path: "extra",
      },
      { init: { body: { grant_type: "client_credentials" } }, status: 422, path: "grant_type" },
      { init: { body: { grant_type: "password", username: "a@b.c" } }, status: 422, path: "password" },
      { init: { body: { grant_type: "refresh_token" } }, status: 422, path: "refresh_token" },
      {
        init: { rawBody: "grant_type=password", headers: { "Content-Type": "text/plain" } },
        status: 415,
        path: "Content-Type",
      },
      {
        init: { body: { grant_type: "password", username: "a@b.c", password: "x".repeat(20_000) } },
        status: 413,
        path: "(body)",
      },
      {
        init: {
          rawBody: "grant_type=password&grant_type=refresh_token",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
        },
        status: 400,
        path: "grant_type",
      },
    ];
    for (const { init, status, path: field } of cases) {
      const response = await requestJson(tokenUrl(), { method: "POST", ...init });
      expect(response.status, JSON.stringify(response.body)).toBe(status);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(response.body.errors?.map((error: { path: string }) => error.path)).toContain(field);
    }
    const revoke = await requestJson(`${api.url}/api/v1/auth/revoke`, {
      body: { token: "x", hint: "refresh_token" },
    });
    expect(revoke.status).toBe(422);
    expect(revoke.body.errors[0].path).toBe("hint");
    expect((await requestJson(`${api.url}/healthz`)).status).toBe(200);
  });
});

describe("refresh tokens", () => {
  test("rotate on every use; reusing a spent one revokes the whole family", async () => {
    const first = await login(api.url, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password);
    const second = await requestJson<TokenPair>(tokenUrl(), {
      body: { grant_type: "refresh_token", refresh_token: first.refresh_token },
    });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect((await whoCanRead(second.body.access_token)).status).not.toBe(401);

    // A replay after the rotation grace window (sessions.ts) is reuse.
    await pipeline.database.admin`
      update refresh_tokens set used_at = used_at - make_interval(secs => ${REFRESH_ROTATION_GRACE_SECONDS + 1})
      where used_at is not null`;
    const reuse = await requestJson(tokenUrl(), {
      body: { grant_type: "refresh_token", refresh_token: first.refresh_token },
    });
    expect(reuse.status).toBe(401);
    // The thief's replay cost the legitimate holder the family too.
    const afterReuse = await requestJson(tokenUrl(), {
      body: { grant_type: "refresh_token", refresh_token: second.body.refresh_token },
    });
    expect(afterReuse.status).toBe(401);
    const stored = await pipeline.database.admin`select token_hash from refresh_tokens`;
    expect(JSON.stringify(stored)).not.toContain(first.refresh_token);
  });

  test("20 concurrent uses of one refresh token: one rotation, every caller gets the same successor", async () => {
    const tokens = await login(api.url, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        requestJson<TokenPair>(tokenUrl(), {
          body: { grant_type: "refresh_token", refresh_token: tokens.refresh_token },
        }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
    expect(new Set(responses.map((response) => response.body.refresh_token)).size).toBe(1);
    // No caller tripped reuse detection: the shared successor still rotates.
    const next = await requestJson(tokenUrl(), {
      body: { grant_type: "refresh_token", refresh_token: responses[0]!.body.refresh_token },
    });
    expect(next.status).toBe(200);
  });

  test("revoke ends the refresh family; unknown tokens are answered 200 too (RFC 7009)", async () => {
    const tokens = await login(api.url, PLATFORM_ADMIN.email, PLATFORM_ADMIN.password);
    const form = await fetch(`${api.url}/api/v1/auth/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: "refresh_token" }),
    });
    expect(form.status).toBe(200);
    expect(
      (
        await requestJson(tokenUrl(), {
          body: { grant_type: "refresh_token", refresh_token: tokens.refresh_token },
        })
      ).status,
    ).toBe(401);
    expect(
      (await requestJson(`${api.url}/api/v1/auth/revoke`, { body: { token: "vgr_unknown" } })).status,
    ).toBe(200);
  });
});

describe("access tokens are checked strictly", () => {
  test("a well-formed token signed with the current key is accepted (control)", async () => {
    const key = await currentSigningKey();
    const user = await createUser(api.url, admin, tenantId, "auditor");
    const token = await mint(key, { sub: user.id, role: "auditor", tenant_id: tenantId });
    expect((await whoCanRead(token)).status).toBe(200);
  });

  test("alg none, HS256 with the public key, wrong aud/iss, expired, future nbf, unknown kid, tampered payload → 401", async () => {
    const key = await currentSigningKey();
    const user = await createUser(api.url, admin, tenantId, "auditor");
    const now = Math.floor(Date.now() / 1000);
    const base = { sub: user.id, role: "auditor", tenant_id: tenantId };
    const valid = await mint(key, base);
    const [, payload, signature] = valid.split(".");
    const stranger = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const publicPem = createPublicKey({
      key: (await exportJWK(await importJWK(key.publicJwk, "EdDSA"))) as never,
      format: "jwk",
    }).export({ type: "spki", format: "pem" });

    const forged: Record<string, string> = {
      "alg none": `${b64({ alg: "none", typ: "JWT" })}.${payload}.`,
      "alg none with kid": `${b64({ alg: "none", kid: key.kid })}.${payload}.`,
      "HS256 signed with the public key (PEM)": await new SignJWT({ role: "admin" })
        .setProtectedHeader({ alg: "HS256", kid: key.kid })
        .setSubject(user.id)
        .setIssuer("vigil")
        .setAudience("vigil-api")
        .setExpirationTime(now + 300)
        .setIssuedAt()
        .sign(Buffer.from(String(publicPem))),
      "HS256 signed with the public key (x)": await new SignJWT(base)
        .setProtectedHeader({ alg: "HS256", kid: key.kid })
        .setSubject(user.id)
        .setIssuer("vigil")
        .setAudience("vigil-api")
        .setExpirationTime(now + 300)
        .setIssuedAt()
        .sign(Buffer.from(key.publicJwk.x!, "base64url")),
      "wrong audience": await mint(key, { ...base, aud: "another-api" }),
      "wrong issuer": await mint(key, { ...base, iss: "https://evil.example" }),
      expired: await mint(key, { ...base, iat: now - 600, nbf: now - 600, exp: now - 60 }),
      "not yet valid (nbf)": await mint(key, { ...base, nbf: now + 120 }),
      "unknown kid": await mint({ kid: "not-a-vigil-key", privateKey: stranger.privateKey }, base),
      "right kid, stranger's key": await mint({ kid: key.kid, privateKey: stranger.privateKey }, base),
      "tampered payload (role → admin, no tenant)": `${valid.split(".")[0]}.${b64({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), role: "admin", tenant_id: undefined })}.${signature}`,
      "tampered signature": `${valid.slice(0, -4)}${valid.endsWith("AAAA") ? "BBBB" : "AAAA"}`,
      "other tenant in the claims": await mint(key, {
        ...base,
        tenant_id: "00000000-0000-7000-8000-0000000000ff",
      }),
      "unknown subject": await mint(key, { ...base, sub: "00000000-0000-4000-8000-000000000001" }),
      "not a JWT": "abc.def",
    };
    for (const [name, token] of Object.entries(forged)) {
      const response = await whoCanRead(token);
      expect(response.status, name).toBe(401);
      expect(response.body.code, name).toBe("INVALID_CREDENTIAL");
    }
  });

  test("a token of a deleted or disabled user is refused as soon as the change is announced, not after the 5 s user cache", async () => {
    const deleted = await createUser(api.url, admin, tenantId, "auditor");
    const disabled = await createUser(api.url, admin, tenantId, "tenant_admin");
    // Looked up (and cached) just now.
    expect((await whoCanRead(deleted.token)).status).toBe(200);
    expect((await whoCanRead(disabled.token)).status).toBe(200);
    const changed = Date.now();
    await pipeline.database.admin`delete from users where id = ${deleted.id}`;
    await pipeline.database.admin`update users set status = 'disabled' where id = ${disabled.id}`;
    await eventually(
      async () =>
        (await whoCanRead(deleted.token)).status === 401 && (await whoCanRead(disabled.token)).status === 401,
      1_000,
      20,
    );
    expect(Date.now() - changed).toBeLessThan(USER_CHECK_CACHE_MS);
    const relogin = await requestJson(tokenUrl(), {
      body: { grant_type: "password", username: disabled.email, password: disabled.password },
    });
    expect(relogin.status).toBe(401);
  });
});

describe("tokens from an external identity provider (HS256 secret, custom claim names)", () => {
  const secret = "external-idp-shared-secret-0123456789abcdef";
  let external: RunningService;
  beforeAll(async () => {
    external = await pipeline.start("api", {
      VIGIL_EXTERNAL_JWT_HS256_SECRET: secret,
      VIGIL_EXTERNAL_JWT_ISSUER: "https://idp.example",
      VIGIL_EXTERNAL_JWT_AUDIENCE: "vigil",
      VIGIL_EXTERNAL_TENANT_CLAIM: "org",
      VIGIL_EXTERNAL_ROLE_CLAIM: "vigil_role",
    });
  });
  const idpToken = (
    claims: Record<string, unknown>,
    options: { key?: string; iss?: string; aud?: string; alg?: string } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: options.alg ?? "HS256" })
      .setSubject("idp-user-1")
      .setIssuer(options.iss ?? "https://idp.example")
      .setAudience(options.aud ?? "vigil")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(options.key ?? secret));
  const read = (token: string, tenant = tenantId) =>
    requestJson(`${external.url}/api/v1/logs?limit=1&tenant_id=${tenant}`, { token });

  test("a token with the configured claims acts in its tenant and role", async () => {
    expect((await read(await idpToken({ org: tenantId, vigil_role: "auditor" }))).status).toBe(200);
    const other = "00000000-0000-4000-8000-0000000000aa";
    expect((await read(await idpToken({ org: tenantId, vigil_role: "auditor" }), other)).status).toBe(403);
    const auditorPost = await requestJson(`${external.url}/api/v1/logs`, {
      token: await idpToken({ org: tenantId, vigil_role: "auditor" }),
      body: { action_type: "VIEW", resource_type: "doc", resource_id: "1" },
    });
    expect(auditorPost.status).toBe(403);
    // Vigil's own tokens keep working next to the external ones.
    expect((await requestJson(`${external.url}/api/v1/tenants`, { token: admin })).status).toBe(200);
  });

  test("wrong secret, issuer, audience, unknown role, admin with a tenant, tenant role without one → 401", async () => {
    const cases: Record<string, Promise<string>> = {
      "wrong secret": idpToken(
        { org: tenantId, vigil_role: "auditor" },
        { key: "another-secret-of-sufficient-length-000" },
      ),
      "wrong issuer": idpToken({ org: tenantId, vigil_role: "auditor" }, { iss: "https://evil.example" }),
      "wrong audience": idpToken({ org: tenantId, vigil_role: "auditor" }, { aud: "other" }),
      "HS512 instead of the pinned HS256": idpToken(
        { org: tenantId, vigil_role: "auditor" },
        { alg: "HS512" },
      ),
      "unknown role": idpToken({ org: tenantId, vigil_role: "superuser" }),
      "claims under the default names": idpToken({ tenant_id: tenantId, role: "auditor" }),
      "admin with a tenant": idpToken({ org: tenantId, vigil_role: "admin" }),
      "tenant role without a tenant": idpToken({ vigil_role: "tenant_admin" }),
    };
    for (const [name, token] of Object.entries(cases)) {
      expect((await read(await token)).status, name).toBe(401);
    }
  });
});

describe("signing keys", () => {
  function cli(
    args: string[],
    env: Record<string, string>,
  ): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          path.join(REPO_ROOT, "node_modules/tsx/dist/esm/index.mjs"),
          path.join(REPO_ROOT, "packages/cli/src/main.ts"),
          ...args,
        ],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH ?? "",
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
            ...env,
          },
        },
      );
      let output = "";
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
      };
      child.stdout.on("data", collect);
      child.stderr.on("data", collect);
      child.on("exit", (code) => resolve({ code, output }));
    });
  }

  test("`pnpm vigil keys rotate` adds a key; tokens of the old key keep working and the new key verifies at once", async () => {
    const before = await currentSigningKey();
    const oldToken = await adminToken(api.url);
    expect(decodeProtectedHeader(oldToken).kid).toBe(before.kid);

    const rotated = await cli(["keys", "rotate"], pipeline.env());
    expect(rotated.code, rotated.output).toBe(0);
    const after = await currentSigningKey();
    expect(after.kid).not.toBe(before.kid);
    expect(rotated.output).toContain(after.kid);

    expect((await requestJson(`${api.url}/api/v1/tenants`, { token: oldToken })).status).toBe(200);
    const adminRow = await pipeline.database.admin<
      { id: string }[]
    >`select id from users where role = 'admin'`;
    const newKeyToken = await mint(after, { sub: adminRow[0]!.id, role: "admin" });
    expect((await requestJson(`${api.url}/api/v1/tenants`, { token: newKeyToken })).status).toBe(200);
    const kids = (await requestJson(`${api.url}/.well-known/jwks.json`)).body.keys.map((key: JWK) => key.kid);
    expect(kids).toEqual(expect.arrayContaining([before.kid, after.kid]));
  });

  test("`pnpm vigil admin bootstrap` with no password generates one, prints it once, and it logs in", async () => {
    await pipeline.database.admin`delete from users where role = 'admin'`;
    const env = pipeline.env({ VIGIL_ADMIN_EMAIL: "root@example.test" });
    delete (env as Record<string, string | undefined>).VIGIL_ADMIN_PASSWORD;
    const first = await cli(["admin", "bootstrap"], env);
    expect(first.code, first.output).toBe(0);
    const password = /generated password \(shown once, store it now\): (\S+)/.exec(first.output)?.[1];
    expect(password).toBeTruthy();
    const [row] = await pipeline.database.admin<
      { password_hash: string }[]
    >`select password_hash from users where email = 'root@example.test'`;
    expect(row!.password_hash).toMatch(/^scrypt\$/);
    expect(row!.password_hash).not.toContain(password!);
    expect((await login(api.url, "root@example.test", password!)).token_type).toBe("Bearer");

    // Idempotent: a second run (same shared verb the CLI calls) creates nothing and prints no password.
    const second = await bootstrapPlatform(pipeline.database.db.sql, { adminEmail: "root@example.test" });
    expect(second.lines).toEqual(["platform admin: already set up"]);
  });
});
