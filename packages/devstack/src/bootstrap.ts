// First-start bootstrap of the embedded stack: the same shared bootstrap production runs with
// `pnpm vigil admin bootstrap` (system tenant, signing key, platform admin from VIGIL_ADMIN_EMAIL
// and VIGIL_ADMIN_PASSWORD; a generated password is printed once). Returns the lines to print.

import type { DevStackConfig } from "@vigil/shared/config/config";
import { bootstrapPlatform as bootstrapShared } from "@vigil/shared/users/bootstrap-platform";
import postgres from "postgres";

export async function bootstrapPlatform(
  appUrl: string,
  config: Pick<DevStackConfig, "VIGIL_ADMIN_EMAIL" | "VIGIL_ADMIN_PASSWORD">,
): Promise<{ lines: string[] }> {
  const sql = postgres(appUrl, { max: 1, onnotice: () => {} });
  try {
    return await bootstrapShared(sql, {
      adminEmail: config.VIGIL_ADMIN_EMAIL,
      adminPassword: config.VIGIL_ADMIN_PASSWORD,
    });
  } finally {
    await sql.end();
  }
}
