// Turns request credentials into a Principal: `X-API-Key: vgl_…` or `Authorization: Bearer <key|jwt>`.
// JWT verification is delegated to a TokenVerifier so the transports never parse tokens themselves.
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import type { ApiKeyLookup } from "./api-key-cache.ts";
import { API_KEY_PREFIX, authenticateApiKey } from "./api-keys.ts";
import type { Principal } from "./principal.ts";

export interface TokenVerifier {
  /** Resolves a bearer token to a principal, or null when it is not valid. Never throws for bad tokens. */
  verify(token: string): Promise<Principal | null>;
}

export const NO_TOKENS: TokenVerifier = { verify: async () => null };

export interface PresentedCredential {
  apiKey?: string | null;
  authorization?: string | null;
}

/** Extracts the single credential of a request; two different ones at once are refused. */
export function presentedSecret(credential: PresentedCredential): string | null {
  const header = credential.authorization?.trim();
  let bearer: string | null = null;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new VigilError("INVALID_CREDENTIAL", "Authorization must be `Bearer <token>`");
    bearer = match[1]!;
  }
  const apiKey = credential.apiKey?.trim() || null;
  if (apiKey && bearer && apiKey !== bearer)
    throw new VigilError("INVALID_CREDENTIAL", "send one credential, not two");
  return apiKey ?? bearer;
}

/** `apiKeys`: a cached lookup (the api's ApiKeyCache); without one every key is looked up in `db`. */
export async function authenticate(
  db: Database,
  tokens: TokenVerifier,
  secret: string | null,
  apiKeys?: ApiKeyLookup,
): Promise<Principal> {
  if (!secret)
    throw new VigilError("UNAUTHENTICATED", "send an API key (X-API-Key) or a bearer token", undefined, {
      "WWW-Authenticate": "Bearer",
    });
  const principal: Principal | null = secret.startsWith(API_KEY_PREFIX)
    ? await (apiKeys ? apiKeys.authenticate(secret) : authenticateApiKey(db.sql, secret)).then((key) =>
        key ? { kind: "api_key" as const, ...key } : null,
      )
    : await tokens.verify(secret);
  if (!principal)
    throw new VigilError("INVALID_CREDENTIAL", "the credential is not valid", undefined, {
      "WWW-Authenticate": 'Bearer error="invalid_token"',
    });
  return principal;
}
