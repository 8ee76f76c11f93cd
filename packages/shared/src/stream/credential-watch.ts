// Keeps open streams authorised, not only authorised once at the upgrade. Every credential change
// (API key revoked, user disabled or deleted, tenant suspended) sends NOTIFY vigil_auth_changes at
// commit (migrations 20261122T0059 and 20261207T1003); on each one the watch re-checks every open
// stream's credential in a few set-based queries and closes those no longer allowed, with a close
// code and an error message saying why. A periodic re-check is the backstop for a lost
// notification, and a timer closes a stream when its access token expires.
import { type CredentialVerdict, credentialVerdicts } from "../auth/credential-status.ts";
import { USER_CHECK_CACHE_MS } from "../auth/token-verifier.ts";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logging/logger.ts";
import { STREAM_CLOSE_CODES } from "./stream-protocol.ts";
import type { StreamSubscription } from "./stream-subscription.ts";

const AUTH_CHANGES_CHANNEL = "vigil_auth_changes";
/** setTimeout's limit; a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Watched = Pick<StreamSubscription, "grant" | "close">;

export class StreamCredentialWatch {
  private readonly watched = new Set<Watched>();
  private readonly expiryTimers = new Map<Watched, NodeJS.Timeout>();
  /** When the last change notification (or LISTEN reconnect) arrived, epoch ms. */
  private lastChangeAt = 0;
  private checking: Promise<void> | null = null;
  private checkAgain = false;
  private interval: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly recheckMs: number,
  ) {}

  async start(): Promise<void> {
    const listener = await this.db.sql.listen(
      AUTH_CHANGES_CHANNEL,
      () => this.changed(),
      // Also after a re-LISTEN on a new connection: changes may have been missed meanwhile.
      () => this.changed(),
    );
    this.unlisten = listener.unlisten;
    this.interval = setInterval(() => void this.recheck(), this.recheckMs);
    this.interval.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.interval);
    for (const timer of this.expiryTimers.values()) clearTimeout(timer);
    this.expiryTimers.clear();
    this.watched.clear();
    await this.unlisten?.().catch(() => undefined);
  }

  get size(): number {
    return this.watched.size;
  }

  /** Starts watching an accepted stream; `authorizedAt` is when its credential was looked up. */
  track(stream: Watched, authorizedAt: number): void {
    this.watched.add(stream);
    const { principal } = stream.grant;
    // Access tokens and the console's stream tokens close at their `exp`; API keys have none.
    const expiresAt = principal.kind === "api_key" ? undefined : principal.expiresAt;
    if (expiresAt !== undefined) this.armExpiry(stream, expiresAt);
    // A change that committed while this stream was being authorised, or shortly before (user
    // lookups are cached for USER_CHECK_CACHE_MS), may not have been seen: check it once more.
    if (authorizedAt - USER_CHECK_CACHE_MS <= this.lastChangeAt) void this.recheck();
  }

  untrack(stream: Watched): void {
    this.watched.delete(stream);
    clearTimeout(this.expiryTimers.get(stream));
    this.expiryTimers.delete(stream);
  }

  /** Re-checks every watched stream now; concurrent calls coalesce into at most one more pass. */
  recheck(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.checkAgain = false;
        await this.checkAll().catch((error: unknown) =>
          // The streams stay open: an outage is not a revocation; the next pass retries.
          this.logger.warn({ err: error }, "stream credential re-check failed"),
        );
      } while (this.checkAgain);
      this.checking = null;
    })();
    return this.checking;
  }

  private changed(): void {
    this.lastChangeAt = Date.now();
    void this.recheck();
  }

  private async checkAll(): Promise<void> {
    const streams = [...this.watched];
    if (streams.length === 0) return;
    const verdicts = await credentialVerdicts(
      this.db.sql,
      streams.map(({ grant }) => ({ principal: grant.principal, tenantId: grant.scope.tenantId })),
    );
    verdicts.forEach((verdict, index) => {
      const stream = streams[index]!;
      if (verdict !== "ok" && this.watched.has(stream)) this.end(stream, verdict);
    });
  }

  private end(stream: Watched, verdict: Exclude<CredentialVerdict, "ok"> | "expired"): void {
    this.untrack(stream);
    if (verdict === "tenant_not_active")
      stream.close(
        STREAM_CLOSE_CODES.tenantNotActive,
        "TENANT_NOT_ACTIVE",
        "the tenant is no longer active; its streams are closed",
      );
    else if (verdict === "expired")
      stream.close(
        STREAM_CLOSE_CODES.credentialRevoked,
        "CREDENTIAL_EXPIRED",
        "the access token expired; reconnect with a new token and `since` set to the last seq received",
      );
    else
      stream.close(
        STREAM_CLOSE_CODES.credentialRevoked,
        "CREDENTIAL_REVOKED",
        "the credential was revoked or its account disabled",
      );
  }

  private armExpiry(stream: Watched, expiresAt: number): void {
    const delay = expiresAt - Date.now();
    if (delay <= 0) {
      this.end(stream, "expired");
      return;
    }
    const timer = setTimeout(
      () => {
        this.expiryTimers.delete(stream);
        if (this.watched.has(stream)) this.armExpiry(stream, expiresAt);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    timer.unref();
    this.expiryTimers.set(stream, timer);
  }
}
