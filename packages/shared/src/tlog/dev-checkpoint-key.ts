// The embedded run mode's checkpoint signing: a key generated on first start into the state folder
// (mode 600, like the stack's other secrets; never in the database) and an S3 bucket on the fauxqs
// emulator for the anchors. `pnpm start` prints the verifier key so tenants can pin it.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { parseSignerKey, signerKey, verifierKeyOf } from "@vigil/verify";
import { s3Client } from "./checkpoint-anchors.ts";

export const DEV_CHECKPOINT_KEY_FILE = "checkpoint-key";
export const DEV_CHECKPOINT_BUCKET = "vigil-checkpoints";

/** The key file under `stateDir`, created on first use; returns its path and verifier key. */
export async function ensureDevCheckpointKey(
  stateDir: string,
  name = "vigil-dev",
): Promise<{ file: string; verifierKey: string; created: boolean }> {
  const file = path.join(stateDir, DEV_CHECKPOINT_KEY_FILE);
  const created = !existsSync(file);
  if (created) {
    const key = await signerKey({ name, privateKeySeed: new Uint8Array(randomBytes(32)) });
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: "wx" });
  }
  const signer = await parseSignerKey(readFileSync(file, "utf8").trim());
  return { file, verifierKey: await verifierKeyOf(signer), created };
}

/** Creates the anchor bucket on an S3-compatible emulator (idempotent). */
export async function ensureCheckpointBucket(
  endpoint: string,
  bucket = DEV_CHECKPOINT_BUCKET,
): Promise<string> {
  const client = s3Client("us-east-1", endpoint);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw error;
  } finally {
    client.destroy();
  }
  return bucket;
}
