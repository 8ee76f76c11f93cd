// Token-bucket arithmetic, with a controllable clock.
import { expect, test } from "vitest";
import { TokenBuckets } from "../../src/rate-limit/token-bucket.ts";

test("a bucket allows its burst, refuses with the wait until one token refills, and refills at its rate", () => {
  let now = 0;
  const buckets = new TokenBuckets(2, 3, () => now);
  expect([1, 2, 3].map(() => buckets.take("k").allowed)).toEqual([true, true, true]);
  expect(buckets.take("k")).toEqual({ allowed: false, retryAfterSeconds: 1 });
  now += 500; // one token at 2/s
  expect(buckets.take("k").allowed).toBe(true);
  expect(buckets.take("k").allowed).toBe(false);
  now += 10_000; // refills to the burst, never beyond
  expect([1, 2, 3, 4].map(() => buckets.take("k").allowed)).toEqual([true, true, true, false]);
});

test("buckets are independent per key", () => {
  const buckets = new TokenBuckets(1, 1, () => 0);
  expect(buckets.take("noisy").allowed).toBe(true);
  expect(buckets.take("noisy").allowed).toBe(false);
  expect(buckets.take("quiet").allowed).toBe(true);
});

test("a slow rate gives a Retry-After of whole seconds", () => {
  const buckets = new TokenBuckets(0.1, 1, () => 0);
  buckets.take("k");
  expect(buckets.take("k").retryAfterSeconds).toBe(10);
});
