// The pure SHA-256 against node:crypto, the setSha256 hook, and the strict encoders.
import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { fromBase64, fromHex, pureSha256, setSha256, sha256, toBase64, toHex } from "../src/index.ts";

const nodeSha256 = (data: Uint8Array) => createHash("sha256").update(data).digest();

describe("pure SHA-256", () => {
  it("matches node:crypto on every length around the block and padding boundaries", () => {
    for (let length = 0; length <= 300; length++) {
      const data = randomBytes(length);
      expect(toHex(pureSha256(data))).toBe(toHex(nodeSha256(data)));
    }
  });

  it("matches node:crypto on random inputs up to 100 KB", () => {
    for (let i = 0; i < 50; i++) {
      const data = randomBytes(Math.floor(Math.random() * 100_000));
      expect(toHex(pureSha256(data))).toBe(toHex(nodeSha256(data)));
    }
  });

  it("matches the FIPS 180-4 example", () => {
    expect(toHex(pureSha256(new TextEncoder().encode("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});

describe("setSha256", () => {
  afterEach(() => setSha256());

  it("routes every hash through the plugged implementation and restores the pure one", () => {
    let calls = 0;
    setSha256((data) => {
      calls++;
      return nodeSha256(data);
    });
    expect(toHex(sha256(new Uint8Array(3)))).toBe(toHex(nodeSha256(new Uint8Array(3))));
    expect(calls).toBe(1);
    setSha256();
    sha256(new Uint8Array(3));
    expect(calls).toBe(1);
  });
});

describe("encodings", () => {
  it("round-trips base64 and hex for every length", () => {
    for (let length = 0; length < 70; length++) {
      const data = randomBytes(length);
      expect(toBase64(data)).toBe(data.toString("base64"));
      expect(Buffer.from(fromBase64(toBase64(data))!)).toEqual(data);
      expect(Buffer.from(fromHex(toHex(data))!)).toEqual(data);
    }
  });

  it("rejects non-canonical base64 and hex", () => {
    for (const bad of ["A", "AA", "AAB=", "AB==", "A===", "AA=A", " AAA", "AA\nA", "AA-_", "Zm9v\n"]) {
      expect(fromBase64(bad), bad).toBeUndefined();
    }
    for (const bad of ["a", "AB", "0g", "00 "]) expect(fromHex(bad), bad).toBeUndefined();
  });
});
