// C2SP signed-note with Ed25519 keys, byte-compatible with Go's golang.org/x/mod/sumdb/note:
// a text ending in a newline, a blank line, then one `— <name> <base64(key id ‖ signature)>` line
// per signature. Key id = first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from "./ed25519.ts";
import { concatBytes, fromBase64, toBase64, utf8Encode } from "./encoding.ts";
import { sha256 } from "./sha256.ts";

/** Signature algorithm byte of Ed25519 keys in signed notes. */
const ALG_ED25519 = 0x01;
const SIGNATURE_PREFIX = "\u2014 "; // EM DASH, space
const MAX_SIGNATURES = 100;

export class NoteError extends Error {
  override readonly name = "NoteError";
}

export interface VerifierKey {
  name: string;
  /** The 4-byte key id as an unsigned 32-bit number. */
  keyId: number;
  /** The 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

export interface NoteSigner {
  name: string;
  /** The 32-byte Ed25519 private key seed. */
  privateKeySeed: Uint8Array;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** base64 of key id ‖ signature, as on the signature line. */
  base64: string;
}

export interface OpenedNote {
  /** The signed text, ending in a newline. */
  text: string;
  /** Signatures by the given keys, each verified. */
  verified: NoteSignature[];
  /** Signatures by keys not given (ignored, as the format requires). */
  unknown: NoteSignature[];
}

/** What Go's unicode.IsSpace accepts, and "+". */
const INVALID_NAME_CHARACTER = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/u;

/** Key names: non-empty, well-formed Unicode, without whitespace or "+" (as Go's note.isValidName). */
export function isValidKeyName(name: string): boolean {
  return name !== "" && !INVALID_NAME_CHARACTER.test(name) && !/\p{Cs}/u.test(name);
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) throw new NoteError(`invalid key name ${JSON.stringify(name)}`);
}

/** First 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ publicKey), big-endian. */
export function keyId(name: string, publicKey: Uint8Array): number {
  const digest = sha256(concatBytes(utf8Encode(name), Uint8Array.of(0x0a, ALG_ED25519), publicKey));
  return new DataView(digest.buffer, digest.byteOffset).getUint32(0);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** The published verifier key: `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`. */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  checkName(name);
  if (publicKey.length !== 32) throw new NoteError("an Ed25519 public key is 32 bytes");
  return `${name}+${hex8(keyId(name, publicKey))}+${toBase64(Uint8Array.of(ALG_ED25519, ...publicKey))}`;
}

/** Parses a verifier key, checking its key id; throws NoteError when malformed. */
export function parseVerifierKey(text: string): VerifierKey {
  const match = /^([^+]*)\+([0-9a-fA-F]{8})\+(.*)$/s.exec(text.trim());
  if (!match) throw new NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>");
  const [, name, idText, keyText] = match as unknown as [string, string, string, string];
  checkName(name);
  const key = fromBase64(keyText);
  if (!key || key.length === 0) throw new NoteError("the verifier key is not base64");
  if (key[0] !== ALG_ED25519) throw new NoteError("the verifier key is not an Ed25519 key");
  if (key.length !== 33) throw new NoteError("an Ed25519 verifier key holds 32 bytes");
  const publicKey = key.slice(1);
  const id = Number.parseInt(idText, 16);
  if (id !== keyId(name, publicKey))
    throw new NoteError("the verifier key id does not match its name and key");
  return { name, keyId: id, publicKey };
}

/** Go's private key format: `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`. */
export async function signerKey(signer: NoteSigner): Promise<string> {
  checkName(signer.name);
  const id = keyId(signer.name, await ed25519PublicKey(signer.privateKeySeed));
  return `PRIVATE+KEY+${signer.name}+${hex8(id)}+${toBase64(Uint8Array.of(ALG_ED25519, ...signer.privateKeySeed))}`;
}

/** Parses Go's private key format, checking the key id against the derived public key. */
export async function parseSignerKey(text: string): Promise<NoteSigner> {
  const match = /^PRIVATE\+KEY\+([^+]*)\+([0-9a-fA-F]{8})\+(.*)$/s.exec(text.trim());
  if (!match) throw new NoteError("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>");
  const [, name, idText, keyText] = match as unknown as [string, string, string, string];
  checkName(name);
  const key = fromBase64(keyText);
  if (key?.length !== 33 || key[0] !== ALG_ED25519)
    throw new NoteError("the signer key is not an Ed25519 seed");
  const signer = { name, privateKeySeed: key.slice(1) };
  if (Number.parseInt(idText, 16) !== keyId(name, await ed25519PublicKey(signer.privateKeySeed))) {
    throw new NoteError("the signer key id does not match its name and key");
  }
  return signer;
}

/** The verifier key of a signer. */
export async function verifierKeyOf(signer: NoteSigner): Promise<string> {
  return verifierKey(signer.name, await ed25519PublicKey(signer.privateKeySeed));
}

function checkText(text: string): void {
  if (!text.endsWith("\n")) throw new NoteError("a note text ends with a newline");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the format forbids control characters
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text))
    throw new NoteError("a note holds no control characters but newline");
}

/** Signs `text` (ending in a newline) with each signer: the complete note. */
export async function signNote(text: string, signers: NoteSigner | readonly NoteSigner[]): Promise<string> {
  checkText(text);
  const list = Array.isArray(signers) ? signers : [signers as NoteSigner];
  if (list.length === 0) throw new NoteError("a note needs at least one signer");
  const message = utf8Encode(text);
  let lines = "";
  for (const signer of list) {
    checkName(signer.name);
    const publicKey = await ed25519PublicKey(signer.privateKeySeed);
    const id = new Uint8Array(4);
    new DataView(id.buffer).setUint32(0, keyId(signer.name, publicKey));
    const signature = await ed25519Sign(signer.privateKeySeed, message);
    lines += `${SIGNATURE_PREFIX}${signer.name} ${toBase64(concatBytes(id, signature))}\n`;
  }
  return `${text}\n${lines}`;
}

/**
 * Opens a signed note: verifies every signature by a known key, ignores signatures by unknown keys.
 * Throws NoteError when the note is malformed, when a known key's signature is invalid, or when no
 * known key signed it.
 */
export async function openNote(note: string, keys: ReadonlyArray<string | VerifierKey>): Promise<OpenedNote> {
  const known = keys.map((key) => (typeof key === "string" ? parseVerifierKey(key) : key));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the format forbids control characters
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note) || /\p{Cs}/u.test(note))
    throw new NoteError("malformed note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("malformed note: no signature block");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === "" || !block.endsWith("\n")) throw new NoteError("malformed note: signature block");
  const message = utf8Encode(text);
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  const seen = new Set<string>();
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new NoteError("malformed note: too many signatures");
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX))
      throw new NoteError("malformed note: a signature line starts with an em dash");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const base64 = space < 0 ? "" : rest.slice(space + 1);
    const bytes = fromBase64(base64);
    if (!bytes || !isValidKeyName(name) || bytes.length < 5)
      throw new NoteError("malformed note: signature line");
    const id = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
    const signature: NoteSignature = { name, keyId: id, base64 };
    const matches = known.filter((key) => key.name === name && key.keyId === id);
    if (matches.length > 1) throw new NoteError(`ambiguous key ${name}+${hex8(id)}`);
    const key = matches[0];
    if (!key) {
      if (!unknown.some((other) => other.name === name && other.base64 === base64)) unknown.push(signature);
      continue;
    }
    const identity = `${name}+${id}`;
    if (seen.has(identity)) continue;
    seen.add(identity);
    if (!(await ed25519Verify(key.publicKey, message, bytes.subarray(4)))) {
      throw new NoteError(`invalid signature for key ${name}+${hex8(id)}`);
    }
    verified.push(signature);
  }
  if (verified.length === 0) throw new NoteError("the note has no signature by a known key");
  return { text, verified, unknown };
}
