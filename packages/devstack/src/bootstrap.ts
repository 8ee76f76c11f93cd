// First-start bootstrap of the platform: the platform admin from VIGIL_ADMIN_EMAIL and
// VIGIL_ADMIN_PASSWORD (when unset, a password is generated and printed once). Returns the lines
// the launcher prints. Until user accounts exist this only reports how to create tenants.
import type { DevStackConfig } from "@vigil/shared/config/config";

export async function bootstrapPlatform(_appUrl: string, _config: DevStackConfig): Promise<{ lines: string[] }> {
  return { lines: [] };
}
