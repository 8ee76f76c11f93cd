// In-process token buckets, one per key (an API key, a user, a tenant, an IP). Each replica keeps
// its own buckets, so with N replicas behind a balancer the effective limit is up to N times the
// configured one. Buckets are independent: a tenant that drains its bucket is refused cheaply and
// never slows a tenant whose bucket still holds tokens.

export interface BucketDecision {
  allowed: boolean;
  /** Whole seconds until one token is available again (for Retry-After), when refused. */
  retryAfterSeconds: number;
}

/** Buckets untouched this long are full again and are dropped, so memory tracks active keys only. */
const IDLE_SWEEP_MS = 60_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  private lastSweep = Date.now();

  constructor(
    /** Tokens added per second. */
    private readonly ratePerSecond: number,
    /** Bucket capacity: the burst allowed after a quiet period. */
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, cost = 1): BucketDecision {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updatedAt: now };
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.ratePerSecond,
    );
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((cost - bucket.tokens) / this.ratePerSecond)),
    };
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < IDLE_SWEEP_MS) return;
    this.lastSweep = now;
    const fullAfterMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt > fullAfterMs) this.buckets.delete(key);
    }
  }
}
