// GET /api/v1/checkpoints/keys: every checkpoint verifier key, configured now or seen signing
// before, with its validity window (first and last checkpoint it signed; open while configured).
// Old keys stay listed so old checkpoints keep verifying after a rotation.
import type { Database } from "../db/database.ts";
import type { CheckpointKeyInfo } from "./checkpoint-signer.ts";

export interface ListedCheckpointKey {
  verifier_key: string;
  key_name: string;
  key_id: string;
  /** The key `/checkpoints/key` serves (the first configured). */
  current: boolean;
  /** Still signing new checkpoints. */
  configured: boolean;
  valid_from: string | null;
  valid_until: string | null;
}

export async function listCheckpointKeys(
  db: Database,
  configured: readonly CheckpointKeyInfo[],
): Promise<ListedCheckpointKey[]> {
  const seen = await db.sql<
    { verifier_key: string; key_name: string; key_id: string; first_signed_at: Date; last_signed_at: Date }[]
  >`select verifier_key, key_name, key_id, first_signed_at, last_signed_at from tlog_signing_keys order by first_signed_at`;
  const seenByKey = new Map(seen.map((row) => [row.verifier_key, row]));
  const listed: ListedCheckpointKey[] = configured.map((key, index) => ({
    verifier_key: key.verifier_key,
    key_name: key.name,
    key_id: key.key_id,
    current: index === 0,
    configured: true,
    valid_from: seenByKey.get(key.verifier_key)?.first_signed_at.toISOString() ?? null,
    valid_until: null,
  }));
  const configuredKeys = new Set(configured.map((key) => key.verifier_key));
  for (const row of seen) {
    if (configuredKeys.has(row.verifier_key)) continue;
    listed.push({
      verifier_key: row.verifier_key,
      key_name: row.key_name,
      key_id: row.key_id,
      current: false,
      configured: false,
      valid_from: row.first_signed_at.toISOString(),
      valid_until: row.last_signed_at.toISOString(),
    });
  }
  return listed;
}
