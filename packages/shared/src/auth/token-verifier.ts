// Bearer JWTs → Principal. Vigil's own tokens: EdDSA only, `kid` from the key table, iss/aud/exp/nbf
// checked, and the user must still exist and be active. Tokens of an external identity provider
// (JWKS URL with pinned algorithms, or an HS256 secret) are accepted when configured, with the
// tenant and role read from configurable claims. Anything else is null (→ 401), never an exception,
// except a database outage, which must surface as 503 rather than as a bad token.
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import type { VigilConfig } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import { findUserById, type UserRow } from "../users/user-records.ts";
import type { TokenVerifier } from "./authenticate.ts";
import { type Principal, ROLES, type Role } from "./principal.ts";
import { SIGNING_ALGORITHM, SigningKeyRing } from "./signing-keys.ts";

/**
 * How long a user lookup is reused. With `userChanges` (the api) the cache is emptied as soon as a
 * user change is announced, so this only bounds a lost notification; without it (the streamer,
 * whose open streams are re-checked by stream/credential-watch.ts) a user deleted or disabled within
 * this window can still pass one more check on a replica that looked them up just before.
 */
export const USER_CHECK_CACHE_MS = 5_000;
const USER_CACHE_MAX_ENTRIES = 10_000;
const CLOCK_TOLERANCE_SECONDS = 5;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TokenVerifierDependencies {
  config: VigilConfig;
  db: Database;
  /** Shares the api's key ring with the token issuer; created here when absent (e.g. in the streamer). */
  keys?: SigningKeyRing;
  /** Announces user changes (the api's ApiKeyCache, which LISTENs for them): the user cache is emptied. */
  userChanges?: { onUsersChanged(listener: () => void): void };
}

export function createTokenVerifier(deps: TokenVerifierDependencies): TokenVerifier {
  const { config, db } = deps;
  const keys =
    deps.keys ??
    new SigningKeyRing(db.sql, {
      accessTokenTtlSeconds: config.VIGIL_ACCESS_TOKEN_TTL_SECONDS,
      secret: config.VIGIL_SIGNING_KEY_SECRET,
    });
  const users = new Map<string, { row: UserRow | null; at: number }>();
  const external = externalVerifier(config);
  /** Bumped by every announced change; a lookup that overlapped one is not cached. */
  let generation = 0;
  deps.userChanges?.onUsersChanged(() => {
    generation++;
    users.clear();
  });

  async function currentUser(id: string): Promise<UserRow | null> {
    const cached = users.get(id);
    if (cached && Date.now() - cached.at < USER_CHECK_CACHE_MS) return cached.row;
    const started = generation;
    const row = await findUserById(db.sql, id);
    if (users.size >= USER_CACHE_MAX_ENTRIES) users.clear();
    if (started === generation) users.set(id, { row, at: Date.now() });
    return row;
  }

  async function verifyOwn(token: string, key: CryptoKey): Promise<Principal | null> {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [SIGNING_ALGORITHM],
      issuer: config.VIGIL_JWT_ISSUER,
      audience: config.VIGIL_JWT_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["sub", "exp", "iat"],
    });
    if (typeof payload.sub !== "string" || !UUID.test(payload.sub)) return null;
    const user = await currentUser(payload.sub);
    if (!user || user.status !== "active") return null;
    // The role and tenant in force are the account's current ones; a token for a different tenant is forged.
    if ((payload.tenant_id ?? null) !== user.tenant_id) return null;
    return {
      kind: "user",
      userId: user.id,
      tenantId: user.tenant_id,
      role: user.role,
      email: user.email,
      expiresAt: payload.exp! * 1000,
    };
  }

  return {
    async verify(token) {
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        return null;
      }
      try {
        if (header.alg === SIGNING_ALGORITHM && typeof header.kid === "string") {
          const key = await keys.verificationKey(header.kid);
          if (key) return await verifyOwn(token, key);
        }
        return external ? await external(token) : null;
      } catch (error) {
        if (error instanceof errors.JOSEError || error instanceof TypeError) return null;
        throw error;
      }
    },
  };
}

function externalVerifier(config: VigilConfig): ((token: string) => Promise<Principal | null>) | null {
  const options = {
    issuer: config.VIGIL_EXTERNAL_JWT_ISSUER,
    audience: config.VIGIL_EXTERNAL_JWT_AUDIENCE,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ["sub", "exp"],
  };
  let verify: (token: string) => Promise<JWTPayload>;
  if (config.VIGIL_EXTERNAL_JWKS_URL) {
    const jwks = createRemoteJWKSet(new URL(config.VIGIL_EXTERNAL_JWKS_URL));
    verify = async (token) =>
      (await jwtVerify(token, jwks, { ...options, algorithms: config.VIGIL_EXTERNAL_JWT_ALGORITHMS }))
        .payload;
  } else if (config.VIGIL_EXTERNAL_JWT_HS256_SECRET) {
    const secret = new TextEncoder().encode(config.VIGIL_EXTERNAL_JWT_HS256_SECRET);
    verify = async (token) => (await jwtVerify(token, secret, { ...options, algorithms: ["HS256"] })).payload;
  } else {
    return null;
  }
  return async (token) => {
    const payload = await verify(token);
    const role = payload[config.VIGIL_EXTERNAL_ROLE_CLAIM];
    const tenant = payload[config.VIGIL_EXTERNAL_TENANT_CLAIM];
    if (
      typeof payload.sub !== "string" ||
      typeof role !== "string" ||
      !(ROLES as readonly string[]).includes(role)
    )
      return null;
    // Same pairing as local users: platform admins have no tenant, tenant roles exactly one.
    if (role === "admin" ? tenant != null : typeof tenant !== "string" || !UUID.test(tenant)) return null;
    return {
      kind: "user",
      userId: `external:${payload.sub}`,
      tenantId: typeof tenant === "string" ? tenant.toLowerCase() : null,
      role: role as Role,
      expiresAt: payload.exp! * 1000,
    };
  };
}
