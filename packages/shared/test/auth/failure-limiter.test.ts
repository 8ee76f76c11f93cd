// Fixed-window failure counting per key: refused after N failures until the window ends, keys
// independent, memory bounded.
import { FailureLimiter } from "@vigil/shared/rate-limit/failure-limiter";
import { expect, test } from "vitest";

test("after maxFailures in a window the key waits for the window's end; other keys are unaffected", () => {
  let now = 1_000_000;
  const limiter = new FailureLimiter(3, 60_000, () => now);
  for (let i = 0; i < 3; i++) {
    expect(limiter.retryAfterSeconds("ip:a")).toBe(0);
    limiter.recordFailure("ip:a");
  }
  expect(limiter.retryAfterSeconds("ip:a")).toBe(60);
  expect(limiter.retryAfterSeconds("ip:b")).toBe(0);
  now += 45_500;
  expect(limiter.retryAfterSeconds("ip:a")).toBe(15);
  now += 14_500;
  expect(limiter.retryAfterSeconds("ip:a")).toBe(0);
  limiter.recordFailure("ip:a");
  expect(limiter.retryAfterSeconds("ip:a")).toBe(0);
});

test("a flood of distinct keys stays bounded and keeps limiting the newest", () => {
  const limiter = new FailureLimiter(1, 60_000);
  for (let i = 0; i < 250_000; i++) limiter.recordFailure(`ip:${i}`);
  expect((limiter as unknown as { windows: Map<string, unknown> }).windows.size).toBeLessThanOrEqual(100_000);
  expect(limiter.retryAfterSeconds("ip:249999")).toBeGreaterThan(0);
});
