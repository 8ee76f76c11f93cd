// Integer helpers for tree coordinates. Sizes and indexes are JavaScript numbers (exact up to
// 2^53), so these use arithmetic rather than the 32-bit bitwise operators.

/** The largest size or index this package accepts: 2^52, so 2·n + 1 stays exact. */
export const MAX_TREE_SIZE = 2 ** 52;

export function isOdd(n: number): boolean {
  return n % 2 === 1;
}

/** ⌊n / 2^k⌋. */
export function shiftRight(n: number, k: number): number {
  return Math.floor(n / 2 ** k);
}

/** Number of trailing zero bits of n > 0. */
export function trailingZeros(n: number): number {
  let count = 0;
  while (n > 0 && n % 2 === 0) {
    n /= 2;
    count++;
  }
  return count;
}

/** Number of bits needed to write n (0 for 0). */
export function bitLength(n: number): number {
  let count = 0;
  while (n > 0) {
    n = Math.floor(n / 2);
    count++;
  }
  return count;
}

export function popCount(n: number): number {
  let count = 0;
  while (n > 0) {
    count += n % 2;
    n = Math.floor(n / 2);
  }
  return count;
}

/** The largest power of two strictly below n (n ≥ 2): the size of the left subtree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isTreeSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= MAX_TREE_SIZE;
}
