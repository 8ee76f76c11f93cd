// Checkpoint signing keys, from configuration or a file — never from the database, or whoever holds
// the database could sign a rewritten tree. Keys are Go note signer keys
// (`PRIVATE+KEY+<name>+<key id>+<base64 key>`), so `golang.org/x/mod/sumdb/note` tools can make and
// read them. Several keys sign every checkpoint during a rotation; the first listed is current.
import { readFileSync } from "node:fs";
import { type NoteSigner, parseSignerKey, signCheckpoint, verifierKeyOf } from "@vigil/verify";
import type { VigilConfig } from "../config/config.ts";

export interface CheckpointKeyInfo {
  name: string;
  /** The 4-byte key id, 8 hex digits. */
  key_id: string;
  /** `<name>+<key id>+<base64(0x01 ‖ public key)>`, what verifiers are given. */
  verifier_key: string;
}

export interface CheckpointSigner {
  /** Configured keys, the current one first. */
  readonly keys: readonly CheckpointKeyInfo[];
  /** The signed note of the checkpoint `<origin>\n<size>\n<root>\n`, signed by every key. */
  signCheckpoint(origin: string, size: number, rootHash: Uint8Array): Promise<string>;
}

export class CheckpointKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointKeyError";
  }
}

/** Key texts from CHECKPOINT_SIGNING_KEY (comma or newline separated) then CHECKPOINT_SIGNING_KEY_FILE. */
export function checkpointKeyTexts(
  config: Pick<VigilConfig, "CHECKPOINT_SIGNING_KEY" | "CHECKPOINT_SIGNING_KEY_FILE">,
): string[] {
  const split = (text: string) =>
    text
      .split(/[,\n]/)
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
  const texts = config.CHECKPOINT_SIGNING_KEY ? split(config.CHECKPOINT_SIGNING_KEY) : [];
  if (config.CHECKPOINT_SIGNING_KEY_FILE) {
    let content: string;
    try {
      content = readFileSync(config.CHECKPOINT_SIGNING_KEY_FILE, "utf8");
    } catch (error) {
      throw new CheckpointKeyError(
        `CHECKPOINT_SIGNING_KEY_FILE: cannot read ${config.CHECKPOINT_SIGNING_KEY_FILE} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    texts.push(...split(content));
  }
  return texts;
}

export async function createCheckpointSigner(keyTexts: readonly string[]): Promise<CheckpointSigner> {
  if (keyTexts.length === 0) throw new CheckpointKeyError("no checkpoint signing key given");
  const signers: NoteSigner[] = [];
  const keys: CheckpointKeyInfo[] = [];
  for (const [index, text] of keyTexts.entries()) {
    let signer: NoteSigner;
    try {
      signer = await parseSignerKey(text);
    } catch (error) {
      // Never echo the key text: it is a secret.
      throw new CheckpointKeyError(`checkpoint signing key #${index + 1}: ${(error as Error).message}`);
    }
    const verifierKey = await verifierKeyOf(signer);
    if (keys.some((key) => key.verifier_key === verifierKey)) continue;
    signers.push(signer);
    keys.push({ name: signer.name, key_id: verifierKey.split("+")[1]!, verifier_key: verifierKey });
  }
  return {
    keys,
    signCheckpoint: (origin, size, rootHash) => signCheckpoint({ origin, size, rootHash }, signers),
  };
}

/** The configured signer, or null when no key is configured. Throws CheckpointKeyError on a bad key. */
export async function loadCheckpointSigner(
  config: Pick<VigilConfig, "CHECKPOINT_SIGNING_KEY" | "CHECKPOINT_SIGNING_KEY_FILE">,
): Promise<CheckpointSigner | null> {
  const texts = checkpointKeyTexts(config);
  return texts.length === 0 ? null : createCheckpointSigner(texts);
}
