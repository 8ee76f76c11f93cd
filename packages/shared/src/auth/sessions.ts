// Login, refresh and revocation (spec §4). Refresh tokens are opaque (`vgr_` + 256 random bits),
// stored as SHA-256, single-use: each use spends the token and issues the next one in the same
// family. Presenting a spent token means it leaked, so the whole family is revoked — except within
// a short grace window after the rotation, where the same token yields the same successor again
// (two tabs or two api replicas refreshing at once must not sign the user out).
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import type { RequestOrigin } from "../audit/admin-audit.ts";
import { recordAdminAction } from "../audit/admin-audit.ts";
import type { AuditRecorder } from "../audit/record-audit-event.ts";
import type { VigilConfig } from "../config/config.ts";
import type { Database, Queryable } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { isStorable, UNSTORABLE_MESSAGE } from "../events/storable-text.ts";
import { decoyPasswordHash, verifyPassword } from "../users/passwords.ts";
import { findUserByEmail, findUserById, normalizeEmail, type UserRow } from "../users/user-records.ts";
import { issueAccessToken } from "./access-tokens.ts";
import { clearLoginFailures, loginRetryAfterSeconds, recordLoginFailure } from "./login-throttle.ts";
import type { SigningKeyRing } from "./signing-keys.ts";
import { throttledLoginSummary } from "./throttled-logins.ts";

const REFRESH_TOKEN_PREFIX = "vgr_";

// OAuth clients may send client_id and scope; they are accepted and ignored.
const oauthExtras = { client_id: z.string().max(256).optional(), scope: z.string().max(1024).optional() };
export const tokenRequestSchema = z.discriminatedUnion(
  "grant_type",
  [
    z.strictObject({
      grant_type: z.literal("password"),
      username: z
        .string()
        .max(320, "must be at most 320 characters")
        .refine((value) => value.trim().length > 0, "must not be empty")
        .refine(isStorable, UNSTORABLE_MESSAGE),
      password: z.string().min(1, "must not be empty").max(1024, "must be at most 1024 characters"),
      ...oauthExtras,
    }),
    z.strictObject({
      grant_type: z.literal("refresh_token"),
      refresh_token: z.string().min(1, "must not be empty").max(512, "must be at most 512 characters"),
      ...oauthExtras,
    }),
  ],
  { error: "must be password or refresh_token" },
);
export type TokenRequest = z.infer<typeof tokenRequestSchema>;

export const revokeRequestSchema = z.strictObject({
  token: z.string().min(1, "must not be empty").max(512, "must be at most 512 characters"),
  token_type_hint: z
    .enum(["refresh_token", "access_token"], "must be refresh_token or access_token")
    .optional(),
  client_id: z.string().max(256).optional(),
});
export type RevokeRequest = z.infer<typeof revokeRequestSchema>;

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: "Bearer";
  expires_in: number;
}

export interface SessionDependencies {
  db: Database;
  keys: SigningKeyRing;
  audit: AuditRecorder;
  config: Pick<
    VigilConfig,
    | "VIGIL_JWT_ISSUER"
    | "VIGIL_JWT_AUDIENCE"
    | "VIGIL_ACCESS_TOKEN_TTL_SECONDS"
    | "VIGIL_REFRESH_TOKEN_TTL_SECONDS"
    | "VIGIL_LOGIN_MAX_FAILURES_PER_ACCOUNT"
    | "VIGIL_LOGIN_MAX_FAILURES_PER_IP"
    | "VIGIL_LOGIN_FAILURE_WINDOW_SECONDS"
  >;
}

/**
 * How long after a rotation the spent token still yields the successor it was rotated to. Long
 * enough for concurrent requests of one browser to settle, short enough that a replay of a stolen
 * token later on is still detected (and revokes the family).
 */
export const REFRESH_ROTATION_GRACE_SECONDS = 10;

function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function newRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/**
 * The successor sealed with a key derived from the spent token (AES-256-GCM): only someone who
 * presents the spent token can open it; the database holds the spent token's hash, not the token.
 */
function sealingKey(spentToken: string): Buffer {
  return createHash("sha256").update(`vigil-refresh-successor\n${spentToken}`).digest();
}

function sealSuccessor(spentToken: string, successor: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(spentToken), iv);
  const sealed = Buffer.concat([cipher.update(successor, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]);
}

function openSuccessor(spentToken: string, sealed: Uint8Array): string | null {
  try {
    const bytes = Buffer.from(sealed);
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(spentToken), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}

const invalidGrant = () => new VigilError("INVALID_CREDENTIAL", "invalid username or password");
const invalidRefresh = () => new VigilError("INVALID_CREDENTIAL", "the refresh token is not valid");

async function issueTokens(
  deps: SessionDependencies,
  sql: Queryable,
  user: UserRow,
  familyId: string,
  refreshToken: string = newRefreshToken(),
): Promise<TokenResponse> {
  await sql`
    insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at)
    values (${randomUUID()}, ${familyId}, ${user.id}, ${hashRefreshToken(refreshToken)}, now() + make_interval(secs => ${deps.config.VIGIL_REFRESH_TOKEN_TTL_SECONDS}))`;
  return tokenResponse(deps, user, refreshToken);
}

/** A fresh access token beside the refresh token the client is to keep. */
async function tokenResponse(
  deps: SessionDependencies,
  user: UserRow,
  refreshToken: string,
): Promise<TokenResponse> {
  const access = await issueAccessToken(deps.keys, deps.config, user);
  return {
    access_token: access.token,
    refresh_token: refreshToken,
    token_type: "Bearer",
    expires_in: access.expiresIn,
  };
}

export async function exchangeToken(
  deps: SessionDependencies,
  origin: RequestOrigin,
  request: TokenRequest,
): Promise<TokenResponse> {
  return request.grant_type === "password"
    ? loginWithPassword(deps, origin, request.username, request.password)
    : refreshSession(deps, origin, request.refresh_token);
}

/**
 * Password grant: throttled per account and per IP; every success and failure is audited, and the
 * attempts refused while throttled are summed into one event per window (throttled-logins.ts).
 */
export async function loginWithPassword(
  deps: SessionDependencies,
  origin: RequestOrigin,
  username: string,
  password: string,
): Promise<TokenResponse> {
  const email = normalizeEmail(username);
  const accountKey = `account:${email}`;
  const ipKey = origin.ip ? `ip:${origin.ip}` : null;
  const window = deps.config.VIGIL_LOGIN_FAILURE_WINDOW_SECONDS;
  const rules = [{ key: accountKey, limit: deps.config.VIGIL_LOGIN_MAX_FAILURES_PER_ACCOUNT }];
  if (ipKey) rules.push({ key: ipKey, limit: deps.config.VIGIL_LOGIN_MAX_FAILURES_PER_IP });
  const audit = (outcome: "success" | "failure", user: UserRow | null, reason?: string) =>
    recordAdminAction(deps.audit, origin, user ? `user:${user.id}` : `login:${email}`, {
      actionType: "VIEW",
      action: outcome === "success" ? "auth.login" : "auth.login_failed",
      resourceType: "session",
      // An event's resource_id holds 256 characters; a username may have 320.
      resourceId: user?.id ?? email.slice(0, 256),
      outcome,
      tenantId: user?.tenant_id,
      detail: { email, ...(reason ? { reason } : {}) },
    });

  const { retryAfterSeconds, throttledKeys } = await loginRetryAfterSeconds(deps.db.sql, rules, window);
  if (retryAfterSeconds > 0) {
    // Counted into one summary event per key and window, not audited one by one (throttled-logins.ts).
    const summary = throttledLoginSummary(deps.audit, window);
    const key = throttledKeys.find((candidate) => candidate.startsWith("ip:")) ?? throttledKeys[0]!;
    summary.record(key, origin, email);
    throw new VigilError("RATE_LIMITED", "too many failed logins; try again later", undefined, {
      "Retry-After": String(retryAfterSeconds),
    });
  }
  const user = await findUserByEmail(deps.db.sql, email);
  // The hash is checked even for unknown accounts, so timing does not reveal which emails exist.
  const passwordOk = await verifyPassword(password, user?.password_hash ?? (await decoyPasswordHash()));
  if (!user || !passwordOk || user.status !== "active") {
    await recordLoginFailure(
      deps.db.sql,
      rules.map((rule) => rule.key),
      window,
    );
    await audit(
      "failure",
      null,
      !user ? "unknown_account" : !passwordOk ? "wrong_password" : "account_disabled",
    );
    throw invalidGrant();
  }
  await clearLoginFailures(deps.db.sql, accountKey);
  return deps.db.sql.begin(async (tx) => {
    const tokens = await issueTokens(deps, tx, user, randomUUID());
    await audit("success", user);
    return tokens;
  }) as Promise<TokenResponse>;
}

/**
 * Refresh grant: spends the token atomically, so of concurrent uses exactly one rotates it; the
 * others, within the grace window, get the same successor (and a fresh access token).
 */
export async function refreshSession(
  deps: SessionDependencies,
  origin: RequestOrigin,
  refreshToken: string,
): Promise<TokenResponse> {
  const tokenHash = hashRefreshToken(refreshToken);
  const successor = newRefreshToken();
  const outcome = await deps.db.sql.begin(async (tx) => {
    const spent = await tx<{ family_id: string; user_id: string }[]>`
      update refresh_tokens set used_at = now(), successor_sealed = ${sealSuccessor(refreshToken, successor)}
      where token_hash = ${tokenHash} and used_at is null and revoked_at is null and expires_at > now()
      returning family_id, user_id`;
    const row = spent[0];
    if (!row) return null;
    const user = await findUserById(tx, row.user_id);
    // Rolling back leaves the token unspent, so a disabled account does not look like token reuse.
    if (!user || user.status !== "active") throw invalidRefresh();
    return issueTokens(deps, tx, user, row.family_id, successor);
  });
  if (outcome) return outcome as TokenResponse;

  const shared = await rotatedMomentsAgo(deps, refreshToken, tokenHash);
  if (shared) return shared;

  // Not spendable: if it is a spent (or concurrently spent) token of a live family, that is reuse.
  const reused = await deps.db.sql<{ family_id: string; user_id: string }[]>`
    update refresh_tokens set revoked_at = now()
    where family_id = (select family_id from refresh_tokens where token_hash = ${tokenHash} and used_at is not null)
      and revoked_at is null
    returning family_id, user_id`;
  if (reused.length > 0) {
    await recordAdminAction(deps.audit, origin, `user:${reused[0]!.user_id}`, {
      actionType: "UPDATE",
      action: "auth.refresh_reuse",
      resourceType: "session",
      resourceId: reused[0]!.family_id,
      outcome: "failure",
      detail: { revoked_tokens: reused.length },
    });
  }
  throw invalidRefresh();
}

/**
 * The loser of a concurrent refresh: the token was rotated within the grace window and its
 * successor is still unspent and unrevoked, so it gets that successor. Anything else (outside the
 * window, successor already used, family revoked) falls through to reuse detection.
 */
async function rotatedMomentsAgo(
  deps: SessionDependencies,
  refreshToken: string,
  tokenHash: string,
): Promise<TokenResponse | null> {
  const [rotated] = await deps.db.sql<{ user_id: string; successor_sealed: Uint8Array | null }[]>`
    select user_id, successor_sealed from refresh_tokens
    where token_hash = ${tokenHash} and revoked_at is null and successor_sealed is not null
      and used_at > now() - make_interval(secs => ${REFRESH_ROTATION_GRACE_SECONDS})`;
  if (!rotated?.successor_sealed) return null;
  const successor = openSuccessor(refreshToken, rotated.successor_sealed);
  if (!successor) return null;
  const [live] = await deps.db.sql<{ user_id: string }[]>`
    select user_id from refresh_tokens
    where token_hash = ${hashRefreshToken(successor)} and used_at is null and revoked_at is null
      and expires_at > now()`;
  if (!live || live.user_id !== rotated.user_id) return null;
  const user = await findUserById(deps.db.sql, rotated.user_id);
  if (!user || user.status !== "active") throw invalidRefresh();
  return tokenResponse(deps, user, successor);
}

/** RFC 7009: revokes the refresh token's whole family; unknown tokens are not an error. */
export async function revokeRefreshToken(
  deps: SessionDependencies,
  origin: RequestOrigin,
  token: string,
): Promise<void> {
  const revoked = await deps.db.sql<{ family_id: string; user_id: string }[]>`
    update refresh_tokens set revoked_at = now()
    where family_id = (select family_id from refresh_tokens where token_hash = ${hashRefreshToken(token)})
      and revoked_at is null
    returning family_id, user_id`;
  if (revoked.length > 0) {
    await recordAdminAction(deps.audit, origin, `user:${revoked[0]!.user_id}`, {
      actionType: "DELETE",
      action: "auth.revoke",
      resourceType: "session",
      resourceId: revoked[0]!.family_id,
    });
  }
}
