// Short-lived, read-only tokens Vigil signs for one tenant (spec §11), in two kinds that no other
// endpoint accepts: `viewer` opens the console's embeddable viewer page (optionally pinned to
// filters), `stream` opens one live stream (the console's live tail). Both are EdDSA JWTs from the
// same key ring as access tokens, but with their own `typ` and audience, so an access-token check
// never accepts them and neither kind is accepted where the other is expected.
import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { type ActionContext, recordAdminAction } from "../audit/admin-audit.ts";
import type { TokenVerifier } from "../auth/authenticate.ts";
import { authorize, type Principal, principalId } from "../auth/principal.ts";
import { SIGNING_ALGORITHM, type SigningKeyRing } from "../auth/signing-keys.ts";
import type { VigilConfig } from "../config/config.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { requireTenant } from "../tenants/manage-tenants.ts";
import { VIEWER_PIN_FIELDS, type ViewerPins, viewerPins } from "./viewer-pins.ts";

export const SCOPED_TOKEN_KINDS = ["viewer", "stream"] as const;
export type ScopedTokenKind = (typeof SCOPED_TOKEN_KINDS)[number];

export const VIEWER_TOKEN_DEFAULT_TTL_SECONDS = 900;
export const VIEWER_TOKEN_MAX_TTL_SECONDS = 86_400;

type TokenConfig = Pick<VigilConfig, "VIGIL_JWT_ISSUER" | "VIGIL_JWT_AUDIENCE">;

const tokenType = (kind: ScopedTokenKind) => `vigil-${kind}+jwt`;
const audience = (config: TokenConfig, kind: ScopedTokenKind) => `${config.VIGIL_JWT_AUDIENCE}#${kind}`;

const pinValue = (max: number) =>
  z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);

export const viewerTokenRequestSchema = z.strictObject({
  /** Platform admins name the tenant; everyone else gets their own. */
  tenant_id: z.uuid("must be a UUID").optional(),
  expires_in: z
    .number("must be a number of seconds")
    .int("must be a whole number of seconds")
    .min(60, "must be at least 60")
    .max(VIEWER_TOKEN_MAX_TTL_SECONDS, `must be at most ${VIEWER_TOKEN_MAX_TTL_SECONDS}`)
    .default(VIEWER_TOKEN_DEFAULT_TTL_SECONDS),
  filters: z
    .strictObject({
      user_id: pinValue(256).optional(),
      resource_type: pinValue(128).optional(),
      resource_id: pinValue(256).optional(),
      action: pinValue(128).optional(),
    })
    .default({}),
});
export type ViewerTokenRequest = z.infer<typeof viewerTokenRequestSchema>;

export interface ScopedTokenGrant {
  kind: ScopedTokenKind;
  tenantId: string;
  /** Who asked for it (`user:…`, `key:…`), recorded as the reader in audit events. */
  subject: string;
  pins: ViewerPins;
  /** Epoch ms of the token's `exp`. */
  expiresAt?: number;
}

export async function signScopedToken(
  keys: SigningKeyRing,
  config: TokenConfig,
  grant: ScopedTokenGrant,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: Date }> {
  const signer = await keys.signer();
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ tenant_id: grant.tenantId, pins: grant.pins })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: signer.kid, typ: tokenType(grant.kind) })
    .setSubject(grant.subject)
    .setIssuer(config.VIGIL_JWT_ISSUER)
    .setAudience(audience(config, grant.kind))
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + ttlSeconds)
    .setJti(randomUUID())
    .sign(signer.privateKey);
  return { token, expiresAt: new Date((now + ttlSeconds) * 1000) };
}

const grantClaimsSchema = z.object({
  sub: z.string().min(1).max(300),
  tenant_id: z.uuid(),
  pins: z.strictObject(Object.fromEntries(VIEWER_PIN_FIELDS.map((field) => [field, z.string().optional()]))),
});

/** The grant a token of `kind` carries, or null when it is not a valid, unexpired token of that kind. */
export async function verifyScopedToken(
  keys: SigningKeyRing,
  config: TokenConfig,
  kind: ScopedTokenKind,
  token: string,
): Promise<ScopedTokenGrant | null> {
  try {
    const header = decodeProtectedHeader(token);
    if (header.typ !== tokenType(kind) || header.alg !== SIGNING_ALGORITHM || typeof header.kid !== "string")
      return null;
    const key = await keys.verificationKey(header.kid);
    if (!key) return null;
    const { payload } = await jwtVerify(token, key, {
      algorithms: [SIGNING_ALGORITHM],
      typ: tokenType(kind),
      issuer: config.VIGIL_JWT_ISSUER,
      audience: audience(config, kind),
      requiredClaims: ["sub", "exp", "iat"],
    });
    const claims = grantClaimsSchema.safeParse(payload);
    if (!claims.success) return null;
    return {
      kind,
      tenantId: claims.data.tenant_id.toLowerCase(),
      subject: claims.data.sub,
      pins: claims.data.pins as ViewerPins,
      expiresAt: (payload.exp as number) * 1000,
    };
  } catch (error) {
    if (error instanceof errors.JOSEError || error instanceof TypeError) return null;
    throw error;
  }
}

/** The read-only principal a scoped token stands for. */
export function scopedTokenPrincipal(grant: ScopedTokenGrant): Principal {
  return {
    kind: "viewer",
    tenantId: grant.tenantId,
    subject: grant.subject,
    pins: grant.pins,
    expiresAt: grant.expiresAt,
  };
}

/**
 * A TokenVerifier that also accepts stream tokens (for the streamer only): a token typed as a
 * stream token is checked as one and never falls through to the access-token check.
 */
export function acceptingStreamTokens(
  base: TokenVerifier,
  keys: SigningKeyRing,
  config: TokenConfig,
): TokenVerifier {
  return {
    async verify(token) {
      let typ: unknown;
      try {
        typ = decodeProtectedHeader(token).typ;
      } catch {
        return null;
      }
      if (typ !== tokenType("stream")) return base.verify(token);
      const grant = await verifyScopedToken(keys, config, "stream", token);
      return grant ? scopedTokenPrincipal(grant) : null;
    },
  };
}

export interface ViewerTokenContext extends ActionContext {
  keys: SigningKeyRing;
  config: TokenConfig;
}

export interface IssuedViewerToken {
  token: string;
  expires_at: string;
  tenant_id: string;
  filters: ViewerPins;
}

/**
 * POST /api/v1/viewer-tokens: tenant admins (and platform admins naming a tenant) or a key with the
 * `viewer` scope get a token for their tenant, optionally pinned; the issue is audited.
 */
export async function issueViewerToken(
  ctx: ViewerTokenContext,
  input: ViewerTokenRequest,
): Promise<IssuedViewerToken> {
  const tenantId = authorize(ctx.principal, "viewer:issue", input.tenant_id);
  if (!tenantId)
    throw new VigilError("INVALID_PARAMETER", "name the tenant with `tenant_id`", [
      { path: "tenant_id", message: "is required" },
    ]);
  await requireTenant(ctx, tenantId);
  const pins: ViewerPins = { ...input.filters };
  const { token, expiresAt } = await signScopedToken(
    ctx.keys,
    ctx.config,
    { kind: "viewer", tenantId, subject: principalId(ctx.principal), pins },
    input.expires_in,
  );
  await recordAdminAction(ctx.audit, ctx.origin, ctx.principal, {
    actionType: "CREATE",
    action: "viewer_token.create",
    resourceType: "viewer_token",
    resourceId: tenantId,
    tenantId,
    detail: { filters: pins, expires_at: expiresAt.toISOString() },
  });
  return { token, expires_at: expiresAt.toISOString(), tenant_id: tenantId, filters: pins };
}

/**
 * A stream token for the console's live tail: the caller must be allowed to read `tenantId` (the
 * same authorize() the API uses); a viewer's token carries its pins.
 */
export async function issueStreamToken(
  keys: SigningKeyRing,
  config: TokenConfig & Pick<VigilConfig, "CONSOLE_STREAM_TOKEN_TTL_SECONDS">,
  principal: Principal,
  tenantId: string | null,
): Promise<{ token: string; expiresAt: Date; tenantId: string; expiresInSeconds: number }> {
  const scope = authorize(principal, "events:read", tenantId);
  if (!scope)
    throw new VigilError("INVALID_PARAMETER", "name the tenant with `tenant_id`", [
      { path: "tenant_id", message: "is required" },
    ]);
  // A viewer's pins ride in its stream token (the streamer applies them like every other read),
  // and the stream token never outlives the viewer token it came from.
  const viewer = principal.kind === "viewer" ? principal : null;
  const viewerLeftSeconds = viewer?.expiresAt ? Math.floor((viewer.expiresAt - Date.now()) / 1000) : Infinity;
  // Short: an open stream is closed at the token's expiry, so the page renews it before then.
  const expiresInSeconds = Math.max(1, Math.min(config.CONSOLE_STREAM_TOKEN_TTL_SECONDS, viewerLeftSeconds));
  const signed = await signScopedToken(
    keys,
    config,
    {
      kind: "stream",
      tenantId: scope,
      subject: viewer ? viewer.subject : principalId(principal),
      pins: viewerPins(principal),
    },
    expiresInSeconds,
  );
  return { ...signed, tenantId: scope, expiresInSeconds };
}
