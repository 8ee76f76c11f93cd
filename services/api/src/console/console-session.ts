// Console sessions (spec §11): the refresh token lives in an HttpOnly SameSite=Strict cookie no
// script can read; the short-lived access token rides in a second such cookie and is renewed from
// the refresh token when it lapses (silent refresh). Requests resolve to the same Principal the API
// uses, through the same token verifier, so there is no second authorization path.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Principal } from "@vigil/shared/auth/principal";
import {
  loginWithPassword,
  refreshSession,
  revokeRefreshToken,
  type TokenResponse,
} from "@vigil/shared/auth/sessions";
import { VigilError } from "@vigil/shared/errors/vigil-error";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import type { ApiDependencies, AppEnv } from "../http/app-env.ts";
import { requestOrigin } from "../http/request-origin.ts";

export const CONSOLE_PATH = "/console";
const REFRESH_COOKIE = "vigil_refresh";
const ACCESS_COOKIE = "vigil_access";
const CSRF_COOKIE = "vigil_csrf";
const TENANT_COOKIE = "vigil_tenant";
/** Renew the access token this long before it expires, so a page never presents a lapsing one. */
const ACCESS_RENEW_MARGIN_SECONDS = 30;

function cookieOptions(c: Context, maxAgeSeconds?: number): CookieOptions {
  return {
    path: CONSOLE_PATH,
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
    ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds } : {}),
  };
}

export interface ConsoleSession {
  principal: Principal;
  /** The access token, for forwarding a request through the API itself (exports). */
  accessToken: string;
}

export class ConsoleSessions {
  constructor(private readonly deps: ApiDependencies) {}

  private sessionDeps() {
    return { db: this.deps.db, keys: this.deps.keys, audit: this.deps, config: this.deps.config };
  }

  private storeTokens(c: Context<AppEnv>, tokens: TokenResponse): void {
    const accessAge = Math.max(tokens.expires_in - ACCESS_RENEW_MARGIN_SECONDS, 1);
    setCookie(c, ACCESS_COOKIE, tokens.access_token, cookieOptions(c, accessAge));
    setCookie(
      c,
      REFRESH_COOKIE,
      tokens.refresh_token,
      cookieOptions(c, this.deps.config.VIGIL_REFRESH_TOKEN_TTL_SECONDS),
    );
  }

  async signIn(c: Context<AppEnv>, username: string, password: string): Promise<void> {
    const tokens = await loginWithPassword(
      this.sessionDeps(),
      requestOrigin(c, this.deps.config),
      username,
      password,
    );
    this.storeTokens(c, tokens);
    deleteCookie(c, TENANT_COOKIE, cookieOptions(c));
  }

  async signOut(c: Context<AppEnv>): Promise<void> {
    const refresh = getCookie(c, REFRESH_COOKIE);
    if (refresh) await revokeRefreshToken(this.sessionDeps(), requestOrigin(c, this.deps.config), refresh);
    for (const name of [REFRESH_COOKIE, ACCESS_COOKIE, TENANT_COOKIE])
      deleteCookie(c, name, cookieOptions(c));
  }

  /** The signed-in principal, renewing the access token from the refresh cookie when needed. */
  async resolve(c: Context<AppEnv>): Promise<ConsoleSession | null> {
    const access = getCookie(c, ACCESS_COOKIE);
    if (access) {
      const principal = await this.deps.tokens.verify(access);
      if (principal) return { principal, accessToken: access };
    }
    const refresh = getCookie(c, REFRESH_COOKIE);
    if (!refresh) return null;
    let tokens: TokenResponse;
    try {
      // Concurrent refreshes (two tabs, two replicas) get one successor: see refreshSession's grace.
      tokens = await refreshSession(this.sessionDeps(), requestOrigin(c, this.deps.config), refresh);
    } catch (error) {
      if (error instanceof VigilError && error.code === "INVALID_CREDENTIAL") {
        deleteCookie(c, REFRESH_COOKIE, cookieOptions(c));
        deleteCookie(c, ACCESS_COOKIE, cookieOptions(c));
        return null;
      }
      throw error;
    }
    this.storeTokens(c, tokens);
    const principal = await this.deps.tokens.verify(tokens.access_token);
    return principal ? { principal, accessToken: tokens.access_token } : null;
  }

  /** The tenant a platform admin picked (tenant users always act on their own). */
  selectedTenant(c: Context<AppEnv>): string | null {
    return getCookie(c, TENANT_COOKIE) ?? null;
  }

  selectTenant(c: Context<AppEnv>, tenantId: string): void {
    setCookie(c, TENANT_COOKIE, tenantId, cookieOptions(c, this.deps.config.VIGIL_REFRESH_TOKEN_TTL_SECONDS));
  }
}

/** The per-browser CSRF secret (double submit: an HttpOnly cookie and a hidden field on every form). */
export function csrfToken(c: Context<AppEnv>): string {
  const existing = getCookie(c, CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString("base64url");
  setCookie(c, CSRF_COOKIE, token, cookieOptions(c));
  return token;
}

/**
 * Every state-changing console request: the submitted token must equal the cookie's, and a browser
 * that says where the request came from must say this origin.
 */
export function assertCsrf(c: Context<AppEnv>, submitted: string | undefined, expectedOrigin: string): void {
  const cookie = getCookie(c, CSRF_COOKIE);
  const fetchSite = c.req.header("sec-fetch-site");
  const origin = c.req.header("origin");
  const ok =
    !!cookie &&
    !!submitted &&
    cookie.length === submitted.length &&
    timingSafeEqual(Buffer.from(cookie), Buffer.from(submitted)) &&
    (!fetchSite || fetchSite === "same-origin") &&
    (!origin || origin === expectedOrigin);
  if (!ok) throw new VigilError("FORBIDDEN", "the form expired or came from another site; reload and retry");
}
