import { createCipheriv, randomBytes, scryptSync } from "node:crypto";
import { openSealedText, sealText } from "@vigil/shared/crypto/sealed-text";
import { describe, expect, it } from "vitest";

describe("sealed text", () => {
  it("round-trips under the same secret and purpose, and never stores the plain text when sealed", () => {
    const sealed = sealText("whsec_abc", "a long configured secret", "purpose-a");
    expect(sealed).toMatch(/^aes256gcm:/);
    expect(sealed).not.toContain("whsec_abc");
    expect(openSealedText(sealed, "a long configured secret", "purpose-a")).toBe("whsec_abc");
  });

  it("cannot be opened with another secret, another purpose, or after tampering", () => {
    const sealed = sealText("value", "secret-one-secret-one", "purpose-a");
    expect(openSealedText(sealed, "secret-two-secret-two", "purpose-a")).toBeNull();
    expect(openSealedText(sealed, "secret-one-secret-one", "purpose-b")).toBeNull();
    expect(openSealedText(sealed, undefined, "purpose-a")).toBeNull();
    const parts = sealed.split(":");
    const body = Buffer.from(parts[3]!, "base64url");
    body[0]! ^= 1;
    parts[3] = body.toString("base64url");
    expect(openSealedText(parts.join(":"), "secret-one-secret-one", "purpose-a")).toBeNull();
  });

  it("stores plain (marked) when no secret is configured, and opens it later with or without one", () => {
    const stored = sealText("value", undefined, "purpose-a");
    expect(stored).toBe("plain:value");
    expect(openSealedText(stored, undefined, "purpose-a")).toBe("value");
    expect(openSealedText(stored, "configured-later-secret", "purpose-a")).toBe("value");
  });

  it("opens signing keys sealed before it existed (same key derivation and layout)", () => {
    const secret = "signing-key-secret-1";
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", scryptSync(secret, "vigil-signing-keys-v1", 32), iv);
    const sealed = Buffer.concat([cipher.update('{"kty":"OKP"}', "utf8"), cipher.final()]);
    const stored = `aes256gcm:${iv.toString("base64url")}:${cipher.getAuthTag().toString("base64url")}:${sealed.toString("base64url")}`;
    expect(openSealedText(stored, secret, "vigil-signing-keys-v1")).toBe('{"kty":"OKP"}');
  });
});
