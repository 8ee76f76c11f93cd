// The tree's hashing (RFC 9162 §2.1, the same as RFC 6962 and Go's sumdb/tlog) and Vigil's leaf
// data (spec §13): leaf i of a tenant's tree is the event with seq = i + 1, and its data binds the
// seq, the event id and the event hash, so a leaf can't be moved, re-attributed or re-hashed.
import { fromHex } from "./encoding.ts";
import { sha256 } from "./sha256.ts";

/** A 32-byte SHA-256 tree hash. */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;

/** Leaf data length: 8-byte seq ‖ 16-byte UUID ‖ 32-byte event hash. */
export const LEAF_DATA_SIZE = 56;

const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The 16 bytes of a UUID in its textual form (either letter case); throws on anything else. */
export function uuidBytes(id: string): Uint8Array {
  if (!UUID_PATTERN.test(id)) throw new TypeError(`not a UUID: ${JSON.stringify(id)}`);
  return fromHex(
    `${id.slice(0, 8)}${id.slice(9, 13)}${id.slice(14, 18)}${id.slice(19, 23)}${id.slice(24)}`.toLowerCase(),
  )!;
}

/** seq as 8 bytes big-endian ‖ id as its 16 UUID bytes ‖ the event hash as 32 raw bytes. */
export function leafData(seq: number, id: string, eventHashHex: string): Uint8Array {
  return writeLeafData(new Uint8Array(LEAF_DATA_SIZE), 0, seq, id, eventHashHex);
}

function writeLeafData(
  out: Uint8Array,
  at: number,
  seq: number,
  id: string,
  eventHashHex: string,
): Uint8Array {
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new RangeError(`seq must be a positive integer, got ${seq}`);
  const eventHash = fromHex(eventHashHex);
  if (eventHash?.length !== HASH_SIZE) throw new TypeError("event hash must be 64 lowercase hex digits");
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint32(at, Math.floor(seq / 0x100000000));
  view.setUint32(at + 4, seq >>> 0);
  out.set(uuidBytes(id), at + 8);
  out.set(eventHash, at + 24);
  return out;
}

/** SHA-256(0x00 ‖ data). */
export function leafHash(data: Uint8Array): Hash {
  const input = new Uint8Array(1 + data.length);
  input.set(data, 1);
  return sha256(input);
}

const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE);
nodeInput[0] = 0x01;

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE)
    throw new TypeError("tree hashes are 32 bytes");
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_SIZE);
  return sha256(nodeInput);
}

const EMPTY_ROOT = sha256(new Uint8Array(0));

/** The root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(): Hash {
  return EMPTY_ROOT.slice();
}

/** The leaf hash of an event, in one call: SHA-256(0x00 ‖ leafData(seq, id, hash)). */
export function eventLeafHash(seq: number, id: string, eventHashHex: string): Hash {
  const input = new Uint8Array(1 + LEAF_DATA_SIZE);
  return sha256(writeLeafData(input, 1, seq, id, eventHashHex));
}
