// UUIDv7 (RFC 9562 §5.7) from Web Crypto randomness: 48-bit Unix milliseconds, then random bits.
// Random bytes are drawn in blocks, since one getRandomValues call per id is the dominant cost; the
// text is written into a byte buffer and decoded once, so each id is one flat string (concatenating
// 20 pieces leaves a tree of string nodes that every queued id would carry until it is sent).

const POOL_BYTES = 16 * 256;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;

const HEX_DIGITS = Array.from({ length: 16 }, (_, value) => value.toString(16).charCodeAt(0));
/** Where each of the 16 bytes' two hex digits go in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const TEXT_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const text = new Uint8Array(36).fill(0x2d); // "-" where no digit is written
const decoder = new TextDecoder();

const bytes = new Uint8Array(16);

export function uuidv7(now: number = Date.now()): string {
  if (poolOffset + 10 > POOL_BYTES) {
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const high = Math.floor(now / 0x1000000); // top 24 bits of the 48-bit millisecond timestamp
  const low = now % 0x1000000;
  bytes[0] = high >>> 16;
  bytes[1] = high >>> 8;
  bytes[2] = high;
  bytes[3] = low >>> 16;
  bytes[4] = low >>> 8;
  bytes[5] = low;
  bytes.set(pool.subarray(poolOffset, poolOffset + 10), 6);
  poolOffset += 10;
  bytes[6] = 0x70 | (bytes[6]! & 0x0f); // version 7
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  for (let index = 0; index < 16; index++) {
    const byte = bytes[index]!;
    const at = TEXT_OFFSETS[index]!;
    text[at] = HEX_DIGITS[byte >>> 4]!;
    text[at + 1] = HEX_DIGITS[byte & 0x0f]!;
  }
  return decoder.decode(text);
}
