// The streamer's core, transport-free: one LISTEN per process on the channel the worker notifies
// after each committed batch, one TenantFeed per tenant that has subscribers, connection limits and
// metrics. Several streamer processes can run side by side: each keeps its own feeds, and all of
// them read the same committed rows.
import type { Database } from "../db/database.ts";
import { VigilError } from "../errors/vigil-error.ts";
import { EVENTS_NOTIFY_CHANNEL } from "../ingest/store-events.ts";
import type { Logger } from "../logging/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { StreamCredentialWatch } from "./credential-watch.ts";
import { compileStreamFilter } from "./event-filter-match.ts";
import { STREAM_CLOSE_CODES } from "./stream-protocol.ts";
import type { StreamGrant } from "./stream-request.ts";
import { type StreamSink, StreamSubscription, type SubscriptionEnvironment } from "./stream-subscription.ts";
import { type FeedBatch, TenantFeed } from "./tenant-feed.ts";

export interface StreamHubOptions {
  maxBufferedBytes: number;
  maxConnections: number;
  maxConnectionsPerTenant: number;
  backfillBatchSize?: number;
  feedBatchSize?: number;
  /** Catch-up read of every feed even without a NOTIFY: a backstop, never the main path. */
  safetyPollMs?: number;
  /** Re-check of every open stream's credential even without a NOTIFY (credential-watch.ts). */
  credentialRecheckMs?: number;
}

type StreamMetrics = Pick<Metrics, "streamConnections" | "streamEventsSent" | "streamDrops" | "streamLag">;

export class StreamHub {
  private readonly feeds = new Map<string, TenantFeed>();
  private readonly feedOf = new Map<StreamSubscription, TenantFeed>();
  private readonly perTenant = new Map<string, number>();
  private connections = 0;
  private listening = false;
  private unlisten: (() => Promise<void>) | undefined;
  private safetyPoll: NodeJS.Timeout | undefined;
  private readonly subscriptionEnv: SubscriptionEnvironment;
  private readonly credentials: StreamCredentialWatch;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly metrics: StreamMetrics,
    private readonly options: StreamHubOptions,
  ) {
    this.subscriptionEnv = {
      db,
      logger,
      maxBufferedBytes: options.maxBufferedBytes,
      backfillBatchSize: options.backfillBatchSize ?? 500,
      onSent: (count) => metrics.streamEventsSent.inc(count),
      onSlowConsumer: () => metrics.streamDrops.inc(),
      onClosed: (subscription) => this.release(subscription),
    };
    this.credentials = new StreamCredentialWatch(db, logger, options.credentialRecheckMs ?? 10_000);
  }

  /** LISTENs before any subscriber is accepted; every (re)connect of the listener triggers a catch-up. */
  async start(): Promise<void> {
    await this.credentials.start();
    const listener = await this.db.sql.listen(
      EVENTS_NOTIFY_CHANNEL,
      (payload) => this.onNotify(payload),
      () => {
        // Also runs after postgres.js re-LISTENs on a new connection: notifications sent while the
        // old one was down are lost, so every feed re-reads from its own position.
        this.listening = true;
        this.logger.info(
          { channel: EVENTS_NOTIFY_CHANNEL, feeds: this.feeds.size },
          "stream listener connected",
        );
        for (const feed of this.feeds.values()) feed.catchUp();
      },
    );
    this.unlisten = listener.unlisten;
    const pollMs = this.options.safetyPollMs ?? 5000;
    this.safetyPoll = setInterval(() => {
      for (const feed of this.feeds.values()) feed.catchUp();
    }, pollMs);
    this.safetyPoll.unref();
  }

  get isListening(): boolean {
    return this.listening;
  }

  get connectionCount(): number {
    return this.connections;
  }

  /** Refuses a new stream (before its upgrade) when a connection limit is reached. */
  assertCapacity(tenantId: string): void {
    if (this.connections >= this.options.maxConnections) {
      throw new VigilError(
        "RATE_LIMITED",
        "this streamer is at its connection limit; retry later or elsewhere",
        undefined,
        { "Retry-After": "5" },
      );
    }
    if ((this.perTenant.get(tenantId) ?? 0) >= this.options.maxConnectionsPerTenant) {
      throw new VigilError("RATE_LIMITED", "this tenant has too many open streams", undefined, {
        "Retry-After": "5",
      });
    }
  }

  /** Registers an accepted connection and starts its backfill; the returned handle is told when the peer leaves. */
  open(grant: StreamGrant, sink: StreamSink): StreamSubscription {
    const subscription = new StreamSubscription(
      grant,
      compileStreamFilter(grant.filter),
      sink,
      this.subscriptionEnv,
    );
    const feed = this.feedFor(grant.scope.tenantId);
    feed.members.add(subscription);
    this.feedOf.set(subscription, feed);
    this.connections++;
    this.perTenant.set(subscription.tenantId, (this.perTenant.get(subscription.tenantId) ?? 0) + 1);
    this.metrics.streamConnections.set(this.connections);
    this.credentials.track(subscription, grant.authorizedAt);
    void subscription.run(feed);
    return subscription;
  }

  /** Graceful restart: every client gets the reconnect close code and resumes elsewhere with `since`. */
  async shutdown(): Promise<void> {
    clearInterval(this.safetyPoll);
    for (const feed of this.feeds.values()) {
      for (const subscription of feed.members) {
        subscription.close(
          STREAM_CLOSE_CODES.serviceRestart,
          "SERVICE_RESTART",
          "the streamer is restarting; reconnect with `since` set to the last seq received",
        );
      }
      feed.stop();
    }
    await this.unlisten?.().catch(() => {});
    await this.credentials.stop();
  }

  private feedFor(tenantId: string): TenantFeed {
    let feed = this.feeds.get(tenantId);
    if (!feed) {
      const created = new TenantFeed(tenantId, {
        db: this.db,
        logger: this.logger,
        batchSize: this.options.feedBatchSize ?? 1000,
        onDelivered: (batch, sent) => this.recordDelivery(batch, sent),
      });
      // A feed that could not learn its starting position is dropped, so the next subscriber retries.
      created.ready.catch(() => {
        if (this.feeds.get(tenantId) === created) this.feeds.delete(tenantId);
      });
      this.feeds.set(tenantId, created);
      feed = created;
    }
    return feed;
  }

  private release(subscription: StreamSubscription): void {
    const feed = this.feedOf.get(subscription);
    if (!feed) return;
    this.feedOf.delete(subscription);
    this.credentials.untrack(subscription);
    feed.members.delete(subscription);
    this.connections--;
    const remaining = (this.perTenant.get(subscription.tenantId) ?? 1) - 1;
    if (remaining > 0) this.perTenant.set(subscription.tenantId, remaining);
    else this.perTenant.delete(subscription.tenantId);
    this.metrics.streamConnections.set(this.connections);
    if (feed.members.size === 0) {
      feed.stop();
      if (this.feeds.get(subscription.tenantId) === feed) this.feeds.delete(subscription.tenantId);
    }
  }

  private recordDelivery(batch: FeedBatch, sent: number): void {
    if (sent === 0) return;
    this.metrics.streamEventsSent.inc(sent);
    const now = Date.now();
    for (const item of batch.events) this.metrics.streamLag.observe(Math.max(0, now - item.storedAt) / 1000);
  }

  private onNotify(payload: string): void {
    // Payload: `<tenant_id>:<fromSeq>:<toSeq>` (see store-events.ts).
    const [tenantId, , toSeq] = payload.split(":");
    const feed = tenantId ? this.feeds.get(tenantId) : undefined;
    if (feed && Number(toSeq) > feed.deliveredSeq) feed.catchUp();
  }
}
