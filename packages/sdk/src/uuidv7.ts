// UUIDv7 (RFC 9562 §5.7) from Web Crypto randomness: 48-bit Unix milliseconds, then random bits.
// Random bytes are drawn in blocks, since one getRandomValues call per id is the dominant cost.

const POOL_BYTES = 16 * 256;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

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
  let out = "";
  for (let index = 0; index < 16; index++) {
    if (index === 4 || index === 6 || index === 8 || index === 10) out += "-";
    out += HEX[bytes[index]!];
  }
  return out;
}
