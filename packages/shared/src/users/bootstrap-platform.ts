// First start of a Vigil installation, shared by the embedded launcher (`pnpm start`) and
// production (`pnpm vigil admin bootstrap`): the system tenant, a token signing key, and the
// platform admin from VIGIL_ADMIN_EMAIL / VIGIL_ADMIN_PASSWORD. Idempotent; a generated password is
// in the returned lines exactly once (when the admin is created) and nowhere else.
import { ensureSigningKey } from "../auth/signing-keys.ts";
import type { Sql } from "../db/database.ts";
import { ensureSystemTenant } from "../tenants/tenants.ts";
import { ensurePlatformAdmin } from "./manage-users.ts";

export interface BootstrapInput {
  adminEmail: string;
  adminPassword?: string;
  signingKeySecret?: string;
}

export async function bootstrapPlatform(sql: Sql, input: BootstrapInput): Promise<{ lines: string[] }> {
  await ensureSystemTenant(sql);
  await ensureSigningKey(sql, input.signingKeySecret);
  const admin = await ensurePlatformAdmin(sql, { email: input.adminEmail, password: input.adminPassword });
  if (!admin.created) return { lines: ["platform admin: already set up"] };
  if (!admin.generatedPassword)
    return { lines: [`platform admin created: ${admin.email} (password from VIGIL_ADMIN_PASSWORD)`] };
  return {
    lines: [
      `platform admin created: ${admin.email}`,
      `  generated password (shown once, store it now): ${admin.generatedPassword}`,
      '  log in: POST /api/v1/auth/token {"grant_type":"password","username":…,"password":…}',
    ],
  };
}
