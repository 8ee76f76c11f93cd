// Failed-login counters per account and per client IP, in PostgreSQL so every api replica shares
// them. Fixed windows: after `limit` failures a key is refused until its window ends. The check and
// the count are separate statements, so a burst of concurrent guesses can overshoot a limit by at
// most the number of guesses in flight.
import type { Queryable } from "../db/database.ts";

export interface ThrottleRule {
  key: string;
  limit: number;
}

/** Seconds until every key is below its limit again (0: the attempt may proceed), and the keys over it. */
export async function loginRetryAfterSeconds(
  sql: Queryable,
  rules: ThrottleRule[],
  windowSeconds: number,
): Promise<{ retryAfterSeconds: number; throttledKeys: string[] }> {
  const rows = await sql<{ throttle_key: string; failures: number; remaining: number }[]>`
    select throttle_key, failures,
      ceil(extract(epoch from window_started_at + make_interval(secs => ${windowSeconds}) - now()))::int as remaining
    from login_failures
    where throttle_key = any(${rules.map((rule) => rule.key)}::text[])
      and window_started_at > now() - make_interval(secs => ${windowSeconds})`;
  let wait = 0;
  const throttledKeys: string[] = [];
  for (const row of rows) {
    const rule = rules.find((candidate) => candidate.key === row.throttle_key);
    if (rule && row.failures >= rule.limit) {
      wait = Math.max(wait, row.remaining, 1);
      throttledKeys.push(row.throttle_key);
    }
  }
  return { retryAfterSeconds: wait, throttledKeys };
}

export async function recordLoginFailure(
  sql: Queryable,
  keys: string[],
  windowSeconds: number,
): Promise<void> {
  await sql`
    insert into login_failures (throttle_key, failures, window_started_at)
    select key, 1, now() from unnest(${keys}::text[]) as key
    on conflict (throttle_key) do update set
      failures = case when login_failures.window_started_at <= now() - make_interval(secs => ${windowSeconds}) then 1 else login_failures.failures + 1 end,
      window_started_at = case when login_failures.window_started_at <= now() - make_interval(secs => ${windowSeconds}) then now() else login_failures.window_started_at end`;
}

export async function clearLoginFailures(sql: Queryable, key: string): Promise<void> {
  await sql`delete from login_failures where throttle_key = ${key}`;
}
