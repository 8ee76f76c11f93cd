// Secrets Vigil must keep in the database to use them later (signing keys, log-stream credentials)
// are stored AES-256-GCM sealed under a key derived from a configured secret, or marked plain when
// none is configured (the database is then the secret); the prefix says which, so a secret can be
// configured later without rewriting rows.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";

const derivedKeys = new Map<string, Buffer>();

/** `purpose` separates the keys derived for different kinds of secret from one configured secret. */
function sealingKey(secret: string, purpose: string): Buffer {
  const cacheKey = `${purpose}\u0000${secret}`;
  let key = derivedKeys.get(cacheKey);
  if (!key) {
    key = scryptSync(secret, purpose, 32);
    derivedKeys.set(cacheKey, key);
  }
  return key;
}

export function sealText(plain: string, secret: string | undefined, purpose: string): string {
  if (!secret) return `plain:${plain}`;
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(secret, purpose), iv);
  const sealed = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return `aes256gcm:${iv.toString("base64url")}:${cipher.getAuthTag().toString("base64url")}:${sealed.toString("base64url")}`;
}

/** The plain text, or null when it was sealed under another secret (or none is configured now). */
export function openSealedText(stored: string, secret: string | undefined, purpose: string): string | null {
  if (stored.startsWith("plain:")) return stored.slice("plain:".length);
  const [scheme, iv, tag, sealed] = stored.split(":");
  if (scheme !== "aes256gcm" || !iv || !tag || !sealed || !secret) return null;
  try {
    const decipher = createDecipheriv(
      "aes-256-gcm",
      sealingKey(secret, purpose),
      Buffer.from(iv, "base64url"),
    );
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(sealed, "base64url")), decipher.final()]).toString(
      "utf8",
    );
  } catch {
    return null;
  }
}
