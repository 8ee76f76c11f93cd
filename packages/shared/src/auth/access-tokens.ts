// Issues Vigil's own access tokens: EdDSA-signed JWTs carrying sub, role and (for tenant users)
// tenant_id, with the key id in the header so any replica can verify them.
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { VigilConfig } from "../config/config.ts";
import type { Role } from "./principal.ts";
import { SIGNING_ALGORITHM, type SigningKeyRing } from "./signing-keys.ts";

export async function issueAccessToken(
  keys: SigningKeyRing,
  config: Pick<VigilConfig, "VIGIL_JWT_ISSUER" | "VIGIL_JWT_AUDIENCE" | "VIGIL_ACCESS_TOKEN_TTL_SECONDS">,
  user: { id: string; tenant_id: string | null; role: Role },
): Promise<{ token: string; expiresIn: number }> {
  const signer = await keys.signer();
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    role: user.role,
    ...(user.tenant_id ? { tenant_id: user.tenant_id } : {}),
  })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: signer.kid, typ: "JWT" })
    .setSubject(user.id)
    .setIssuer(config.VIGIL_JWT_ISSUER)
    .setAudience(config.VIGIL_JWT_AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + config.VIGIL_ACCESS_TOKEN_TTL_SECONDS)
    .setJti(randomUUID())
    .sign(signer.privateKey);
  return { token, expiresIn: config.VIGIL_ACCESS_TOKEN_TTL_SECONDS };
}
