// API-key lookups cached in the process (key hash → principal with its tenant's state), so a hot key
// costs no database round trip per request. Revocation and tenant changes take effect on the replica
// that made them before it answers, and on every other replica as soon as the NOTIFY arrives
// (milliseconds): triggers on api_keys and tenants send NOTIFY vigil_auth_changes at commit
// (migration 20261122T0059) and each notification empties the cache; a lookup that overlapped a
// notification is not cached. Nothing is cached until the LISTEN is in place, and each (re)LISTEN
// empties the cache; the TTL bounds staleness should a notification ever be lost. Unknown keys are
// remembered briefly too, so repeating a bad key costs no query (a flood of *different* bad keys is
// cut off per client IP by the failed-authentication limiter, see services/api/src/http/authenticate.ts).
import type { Sql } from "../db/database.ts";
import {
  type ApiKeyPrincipal,
  type FoundApiKey,
  findApiKey,
  hashApiKey,
  looksLikeApiKey,
  recordApiKeyUseIfDue,
} from "./api-keys.ts";

const AUTH_CHANGES_CHANNEL = "vigil_auth_changes";

/** Backstop only: changes normally arrive by NOTIFY within milliseconds. */
const DEFAULT_TTL_MS = 10_000;
/** Bounds memory even against a flood of valid keys. */
const MAX_ENTRIES = 10_000;
/** An unknown key stays unknown (keys are random), so this only bounds memory and staleness. */
const NEGATIVE_TTL_MS = 10_000;
/** Made-up keys are cheap to send: at most this many are remembered, the oldest dropped first. */
const MAX_NEGATIVE_ENTRIES = 10_000;

interface CachedKey extends FoundApiKey {
  expiresAt: number;
}

export interface ApiKeyLookup {
  /** The key's principal, or null when it is unknown or revoked. */
  authenticate(key: string): Promise<ApiKeyPrincipal | null>;
  /** This process just changed keys or tenants: forget now, without waiting for its own NOTIFY. */
  invalidate(): void;
  /** True when `key` is a live key held in memory, so authenticating it costs no database work. */
  isCachedValid?(key: string): boolean;
}

export class ApiKeyCache implements ApiKeyLookup {
  private readonly entries = new Map<string, CachedKey>();
  /** Hashes of keys that were unknown or revoked, with when to forget them. */
  private readonly unknown = new Map<string, number>();
  /** Bumped by every invalidation; a lookup started under an older one is not cached. */
  private generation = 0;
  private listening = false;
  private readonly userListeners: Array<() => void> = [];
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly ttlMs = DEFAULT_TTL_MS,
  ) {}

  async start(): Promise<void> {
    const listener = await this.sql.listen(
      AUTH_CHANGES_CHANNEL,
      // `users` changes (20261207T1003) concern the token verifier's user cache, not keys or tenants.
      (payload) => {
        if (payload === "users") this.usersChanged();
        else this.invalidate();
      },
      () => {
        // Also after postgres.js re-LISTENs on a new connection: changes may have been missed.
        this.invalidate();
        this.usersChanged();
        this.listening = true;
      },
    );
    this.unlisten = listener.unlisten;
  }

  async stop(): Promise<void> {
    this.listening = false;
    this.invalidate();
    // At shutdown the database may already be gone (Ctrl-C reaches an embedded PostgreSQL too).
    await this.unlisten?.().catch(() => undefined);
  }

  async authenticate(key: string): Promise<ApiKeyPrincipal | null> {
    if (!looksLikeApiKey(key)) return null;
    const keyHash = hashApiKey(key);
    const now = Date.now();
    const cached = this.entries.get(keyHash);
    if (cached && cached.expiresAt > now) {
      await recordApiKeyUseIfDue(this.sql, cached, now);
      return cached.principal;
    }
    const unknownUntil = this.unknown.get(keyHash);
    if (unknownUntil !== undefined) {
      if (unknownUntil > now) return null;
      this.unknown.delete(keyHash);
    }
    const generation = this.generation;
    const found = await findApiKey(this.sql, keyHash);
    if (!found) {
      if (this.listening && generation === this.generation) this.rememberUnknown(keyHash, now);
      return null;
    }
    await recordApiKeyUseIfDue(this.sql, found, now);
    if (this.listening && generation === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(keyHash, { ...found, expiresAt: now + this.ttlMs });
    }
    return found.principal;
  }

  /** `listener` runs at every change to a user (and after each re-LISTEN), e.g. to empty a user cache. */
  onUsersChanged(listener: () => void): void {
    this.userListeners.push(listener);
  }

  private usersChanged(): void {
    for (const listener of this.userListeners) listener();
  }

  isCachedValid(key: string): boolean {
    if (!looksLikeApiKey(key)) return false;
    return (this.entries.get(hashApiKey(key))?.expiresAt ?? 0) > Date.now();
  }

  invalidate(): void {
    this.generation++;
    this.entries.clear();
    this.unknown.clear();
  }

  private rememberUnknown(keyHash: string, now: number): void {
    if (this.unknown.size >= MAX_NEGATIVE_ENTRIES) {
      // Maps iterate in insertion order: drop the oldest tenth.
      let drop = MAX_NEGATIVE_ENTRIES / 10;
      for (const key of this.unknown.keys()) {
        if (drop-- <= 0) break;
        this.unknown.delete(key);
      }
    }
    this.unknown.set(keyHash, now + NEGATIVE_TTL_MS);
  }
}
