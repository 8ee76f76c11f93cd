// Failed attempts per key (a client IP) in fixed windows, in process memory: after `maxFailures`
// failures the key is refused until its window ends, before any work is done for it (no database
// lookup, no signature check). Only failures count, so a busy client that authenticates correctly
// is never slowed. Per process, like the token buckets.

/** Keys tracked at most; beyond it the oldest windows are dropped first. */
const MAX_KEYS = 100_000;

export class FailureLimiter {
  private readonly windows = new Map<string, { failures: number; startedAt: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whole seconds until `key` may try again, or 0 when it may try now. */
  retryAfterSeconds(key: string): number {
    const window = this.current(key);
    if (!window || window.failures < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((window.startedAt + this.windowMs - this.now()) / 1000));
  }

  recordFailure(key: string): void {
    const window = this.current(key);
    if (window) {
      window.failures++;
      return;
    }
    if (this.windows.size >= MAX_KEYS) this.evict();
    this.windows.set(key, { failures: 1, startedAt: this.now() });
  }

  private current(key: string) {
    const window = this.windows.get(key);
    if (window && this.now() - window.startedAt >= this.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  /** Expired windows first; if every window is live, the oldest tenth (Maps iterate in insertion order). */
  private evict(): void {
    const now = this.now();
    for (const [key, window] of this.windows) {
      if (now - window.startedAt >= this.windowMs) this.windows.delete(key);
    }
    let excess = this.windows.size - Math.floor(MAX_KEYS * 0.9);
    for (const key of this.windows.keys()) {
      if (excess-- <= 0) break;
      this.windows.delete(key);
    }
  }
}
