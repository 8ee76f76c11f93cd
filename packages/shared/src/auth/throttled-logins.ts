// Throttled logins are counted, not audited one by one: an unauthenticated client hammering a
// locked account must not be able to write hundreds of events a second into the system tenant.
// Attempts refused within one login-throttle window are summed per throttled account or IP and
// recorded as one `auth.login_throttled` event when the window closes (the failures that led to
// the lock were each audited already). Per api process; at most one summary per key per window.
import type { RequestOrigin } from "../audit/admin-audit.ts";
import { recordAdminAction } from "../audit/admin-audit.ts";
import type { AuditRecorder } from "../audit/record-audit-event.ts";

/** Keys summed at once; beyond it attempts are summed under one overflow key. */
const MAX_KEYS = 10_000;
const OVERFLOW_KEY = "overflow";
/** Distinct accounts listed in one summary (their number is always exact up to this). */
const MAX_ACCOUNTS_LISTED = 20;

interface Tally {
  attempts: number;
  firstAt: string;
  lastAt: string;
  origin: RequestOrigin;
  accounts: Set<string>;
}

export class ThrottledLoginSummary {
  private tallies = new Map<string, Tally>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly audit: AuditRecorder,
    windowSeconds: number,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {
    this.timer = setInterval(() => void this.flush(), windowSeconds * 1000);
    this.timer.unref();
  }

  /** Counts one refused attempt under the throttling key (`account:<email>` or `ip:<address>`). */
  record(key: string, origin: RequestOrigin, account: string | null): void {
    const slot = this.tallies.has(key) || this.tallies.size < MAX_KEYS ? key : OVERFLOW_KEY;
    const now = new Date().toISOString();
    let tally = this.tallies.get(slot);
    if (!tally) {
      tally = { attempts: 0, firstAt: now, lastAt: now, origin, accounts: new Set() };
      this.tallies.set(slot, tally);
    }
    tally.attempts++;
    tally.lastAt = now;
    if (account && tally.accounts.size < MAX_ACCOUNTS_LISTED) tally.accounts.add(account);
  }

  /** Records one summary event per key seen since the last flush. */
  async flush(): Promise<void> {
    const tallies = this.tallies;
    this.tallies = new Map();
    for (const [key, tally] of tallies) {
      await recordAdminAction(this.audit, { ...tally.origin, requestId: undefined }, `login:${key}`, {
        actionType: "VIEW",
        action: "auth.login_throttled",
        resourceType: "session",
        resourceId: key.slice(0, 256),
        outcome: "failure",
        detail: {
          throttled_attempts: tally.attempts,
          first_at: tally.firstAt,
          last_at: tally.lastAt,
          accounts: [...tally.accounts],
        },
      }).catch(this.onError);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** One summary per audit recorder (that is, per api process), created on first use. */
const summaries = new WeakMap<AuditRecorder, ThrottledLoginSummary>();

export function throttledLoginSummary(audit: AuditRecorder, windowSeconds: number): ThrottledLoginSummary {
  let summary = summaries.get(audit);
  if (!summary) {
    summary = new ThrottledLoginSummary(audit, windowSeconds);
    summaries.set(audit, summary);
  }
  return summary;
}

/** At shutdown: records what was counted since the last summary, so a deploy loses no count. */
export async function flushThrottledLogins(audit: AuditRecorder): Promise<void> {
  const summary = summaries.get(audit);
  if (!summary) return;
  summary.stop();
  await summary.flush();
}
