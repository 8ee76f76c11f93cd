// Checkpoints and signed notes: format, key ids, rotation (two signers), unknown keys ignored,
// forged or altered notes rejected.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  emptyRoot,
  formatCheckpoint,
  keyId,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  sha256,
  signCheckpoint,
  signerKey,
  signNote,
  verifierKeyOf,
} from "../src/index.ts";

const signer = (name: string) => ({ name, privateKeySeed: new Uint8Array(randomBytes(32)) });
const checkpoint = {
  origin: "vigil.example/log/9b2c9c0e-4c1e-4e53-9d43-0f1bd1fdf9b1",
  size: 42,
  rootHash: sha256(new Uint8Array(1)),
};

describe("checkpoints", () => {
  it("formats and parses the C2SP checkpoint body", () => {
    const text = formatCheckpoint(checkpoint);
    expect(text).toBe(`${checkpoint.origin}\n42\n${Buffer.from(checkpoint.rootHash).toString("base64")}\n`);
    expect(parseCheckpoint(text)).toEqual({ ...checkpoint, extensions: [] });
    expect(formatCheckpoint({ origin: "o", size: 0, rootHash: emptyRoot() })).toBe(
      "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    );
  });

  it("rejects malformed bodies", () => {
    const good = formatCheckpoint(checkpoint);
    for (const bad of [
      good.slice(0, -1),
      good.replace("\n42\n", "\n042\n"),
      good.replace("\n42\n", "\n-1\n"),
      good.replace("\n42\n", "\n4e1\n"),
      `${good.split("\n")[0]}\n42\nAAAA\n`,
      `\n${good}`,
      `${good}\n`,
    ]) {
      expect(() => parseCheckpoint(bad), JSON.stringify(bad)).toThrow();
    }
  });
});

describe("signed notes", () => {
  it("computes key ids as SHA-256(name ‖ LF ‖ 0x01 ‖ key) and round-trips verifier and signer keys", async () => {
    const key = signer("vigil-test");
    const vkey = await verifierKeyOf(key);
    const parsed = parseVerifierKey(vkey);
    expect(parsed.name).toBe("vigil-test");
    const expected = sha256(new Uint8Array([...Buffer.from("vigil-test\n"), 1, ...parsed.publicKey]));
    expect(parsed.keyId).toBe(Buffer.from(expected).readUInt32BE(0));
    expect(keyId("vigil-test", parsed.publicKey)).toBe(parsed.keyId);
    expect(vkey).toMatch(/^vigil-test\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(await parseSignerKey(await signerKey(key))).toEqual(key);
    expect(() => parseVerifierKey(vkey.replace(/\+[0-9a-f]{8}\+/, "+00000000+"))).toThrow(/key id/);
    expect(() => parseVerifierKey(`other${vkey}`)).toThrow(/key id/);
  });

  it("signs a checkpoint that opens with its key, and with both keys during a rotation", async () => {
    const old = signer("vigil-2025");
    const current = signer("vigil-2026");
    const note = await signCheckpoint(checkpoint, [old, current]);
    expect(note.split("\n").filter((line) => line.startsWith("\u2014 "))).toHaveLength(2);
    for (const keys of [[await verifierKeyOf(old)], [await verifierKeyOf(current)]]) {
      const opened = await openCheckpoint(note, keys);
      expect(opened.checkpoint.size).toBe(42);
      expect(opened.note.verified).toHaveLength(1);
      expect(opened.note.unknown).toHaveLength(1);
    }
    const both = await openNote(note, [await verifierKeyOf(old), await verifierKeyOf(current)]);
    expect(both.verified.map((s) => s.name)).toEqual(["vigil-2025", "vigil-2026"]);
  });

  it("fails with no known key, with a forged signature, and on an altered text", async () => {
    const key = signer("vigil");
    const note = await signNote("hello\n", key);
    const vkey = await verifierKeyOf(key);
    await expect(openNote(note, [await verifierKeyOf(signer("someone-else"))])).rejects.toThrow(
      /no signature by a known key/,
    );
    await expect(openNote(note.replace("hello", "hellO"), [vkey])).rejects.toThrow(/invalid signature/);
    // Same name and key id, different key: a forger who knows the public key id only.
    const line = note.split("\n")[2]!;
    const bytes = Buffer.from(line.split(" ")[2]!, "base64");
    bytes[10] = bytes[10]! ^ 1;
    const forged = note.replace(line, `\u2014 vigil ${bytes.toString("base64")}`);
    await expect(openNote(forged, [vkey])).rejects.toThrow(/invalid signature/);
    for (const bad of [
      note.replace("\u2014", "-"),
      note.slice(0, -1),
      note.replace("\n\n", "\n"),
      `a\u0001${note}`,
    ]) {
      await expect(openNote(bad, [vkey]), JSON.stringify(bad)).rejects.toThrow();
    }
  });

  it("refuses texts without a final newline and invalid key names", async () => {
    await expect(signNote("no newline", signer("k"))).rejects.toThrow();
    await expect(signNote("x\n", signer("bad name"))).rejects.toThrow();
    await expect(signNote("x\n", signer("bad+name"))).rejects.toThrow();
  });
});
