// Ed25519 through WebCrypto (Node ≥ 20, Deno, Bun, current browsers): signing from a 32-byte seed
// (imported as PKCS#8, the one private format every WebCrypto accepts) and verification.

import { fromBase64 } from "./encoding.ts";

const ALGORITHM = { name: "Ed25519" } as const;

/** PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed. */
const PKCS8_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

function subtle(): SubtleCrypto {
  const api = globalThis.crypto?.subtle;
  if (!api) throw new Error("Ed25519 needs WebCrypto (globalThis.crypto.subtle), which this runtime lacks");
  return api;
}

/** An ArrayBuffer-backed copy: WebCrypto's types (and some runtimes) reject views of shared memory. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

function checkSeed(seed: Uint8Array): void {
  if (seed.length !== 32) throw new TypeError("an Ed25519 private key seed is 32 bytes");
}

async function privateKey(seed: Uint8Array, extractable: boolean): Promise<CryptoKey> {
  checkSeed(seed);
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  return subtle().importKey("pkcs8", pkcs8, ALGORITHM, extractable, ["sign"]);
}

/** The 32-byte public key of a seed. */
export async function ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array> {
  const jwk = await subtle().exportKey("jwk", await privateKey(seed, true));
  const x = jwk.x ?? "";
  const base64 = x.replaceAll("-", "+").replaceAll("_", "/");
  const publicKey = fromBase64(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  if (publicKey?.length !== 32) throw new Error("WebCrypto returned a malformed Ed25519 public key");
  return publicKey;
}

export async function ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign(ALGORITHM, await privateKey(seed, false), copy(message)));
}

/** False for a bad signature and for a malformed key or signature, never throws on input. */
export async function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await subtle().importKey("raw", copy(publicKey), ALGORITHM, false, ["verify"]);
    return await subtle().verify(ALGORITHM, key, copy(signature), copy(message));
  } catch {
    return false;
  }
}
